//! `PUT /sessions/bucket`: merge a JSON object into the current session's
//! bucket. Top-level keys replace, `null` removes a key; the patch and the
//! merged bucket each hold at most 16 KiB of (compact) JSON.

use actix_web::{put, web, HttpResponse};
use tessera_actors::sessions::{MergeBucket, MAX_BUCKET_BYTES};

use super::{current, json, ok, SessionJson};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Caller;
use crate::state::AppState;

#[utoipa::path(
    tag = "sessions",
    request_body(content = Object, description = "Keys to set (`null` removes one)", content_type = "application/json"),
    responses(
        (status = 200, description = "The session with its merged bucket", body = SessionJson),
        (status = 400, description = "Not a JSON object", body = ErrorBody),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "No live current session", body = ErrorBody),
        (status = 413, description = "The patch or the merged bucket exceeds 16 KiB", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
#[put("/sessions/bucket")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn put_bucket(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let s = current(&caller)?;
    let serde_json::Value::Object(patch) = body.into_inner() else {
        return Err(ApiError::bad_request(
            "invalid_body",
            "body: the bucket must be a JSON object",
        ));
    };
    if serde_json::to_vec(&patch).map_or(usize::MAX, |b| b.len()) > MAX_BUCKET_BYTES {
        return Err(ApiError::bucket_too_large());
    }
    let s = state
        .engine
        .session_registry
        .send(MergeBucket { id: s.id, patch })
        .await??;
    Ok(ok().json(json(&caller, &s)))
}
