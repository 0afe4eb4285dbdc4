//! `POST /api/oauth/revoke` (SPEC §4): revoke one of the caller's refresh
//! tokens and every access token minted from it. The body names it
//! (`{refresh_token}`, JSON or form); with no body (or no
//! `refresh_token`), it is the grant the bearer access token itself was
//! minted from. Unknown tokens and other users' answer the same `404`.
//! The answer is sent only once the revocation is durable and visible to
//! every introspection.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::tokens::TokenKind;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::{Caller, CallerVia};
use crate::state::AppState;

/// Optional: without it, the bearer token's own grant is revoked.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RevokeBody {
    /// A refresh token (or personal token) of the caller.
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
}

/// Done.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    message: String,
}

#[utoipa::path(
    tag = "api_oauth",
    request_body(content = Option<RevokeBody>, description = "JSON or form; optional", content_type = "application/json"),
    responses(
        (status = 200, description = "The refresh token and every access token minted from it are revoked", body = Revoked),
        (status = 400, description = "Malformed body, or no `refresh_token` from a session-cookie caller", body = ErrorBody),
        (status = 401, description = "No valid bearer token or session cookie", body = ErrorBody),
        (status = 404, description = "Unknown, expired or already revoked, another user's, or (without a body) a bearer token minted from no refresh token", body = ErrorBody),
        (status = 503, description = "The store could not persist the revocation; try again", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/api/oauth/revoke")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn revoke(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let named = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_body::<RevokeBody>(&req, &body)?
            .refresh_token
            .filter(|t| !t.is_empty())
    };
    let rec = match named {
        Some(token) => {
            let sub = caller.user.id.to_string();
            engine
                .lookup(&token)
                .filter(|r| r.kind == TokenKind::RefreshToken && r.grant.sub == sub)
                .ok_or_else(|| ApiError::not_found("no such refresh token"))?
        }
        None => {
            if caller.via != CallerVia::Bearer {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "refresh_token: required unless the caller is a bearer token",
                ));
            }
            // The extractor accepted this very token a moment ago.
            let rec = caller
                .token
                .clone()
                .ok_or_else(|| ApiError::unauthorized("the bearer token is no longer active"))?;
            if rec.family == 0 {
                return Err(ApiError::not_found(
                    "the bearer token was not minted from a refresh token",
                ));
            }
            rec
        }
    };
    engine.revoke_with_family(&rec).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Revoked {
            message: "the refresh token and every access token minted from it are revoked".into(),
        }))
}
