//! `GET /sessions`: the caller's sessions, newest first.

use actix_web::{get, web, HttpResponse};

use super::{json, ok, usable, SessionJson};
use crate::error::ErrorBody;
use crate::extract::Caller;
use crate::state::AppState;

#[utoipa::path(
    tag = "sessions",
    responses(
        (status = 200, description = "The caller's live sessions, newest first; `current` marks the request's own", body = [SessionJson]),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[get("/sessions")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn list_sessions(caller: Caller, state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<SessionJson> = state
        .engine
        .sessions
        .of_user(&caller.user.id)
        .iter()
        .filter(|s| usable(&state, s, &caller.user))
        .map(|s| json(&caller, s))
        .collect();
    ok().json(list)
}
