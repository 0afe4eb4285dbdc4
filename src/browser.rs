//! What the browser-facing routes share: whether a request is a browser
//! navigation, where it may return to, the CSP targets of a form that
//! continues an authorization, opening a login session, and the small
//! answers pages give (`303`, an error as a page, `Retry-After`, a sentence).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use tessera_actors::directory::User;
use tessera_actors::sessions::{Open, Session};

use crate::error::ApiError;
use crate::extract::session::{client_ip, cookie_secret};
use crate::state::AppState;

/// Whether the request is a browser navigation (it accepts HTML).
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A `return_to` that stays on this server: a path, never `//host` or
/// `/\host` (open-redirect tricks), no control characters.
pub fn safe_return_to(r: Option<&str>) -> Option<&str> {
    r.filter(|r| {
        r.starts_with('/')
            && !r.starts_with("//")
            && !r.starts_with("/\\")
            && r.len() <= 4096
            && !r.chars().any(|c| c.is_control() || c == '\\')
    })
}

/// The CSP sources a form continuing to `return_to` may end on: for an
/// authorization request of a known client, its redirect URI's origin (the
/// login or TOTP form redirects there when no consent is needed).
pub fn return_to_form_targets(state: &AppState, return_to: Option<&str>) -> Vec<String> {
    let Some(query) = return_to.and_then(|r| r.strip_prefix("/oauth2/authorize?")) else {
        return Vec::new();
    };
    let mut client_id = None;
    let mut redirect_uri = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "client_id" => client_id = Some(v.into_owned()),
            "redirect_uri" => redirect_uri = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(client) = client_id.and_then(|c| state.engine.clients.get(&c)) else {
        return Vec::new();
    };
    let uri = match redirect_uri {
        Some(r) => tessera_actors::domain::find_redirect(&client.redirect_uris, &r).map(|_| r),
        None => match client.redirect_uris.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        },
    };
    uri.and_then(|u| crate::views::csp_source(&u))
        .into_iter()
        .collect()
}

/// A new session (new id every login: fixation), pending when a second
/// factor (TOTP or a passkey) follows.
pub async fn open_session(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    app: Option<String>,
) -> Result<(Arc<Session>, String), ApiError> {
    open_session_with(req, state, user, app, "pwd").await
}

/// [`open_session`] for a login proven by `amr` (`pwd`, or `fed` for an
/// upstream provider); pending when the user has TOTP.
pub async fn open_session_with(
    req: &HttpRequest,
    state: &AppState,
    user: &User,
    app: Option<String>,
    amr: &str,
) -> Result<(Arc<Session>, String), ApiError> {
    let replaces = cookie_secret(req, state)
        .and_then(|c| state.engine.sessions.by_cookie(&c))
        .map(|s| s.id);
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let open = Open {
        user_id: user.id,
        amr: vec![amr.into()],
        ip: client_ip(req),
        user_agent: state.ua.parse(ua),
        application_id: app,
        pending_mfa: user.has_second_factor(),
        replaces,
    };
    state
        .engine
        .session_registry
        .send(open)
        .await?
        .map_err(ApiError::internal)
}

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
    if wants_html(req) {
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
    use super::{safe_return_to, sentence};
    use crate::error::ApiError;

    #[test]
    fn return_to_stays_local() {
        assert_eq!(
            safe_return_to(Some("/oauth2/authorize?x=1")),
            Some("/oauth2/authorize?x=1")
        );
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "https://evil.com",
            "evil",
            "/a\nb",
            "/a\\b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn sentences() {
        let e = ApiError::bad_request("invalid_field", "email: not valid");
        assert_eq!(sentence(&e), "Email: not valid.");
        let e = ApiError::bad_request("x", "");
        assert_eq!(sentence(&e), ".");
    }
}
