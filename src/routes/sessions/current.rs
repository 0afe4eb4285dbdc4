//! `/sessions/session`: the current session — read it, end it, extend it,
//! rotate its id.

use actix_web::http::StatusCode;
use actix_web::{delete, get, web, HttpResponse};
use serde_json::json;
use tessera_actors::sessions::{Close, Extend, Rotate};

use super::{current, json, ok, SessionJson};
use crate::error::{ApiError, ErrorBody};
use crate::extract::session::{removal_cookie, session_cookie};
use crate::extract::{Caller, CallerVia};
use crate::state::AppState;

#[utoipa::path(
    tag = "sessions",
    responses(
        (status = 200, description = "The current session", body = SessionJson),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "The request has no live current session (a bearer token whose session ended)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[get("/sessions/session")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn get_current(caller: Caller) -> Result<HttpResponse, ApiError> {
    let s = current(&caller)?;
    Ok(ok().json(json(&caller, &s)))
}

#[utoipa::path(
    tag = "sessions",
    responses(
        (status = 200, description = "Ended; a cookie caller's cookie is removed"),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "No live current session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[delete("/sessions/session")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn delete_current(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = current(&caller)?;
    state.engine.session_registry.send(Close(s.id)).await??;
    let mut r = ok();
    if caller.via == CallerVia::Cookie {
        r.cookie(removal_cookie(&state));
    }
    Ok(r.json(json!({"message": "the session is closed"})))
}

#[utoipa::path(
    tag = "sessions",
    responses(
        (status = 200, description = "Extended by the idle timeout, bounded by the absolute lifetime", body = SessionJson),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "No live current session", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[get("/sessions/session/extend")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn extend_current(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = current(&caller)?;
    let s = state.engine.session_registry.send(Extend(s.id)).await??;
    Ok(ok().json(json(&caller, &s)))
}

/// Rotation hands out a new session secret, so only the cookie's holder
/// may ask for it: a bearer token (perhaps a third-party client's) must not
/// be able to turn itself into a browser session, nor log the browser out.
#[utoipa::path(
    tag = "sessions",
    responses(
        (status = 200, description = "A new id and cookie for the same session; the old cookie is dead", body = SessionJson),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 403, description = "Called with a bearer token: rotation needs the session cookie", body = ErrorBody),
        (status = 404, description = "No live current session", body = ErrorBody),
    ),
    security(("session_cookie" = []))
)]
#[get("/sessions/session/refresh")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn refresh_current(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = current(&caller)?;
    if caller.via != CallerVia::Cookie {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "rotating a session requires its cookie, not a bearer token",
        ));
    }
    let (s, secret) = state.engine.session_registry.send(Rotate(s.id)).await??;
    let body = super::SessionJson::new(&s, &caller.user, true);
    Ok(ok().cookie(session_cookie(&state, &secret, &s)).json(body))
}
