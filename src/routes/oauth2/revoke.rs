//! `POST /oauth2/token/revoke` (RFC 7009). The `200` is sent only after the
//! revocation is durable and visible to every introspection.

use actix_web::{post, web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

use crate::error::{OAuthErrorBody, OAuthHttpError};
use crate::extract::{authenticate_client, OAuthForm};
use crate::state::AppState;

/// Revocation request (form).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RevocationRequest {
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[utoipa::path(
    tag = "oauth2",
    request_body(content = RevocationRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or unknown (RFC 7009 §2.2)"),
        (status = 400, description = "Missing token", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 503, description = "The revocation could not be made durable; nothing was acknowledged", body = OAuthErrorBody),
    ),
    security(("client_secret_basic" = []), ("client_secret_post" = []))
)]
#[post("/oauth2/token/revoke")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn revoke(
    req: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthHttpError> {
    let engine = &state.engine;
    let auth = authenticate_client(&req, &form, &state, "/oauth2/token/revoke").await?;
    tracing::Span::current().record("client_id", auth.client.client_id.as_str());
    let token = form.require("token")?;
    engine.revoke(&auth.client, token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}
