//! `/admin/tokens`: look a token up, revoke a token or a whole grant (see
//! [`super::ops::tokens`]).

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ops;
use super::ops::tokens::{Revoked, TokenLookup, TokenRef};
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

/// Exactly one of `token` and `jti` (and, to revoke, `grant_id`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRefRequest {
    /// The token itself (opaque or JWT).
    pub token: Option<String>,
    /// A token's `jti` (a UUID).
    pub jti: Option<String>,
    /// A grant's id (a UUID; `grant_id` of a lookup): every refresh and
    /// access token of the grant. Only to revoke.
    pub grant_id: Option<String>,
}

impl TokenRefRequest {
    fn into_ref(self) -> Result<TokenRef, ApiError> {
        match (self.token, self.jti, self.grant_id) {
            (Some(t), None, None) => Ok(TokenRef::Token(t)),
            (None, Some(j), None) => Ok(TokenRef::Jti(j)),
            (None, None, Some(g)) => Ok(TokenRef::Grant(g)),
            _ => Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of token, jti and grant_id",
            )),
        }
    }
}

#[utoipa::path(
    tag = "admin",
    request_body = TokenRefRequest,
    responses(
        (status = 200, description = "What the server knows of the token; `found: false` when nothing", body = TokenLookup),
        (status = 400, description = "Not exactly one of token and jti, or a malformed jti", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/admin/tokens/lookup")]
#[tracing::instrument(skip_all)]
pub async fn lookup_token(
    _: AdminAuth,
    state: web::Data<AppState>,
    body: web::Json<TokenRefRequest>,
) -> Result<HttpResponse, ApiError> {
    let what = body.into_inner().into_ref()?;
    let found = ops::tokens::lookup(&state, &what).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(found))
}

#[utoipa::path(
    tag = "admin",
    request_body = TokenRefRequest,
    responses(
        (status = 200, description = "Revoked, durably, and on a cluster applied by every node as /oauth2/token/revoke is; introspection says inactive from now on", body = Revoked),
        (status = 400, description = "Not exactly one of token, jti and grant_id, or a malformed id", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such token (by value)", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/admin/tokens/revoke")]
#[tracing::instrument(skip_all)]
pub async fn revoke_token(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TokenRefRequest>,
) -> Result<HttpResponse, ApiError> {
    let who = Who::api(&req);
    let what = match body.into_inner().into_ref() {
        Ok(w) => w,
        // A malformed request is refused in the log too.
        Err(e) => {
            let detail = Some(e.message.clone());
            let refused = crate::audit::Outcome::Refused;
            crate::audit::record(&state.engine, &who, "token.revoke", None, refused, detail)
                .await?;
            return Err(e);
        }
    };
    let done = ops::tokens::revoke(&state, &who, &what).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(done))
}
