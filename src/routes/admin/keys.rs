//! `/admin/keys`: the signing keys and their rotation (see
//! [`super::ops::keys`]).

use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::ops;
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

#[utoipa::path(tag = "admin", responses((status = 200, description = "The key set, newest first (no private parts); each key's `state` is `current` (signs), `next` (published, signs after the next rotation) or `retired` (verifies until `expires_at`)", body = serde_json::Value), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/keys")]
#[tracing::instrument(skip_all)]
pub async fn list_keys(_: AdminAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ops::keys::list(&state).await?))
}

#[utoipa::path(tag = "admin", responses((status = 200, description = "Rotated: next became current, a new next was published", body = serde_json::Value), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)), security(("admin_token" = [])))]
#[post("/admin/keys/rotate")]
#[tracing::instrument(skip_all)]
pub async fn rotate_keys(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let keys = ops::keys::rotate(&state, &Who::api(&req)).await?;
    Ok(HttpResponse::Ok().json(keys))
}
