//! `/admin/registration-tokens`: initial access tokens for dynamic client
//! registration (RFC 7591 §3) in `initial_token` mode. A token is shown
//! once; only its SHA-256 is kept, with the registrations it may still
//! make and when it expires.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::InitialToken;
use utoipa::ToSchema;

use super::ops;
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

/// What an initial access token may do.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInitialToken {
    /// Registrations it may make (default 1).
    pub uses: Option<u32>,
    /// Seconds until it expires (default 86400).
    pub expires_in: Option<i64>,
    /// A note for administrators (who it is for).
    pub note: Option<String>,
}

/// An initial access token; `token` only when it was just created.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialTokenView {
    pub id: uuid::Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub uses: u32,
    pub uses_left: u32,
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl InitialTokenView {
    pub fn new(t: &InitialToken, token: Option<String>) -> Self {
        InitialTokenView {
            id: t.id,
            token,
            uses: t.uses,
            uses_left: t.uses_left,
            created_at: t.created_at,
            expires_at: t.expires_at,
            note: t.note.clone(),
        }
    }
}

#[utoipa::path(tag = "admin", request_body = NewInitialToken, responses((status = 201, description = "Created; the token is shown this once", body = InitialTokenView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[post("/admin/registration-tokens")]
#[tracing::instrument(skip_all)]
pub async fn create_initial_token(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<NewInitialToken>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let (rec, token) = ops::registration::create(
        &state,
        &Who::api(&req),
        b.uses.unwrap_or(1),
        b.expires_in.unwrap_or(86_400),
        b.note,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(InitialTokenView::new(&rec, Some(token))))
}

#[utoipa::path(tag = "admin", responses((status = 200, description = "Every initial access token (without the tokens)", body = [InitialTokenView]), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/registration-tokens")]
#[tracing::instrument(skip_all)]
pub async fn list_initial_tokens(
    _: AdminAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let views: Vec<InitialTokenView> = ops::registration::list(&state)
        .await?
        .iter()
        .map(|t| InitialTokenView::new(t, None))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(tag = "admin", params(("id" = uuid::Uuid, Path)), responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[delete("/admin/registration-tokens/{id}")]
#[tracing::instrument(skip_all)]
pub async fn revoke_initial_token(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::registration::revoke(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
