//! `/sessions/session/{id}`: one of the caller's sessions by its public id.
//! Unknown, malformed, ended and other users' ids all answer the same `404`.

use std::sync::Arc;

use actix_web::{delete, get, web, HttpResponse};
use serde_json::json;
use tessera_actors::sessions::{Close, Session};

use super::{json, ok, usable, SessionJson};
use crate::error::{ApiError, ErrorBody};
use crate::extract::session::removal_cookie;
use crate::extract::{Caller, CallerVia};
use crate::state::AppState;

/// The caller's live session named by `id`.
fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Arc<Session>, ApiError> {
    uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| state.engine.sessions.get(&id))
        .filter(|s| usable(state, s, &caller.user))
        .ok_or_else(|| ApiError::not_found("no such session"))
}

#[utoipa::path(
    tag = "sessions",
    params(("id" = String, Path, description = "The session's public id")),
    responses(
        (status = 200, description = "One of the caller's sessions", body = SessionJson),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "Unknown, ended, or another user's", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[get("/sessions/session/{id}")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn get_session(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = owned(&state, &caller, &path)?;
    Ok(ok().json(json(&caller, &s)))
}

#[utoipa::path(
    tag = "sessions",
    params(("id" = String, Path, description = "The session's public id")),
    responses(
        (status = 200, description = "Ended (the cookie is removed when it was the request's own)"),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "Unknown, ended, or another user's", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[delete("/sessions/session/{id}")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn delete_session(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = owned(&state, &caller, &path)?;
    state.engine.session_registry.send(Close(s.id)).await??;
    let own = caller.session.as_ref().is_some_and(|c| c.id == s.id);
    let mut r = ok();
    if own && caller.via == CallerVia::Cookie {
        r.cookie(removal_cookie(&state));
    }
    Ok(r.json(json!({"message": "the session is closed"})))
}
