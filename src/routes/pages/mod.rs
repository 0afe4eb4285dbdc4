//! Browser pages of the account flows: registration and its mailed code,
//! password-reset request, the e-mail-verified landing page, and the
//! signed-in account page with TOTP enrolment.
//!
//! Each handler parses the form, calls the same function the JSON API
//! uses, and draws the answer with `crate::views`. Forms of signed-out
//! pages carry the double-submit CSRF token of the login page (cookie under
//! `/auth`); forms of signed-in pages carry the session-bound token of the
//! consent page. A wrong token is a `403` and nothing is done. Redirects
//! after a POST are `303`.

pub mod account;
pub mod register;
pub mod reset;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;

/// `303 See Other` to a local path.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A body that cannot be read: the JSON error every API answers, or for a
/// browser navigation (`Accept: text/html`) the same error as a page.
pub fn body_error(req: &HttpRequest, e: &ApiError) -> HttpResponse {
    if crate::browser::wants_html(req) {
        crate::views::api_error(e)
    } else {
        actix_web::ResponseError::error_response(e)
    }
}

/// Copy `Retry-After` of an API error onto a page that shows it.
pub fn retry_after(mut r: HttpResponse, e: &ApiError) -> HttpResponse {
    if let Some(secs) = e.retry_after {
        if let Ok(v) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// A human sentence for an API error shown above a form.
pub fn sentence(e: &ApiError) -> String {
    let mut m = e.message.clone();
    if let Some(first) = m.get(..1) {
        let upper = first.to_uppercase();
        m.replace_range(..1, &upper);
    }
    if !m.ends_with('.') {
        m.push('.');
    }
    m
}

#[cfg(test)]
mod tests {
    use super::sentence;
    use crate::error::ApiError;

    #[test]
    fn sentences() {
        let e = ApiError::bad_request("invalid_field", "email: not valid");
        assert_eq!(sentence(&e), "Email: not valid.");
        let e = ApiError::bad_request("x", "");
        assert_eq!(sentence(&e), ".");
    }
}
