//! What every page is served with: the security headers, the policy, and
//! a plain fallback when rendering fails.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::csp::{CSP, FORM_CSP};

/// A page of its own (registration, account, ...): any askama view,
/// served with the headers and policy of every page.
pub fn page<T: Template>(status: StatusCode, view: &T) -> HttpResponse {
    respond(status, FORM_CSP, view.render())
}

/// Wraps rendered HTML with the headers every page carries.
pub(super) fn respond(
    status: StatusCode,
    csp: &'static str,
    html: askama::Result<String>,
) -> HttpResponse {
    match html {
        Ok(body) => with_headers(status, csp).body(body),
        Err(e) => {
            // Templates are checked at compile time; a render error means a
            // formatter failed, which is a bug, not a user error.
            tracing::error!(error = %e, "rendering a page failed");
            with_headers(StatusCode::INTERNAL_SERVER_ERROR, CSP).body(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Server error</title></head><body><h1>Server error</h1>\
                 <p>Something went wrong. Please try again.</p></body></html>",
            )
        }
    }
}

pub(super) fn with_headers(
    status: StatusCode,
    csp: &'static str,
) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::build(status);
    r.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    ))
    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
    .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
    .insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    ))
    .insert_header((
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .insert_header((
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ));
    r
}
