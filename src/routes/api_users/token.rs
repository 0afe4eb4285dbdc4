//! Personal tokens (SPEC §4): `PUT /api/users/token` makes one,
//! `GET /api/users/token` lists the caller's live ones (never the secret),
//! `DELETE /api/users/token/{id}` revokes one with every access token
//! minted from it and answers the remaining list.
//!
//! A personal token is a non-rotating refresh token issued to the account
//! client; `POST /api/oauth/token` (or `/oauth2/token` as that client)
//! exchanges it for access tokens. Its scope must lie within what the
//! caller holds: a bearer caller's token scope, or, for a session cookie,
//! the user's own `scope` plus the standard `openid profile email
//! offline_access`. A wider request is `403 insufficient_scope`.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::clock::rfc3339;
use tessera_actors::domain::Scope;
use tessera_actors::grants::first_party::RECOVERY_SCOPE;
use tessera_actors::oauth::ErrorCode;
use tessera_actors::tokens::{PersonalError, PersonalToken};

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::{Caller, CallerVia};
use crate::state::AppState;

/// What a session-cookie caller may put in a personal token besides the
/// user's own `scope`.
pub const STANDARD_SCOPE: &str = "openid profile email offline_access";

/// Scopes as one space-separated string or as an array of strings.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ScopeInput {
    Joined(String),
    List(Vec<String>),
}

/// A personal token to make.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    /// Space-separated scopes (or an array of them), within the caller's.
    scope: ScopeInput,
}

/// A new personal token: the secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token's id (a UUID), for listing and deleting it.
    id: String,
    /// The secret (`tes_pat_...`): a refresh token for `POST /api/oauth/token`.
    token: String,
    scope: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    expires_at: String,
}

/// A personal token as listed: never the secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    id: String,
    scope: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    expires_at: String,
}

impl From<&PersonalToken> for TokenView {
    fn from(t: &PersonalToken) -> Self {
        TokenView {
            id: t.id.hyphenated().to_string(),
            scope: t.scope.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
        }
    }
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    r
}

/// The most a caller may put in a personal token.
fn allowed_scope(caller: &Caller) -> Result<Scope, ApiError> {
    let joined = match (caller.via, caller.scope.as_deref()) {
        (CallerVia::Bearer, Some(s)) => s.to_string(),
        _ => format!("{} {}", caller.user.scope, STANDARD_SCOPE),
    };
    let tokens = joined
        .split(' ')
        .filter(|t| !t.is_empty() && *t != RECOVERY_SCOPE);
    Scope::from_tokens(tokens).map_err(ApiError::internal)
}

fn requested_scope(input: ScopeInput) -> Result<Scope, ApiError> {
    let parsed = match input {
        ScopeInput::Joined(s) => Scope::parse(&s),
        ScopeInput::List(v) => {
            if v.iter().any(|t| t.is_empty() || t.contains(' ')) {
                return Err(ApiError::bad_request(
                    "invalid_scope",
                    "scope: each array element must be one non-empty scope",
                ));
            }
            Scope::from_tokens(v)
        }
    }
    .map_err(|e| ApiError::bad_request("invalid_scope", format!("scope: {}", e.0)))?;
    if parsed.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_scope",
            "scope: name at least one scope",
        ));
    }
    Ok(parsed)
}

async fn list(state: &AppState, caller: &Caller) -> Result<Vec<TokenView>, ApiError> {
    let tokens = state.engine.list_personal(caller.user.id).await?;
    Ok(tokens.iter().map(TokenView::from).collect())
}

#[utoipa::path(
    tag = "api_users",
    request_body(content = CreateBody, description = "JSON or form", content_type = "application/json"),
    responses(
        (status = 200, description = "The new personal token; the secret is shown once", body = CreatedToken),
        (status = 400, description = "Malformed body or scope (`invalid_body`, `invalid_scope`)", body = ErrorBody),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 403, description = "The scope exceeds the caller's (`insufficient_scope`)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 503, description = "The store could not persist it; try again", body = ErrorBody),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[put("/api/users/token")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn create_token(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: CreateBody = parse_body(&req, &body)?;
    let scope = requested_scope(b.scope)?;
    if !scope.is_subset_of(&allowed_scope(&caller)?) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "scope: a personal token may only carry scopes the caller holds",
        ));
    }
    let amr = caller
        .session
        .as_ref()
        .map(|s| s.amr.clone())
        .unwrap_or_default();
    let issued = state
        .engine
        .issue_personal(&caller.user, scope, amr)
        .await
        .map_err(|e| match e.code {
            ErrorCode::TemporarilyUnavailable => ApiError::unavailable(e.description),
            ErrorCode::InvalidGrant => {
                ApiError::new(StatusCode::FORBIDDEN, "account_inactive", e.description)
            }
            _ => ApiError::internal(e),
        })?;
    Ok(no_store().json(CreatedToken {
        id: uuid::Uuid::from_u128(issued.refresh_id)
            .hyphenated()
            .to_string(),
        token: issued.refresh_token,
        scope: issued.scope,
        created_at: rfc3339(issued.created_at),
        expires_at: rfc3339(issued.refresh_expires_at),
    }))
}

#[utoipa::path(
    tag = "api_users",
    responses(
        (status = 200, description = "The caller's live personal tokens, newest first", body = [TokenView]),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[get("/api/users/token")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn list_tokens(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_store().json(list(&state, &caller).await?))
}

#[utoipa::path(
    tag = "api_users",
    params(("id" = String, Path, description = "The personal token's id")),
    responses(
        (status = 200, description = "Revoked, with every access token minted from it; the remaining list", body = [TokenView]),
        (status = 401, description = "No valid session cookie or bearer token", body = ErrorBody),
        (status = 404, description = "Unknown, expired, already deleted, or another user's", body = ErrorBody),
        (status = 503, description = "The store could not persist it; try again", body = ErrorBody),
    ),
    security(("bearer" = []), ("session_cookie" = []))
)]
#[delete("/api/users/token/{id}")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn delete_token(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("no such personal token");
    let id = uuid::Uuid::parse_str(&path).map_err(|_| not_found())?;
    state
        .engine
        .delete_personal(caller.user.id, id)
        .await
        .map_err(|e| match e {
            PersonalError::NotFound => not_found(),
            PersonalError::Store(s) => s.into(),
            PersonalError::Mailbox(m) => m.into(),
        })?;
    Ok(no_store().json(list(&state, &caller).await?))
}
