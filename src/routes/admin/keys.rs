use actix_web::{get, post, web, HttpResponse};
use tessera_actors::keys::{ListKeys, Rotate};

use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

#[utoipa::path(tag = "admin", responses((status = 200, description = "The key set, newest first (no private parts)", body = serde_json::Value), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/keys")]
#[tracing::instrument(skip_all)]
pub async fn list_keys(_: AdminAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let keys = state.engine.key_rotator.send(ListKeys).await?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(tag = "admin", responses((status = 200, description = "Rotated: next became current, a new next was published", body = serde_json::Value), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)), security(("admin_token" = [])))]
#[post("/admin/keys/rotate")]
#[tracing::instrument(skip_all)]
pub async fn rotate_keys(
    _: AdminAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let keys = state
        .engine
        .key_rotator
        .send(Rotate)
        .await?
        .map_err(|e| ApiError::unavailable(format!("rotation failed: {e}")))?;
    Ok(HttpResponse::Ok().json(keys))
}
