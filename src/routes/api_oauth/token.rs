//! `POST /api/oauth/token` (SPEC §4): a fresh access token for a refresh
//! token of a public client, named by `client_id` — the account client for
//! personal tokens and the tokens registration hands out. It is the
//! `/oauth2/token` refresh grant without client authentication, so a
//! confidential client's refresh token is refused here (it must
//! authenticate at `/oauth2/token`).
//!
//! Families that rotate (registration's tokens, public clients') answer
//! their replacement; personal tokens do not rotate and answer the same
//! refresh token. Errors are this API's `{"error","message"}` with the RFC
//! 6749 §5.2 code as `error` (`invalid_grant`, `invalid_client`,
//! `unsupported_grant_type`), all `400` except `503` when the store could
//! not persist.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use tessera_actors::clock::rfc3339;
use tessera_actors::grants;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::dpop;
use crate::state::AppState;

/// JSON or form; camelCase names (`clientId`, `refreshToken`, `grantType`) are accepted too.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenBody {
    /// The public client the refresh token was issued to (`tessera-account` for personal tokens).
    #[serde(alias = "clientId")]
    client_id: String,
    #[serde(alias = "refreshToken")]
    refresh_token: String,
    /// Always `refresh_token`.
    #[serde(alias = "grantType")]
    grant_type: String,
}

/// A fresh access token.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    access_token: String,
    /// The refresh token to use next: the same one unless the family rotates.
    refresh_token: String,
    /// RFC 3339 UTC instant at which the access token expires.
    expire_at: String,
    /// Always `Bearer`.
    token_type: String,
}

fn required<'a>(name: &str, v: &'a str) -> Result<&'a str, ApiError> {
    if v.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("{name}: required"),
        ));
    }
    Ok(v)
}

#[utoipa::path(
    tag = "api_oauth",
    request_body(content = TokenBody, description = "JSON or form", content_type = "application/json"),
    responses(
        (status = 200, description = "A fresh access token", body = TokenAnswer),
        (status = 400, description = "`invalid_body` (naming the field), `unsupported_grant_type`, `invalid_client` (unknown or confidential client), `invalid_grant` (unknown, expired or revoked refresh token, or another client's)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 503, description = "The store could not persist the exchange; try again", body = ErrorBody),
    )
)]
#[post("/api/oauth/token")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn token(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let mut nonces = dpop::nonce_required(&state, None);
    let r = match refresh(&req, &state, &body, &mut nonces).await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    };
    dpop::with_nonce(r, &state, nonces)
}

async fn refresh(
    req: &HttpRequest,
    state: &AppState,
    body: &web::Bytes,
    nonces: &mut bool,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    let b: TokenBody = parse_body(req, body)?;
    let grant_type = required("grant_type", &b.grant_type)?;
    let client_id = required("client_id", &b.client_id)?;
    let refresh_token = required("refresh_token", &b.refresh_token)?;
    tracing::Span::current().record("client_id", client_id);
    if grant_type != "refresh_token" {
        return Err(ApiError::bad_request(
            "unsupported_grant_type",
            "grant_type: only refresh_token is supported here",
        ));
    }
    let client = engine
        .clients
        .get(client_id)
        .ok_or_else(|| ApiError::bad_request("invalid_client", "client_id: no such client"))?;
    if !client.is_public() {
        return Err(ApiError::bad_request(
            "invalid_client",
            "client_id: a confidential client must authenticate at /oauth2/token",
        ));
    }
    *nonces = dpop::nonce_required(state, Some(&client));
    let jkt = dpop::token_binding(req, state, &client).await?;
    let now = engine.clock.now();
    let answer =
        grants::refresh_token::refresh(engine, &client, refresh_token, None, jkt, None, &[])
            .await?;
    let next = answer
        .refresh_token
        .unwrap_or_else(|| refresh_token.to_string());
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenAnswer {
            access_token: answer.access_token,
            refresh_token: next,
            expire_at: rfc3339(now.saturating_add(answer.expires_in)),
            token_type: answer.token_type.into(),
        }))
}
