//! `/sessions/*` (SPEC §3): a user's browser sessions. The caller is the
//! session cookie's user or a bearer access token's; the "current" session
//! is the cookie's, or the one the token's grant came from while it lives.
//!
//! - [`list`] — `GET /sessions`.
//! - [`current`] — `/sessions/session`: read, end, extend, rotate.
//! - [`by_id`] — `/sessions/session/{id}`: one of the caller's sessions.
//! - [`bucket`] — `PUT /sessions/bucket`.
//! - [`view`] — the JSON shape of a session.
//!
//! Reads come from the `SessionRegistry`'s published view; every change is
//! one message to it. (Activity is recorded by the `Caller` extractor.) Another user's session is answered exactly like an
//! unknown id (`404`), so ids cannot be probed.

pub mod bucket;
pub mod by_id;
pub mod current;
pub mod list;
pub mod view;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use tessera_actors::directory::User;
use tessera_actors::sessions::{Session, SessionState};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;
pub use view::SessionJson;

/// Whether `s` still authenticates `user` now: live, past its second
/// factor, and opened after the last password change (the same test the
/// `Caller` extractor applies to the cookie's session).
pub(crate) fn usable(state: &AppState, s: &Session, user: &User) -> bool {
    s.user_id == user.id
        && s.state == SessionState::Active
        && s.is_live(state.engine.clock.now())
        && user.credentials_changed_at <= s.created_at
}

/// The caller's current session, or `404` (a bearer token whose session
/// has ended, or that came from no session at all).
pub(crate) fn current(caller: &Caller) -> Result<Arc<Session>, ApiError> {
    caller
        .session
        .clone()
        .ok_or_else(|| ApiError::not_found("the request has no current session"))
}

/// A success answer; session data is personal, so nothing may cache it.
pub(crate) fn ok() -> HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    r
}

pub(crate) fn json(caller: &Caller, s: &Session) -> SessionJson {
    let current = caller.session.as_ref().is_some_and(|c| c.id == s.id);
    SessionJson::new(s, &caller.user, current)
}
