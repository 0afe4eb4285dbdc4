//! CSRF protection of browser forms, in one place.
//!
//! - Forms shown before a session exists (login, TOTP, registration,
//!   password reset) use a double-submit cookie: [`new_csrf_cookie`] sets a
//!   random token on the page, [`csrf_ok`] checks the form's copy.
//! - Forms shown inside a session (consent, account, logout) carry a token
//!   derived from the session: [`session_csrf`], checked by
//!   [`session_csrf_ok`].

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use tessera_actors::secret;
use tessera_actors::sessions::Session;

use crate::state::AppState;

const CSRF_COOKIE: &str = "tessera_login_csrf";

pub fn new_csrf_cookie(state: &AppState) -> (String, Cookie<'static>) {
    let token = secret::b64url(&secret::random_bytes::<32>());
    let c = Cookie::build(CSRF_COOKIE, token.clone())
        .path("/auth")
        .http_only(true)
        .secure(!state.insecure_cookies)
        .same_site(SameSite::Strict)
        .finish();
    (token, c)
}

/// Double-submit check for browser form posts: the form's `csrf` must equal
/// the cookie set with the page (a cross-site form cannot read it).
pub fn csrf_ok(req: &HttpRequest, presented: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), presented) {
        (Some(c), Some(p)) => {
            !p.is_empty()
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    c.value().as_bytes(),
                    p.as_bytes(),
                ))
        }
        _ => false,
    }
}

/// The CSRF token of forms shown inside a session: derived from the
/// session's secret hash, so only a page served to that browser knows it.
pub fn session_csrf(s: &Session) -> String {
    let mut input = b"tessera-csrf".to_vec();
    input.extend_from_slice(&s.key.to_le_bytes());
    secret::b64url(&secret::sha256(&input))
}

/// Whether `presented` is the CSRF token of `session` (constant time).
pub fn session_csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            session_csrf(session).as_bytes(),
            p.as_bytes(),
        ))
    })
}
