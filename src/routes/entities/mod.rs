//! The entity authentication-token API (SPEC §5):
//! `/entities/{entityId}/users/{userId}/authentication-token` (GET, POST,
//! PATCH, DELETE) and `.../refresh` (POST).
//!
//! Every call names the entity's API key (`apikey`), the acting user
//! (`userid`) and proves it with one of that user's tokens (`token`: an
//! access token, or their entity token of this entity). Missing or wrong
//! headers: `401`. A member manages their own token; an entity admin
//! manages any member's; anyone else gets `403`. A target who is not a
//! member, or has no token: `404`.

//!
//! Who may call: `auth.rs`.

mod auth;

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::clock::{parse_rfc3339, rfc3339};
use tessera_actors::grants::first_party::account_client;
use tessera_actors::tokens::{
    CreateEntityToken, EntityToken, GetEntityToken, RefreshEntityToken, RevokeEntityToken,
    UpdateEntityToken,
};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use auth::authorize;

/// An entity token without its secret.
#[derive(Serialize, ToSchema)]
pub struct EntityTokenView {
    id: uuid::Uuid,
    entity_id: uuid::Uuid,
    user_id: uuid::Uuid,
    flags: Vec<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    expires_at: String,
    /// RFC 3339; absent until first used.
    last_used_at: Option<String>,
}

impl EntityTokenView {
    fn new(t: &EntityToken) -> Self {
        EntityTokenView {
            id: t.id,
            entity_id: t.entity_id,
            user_id: t.user_id,
            flags: t.flags.clone(),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

/// A new entity token: the metadata and the secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewEntityTokenView {
    #[serde(flatten)]
    token: EntityTokenView,
    /// `tes_et_...`; only its hash is kept.
    #[serde(rename = "authenticationToken")]
    authentication_token: String,
}

/// The outcome of a revocation.
#[derive(Serialize, ToSchema)]
pub struct RevokedView {
    revoked: bool,
}

/// Create or update: both optional.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// RFC 3339, in the future, within the configured maximum.
    expiry: Option<String>,
    /// Up to 16 distinct strings of 1-64 characters of `[A-Za-z0-9._:-]`.
    flags: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The current entity token (default: the `token` header, when that
    /// is the target's entity token).
    #[serde(rename = "authenticationToken")]
    authentication_token: Option<String>,
}

/// The three headers every call carries (for the OpenAPI document; they
/// are read by [`authorize`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct EntityHeaders {
    /// An API key of the entity.
    apikey: String,
    /// The acting user's id.
    userid: String,
    /// An access token or entity token of the acting user.
    token: String,
}

/// Parse an optional JSON body; an empty body is the default.
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))
}

/// An expiry within (now, now + max].
fn parse_expiry(state: &AppState, s: &str) -> Result<i64, ApiError> {
    let now = state.engine.clock.now();
    let max = state.engine.config.accounts.entity_token_max_ttl;
    let at = parse_rfc3339(s).ok_or_else(|| {
        ApiError::bad_request("invalid_field", "expiry: not an RFC 3339 date-time")
    })?;
    if at <= now {
        return Err(ApiError::bad_request(
            "invalid_field",
            "expiry: must be in the future",
        ));
    }
    if at > now.saturating_add(max) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("expiry: at most {max} seconds ahead"),
        ));
    }
    Ok(at)
}

fn no_store(mut r: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    r.insert_header((header::CACHE_CONTROL, "no-store"));
    r
}

#[utoipa::path(tag = "entities",
    params(("entityId" = String, Path), ("userId" = String, Path), EntityHeaders),
    responses(
        (status = 200, description = "The member's entity token (never its secret)", body = EntityTokenView),
        (status = 401, description = "Missing or wrong headers", body = ErrorBody),
        (status = 403, description = "The acting user may not manage this member", body = ErrorBody),
        (status = 404, description = "No such member, or no token", body = ErrorBody),
    ))]
#[get("/entities/{entityId}/users/{userId}/authentication-token")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn get_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let a = authorize(&req, &state, &path)?;
    let t = state
        .engine
        .issuer
        .send(GetEntityToken {
            entity_id: a.entity.id,
            user_id: a.target,
        })
        .await?
        .ok_or_else(|| ApiError::not_found("the member has no entity token"))?;
    Ok(no_store(HttpResponse::Ok()).json(EntityTokenView::new(&t)))
}

#[utoipa::path(tag = "entities",
    params(("entityId" = String, Path), ("userId" = String, Path), EntityHeaders),
    request_body(content = Option<TokenSettings>, description = "Optional expiry and flags", content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = NewEntityTokenView),
        (status = 400, description = "Bad expiry or flags", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The member already has one", body = ErrorBody),
    ))]
#[post("/entities/{entityId}/users/{userId}/authentication-token")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let a = authorize(&req, &state, &path)?;
    let s: TokenSettings = optional_json(&body)?;
    let now = state.engine.clock.now();
    let expires_at = match &s.expiry {
        Some(e) => parse_expiry(&state, e)?,
        None => now.saturating_add(state.engine.config.accounts.entity_token_ttl),
    };
    let client = account_client(&state.engine).map_err(|e| ApiError::unavailable(e.description))?;
    let (t, secret_value) = state
        .engine
        .issuer
        .send(CreateEntityToken {
            entity_id: a.entity.id,
            user_id: a.target,
            client_id: client.client_id.clone(),
            expires_at,
            flags: s.flags.unwrap_or_default(),
        })
        .await??;
    Ok(no_store(HttpResponse::Created()).json(NewEntityTokenView {
        token: EntityTokenView::new(&t),
        authentication_token: secret_value,
    }))
}

#[utoipa::path(tag = "entities",
    params(("entityId" = String, Path), ("userId" = String, Path), EntityHeaders),
    request_body(content = TokenSettings, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = EntityTokenView),
        (status = 400, description = "Bad expiry or flags", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such member, or no token", body = ErrorBody),
    ))]
#[patch("/entities/{entityId}/users/{userId}/authentication-token")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn update_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let a = authorize(&req, &state, &path)?;
    let s: TokenSettings = optional_json(&body)?;
    let expires_at = s
        .expiry
        .as_deref()
        .map(|e| parse_expiry(&state, e))
        .transpose()?;
    let t = state
        .engine
        .issuer
        .send(UpdateEntityToken {
            entity_id: a.entity.id,
            user_id: a.target,
            expires_at,
            flags: s.flags,
        })
        .await??;
    Ok(no_store(HttpResponse::Ok()).json(EntityTokenView::new(&t)))
}

#[utoipa::path(tag = "entities",
    params(("entityId" = String, Path), ("userId" = String, Path), EntityHeaders),
    responses(
        (status = 200, description = "Revoked, durably, before this answer", body = RevokedView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such member, or no token", body = ErrorBody),
    ))]
#[delete("/entities/{entityId}/users/{userId}/authentication-token")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn delete_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let a = authorize(&req, &state, &path)?;
    state
        .engine
        .issuer
        .send(RevokeEntityToken {
            entity_id: a.entity.id,
            user_id: Some(a.target),
        })
        .await??;
    Ok(HttpResponse::Ok().json(RevokedView { revoked: true }))
}

#[utoipa::path(tag = "entities",
    params(("entityId" = String, Path), ("userId" = String, Path), EntityHeaders),
    request_body(content = RefreshBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A new token (shown this once); the old one is revoked", body = NewEntityTokenView),
        (status = 400, description = "authenticationToken is not the current token", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such member, or no token", body = ErrorBody),
    ))]
#[post("/entities/{entityId}/users/{userId}/authentication-token/refresh")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn refresh_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let a = authorize(&req, &state, &path)?;
    let b: RefreshBody = optional_json(&body)?;
    let presented = b.authentication_token.unwrap_or(a.token);
    let (t, secret_value) = state
        .engine
        .issuer
        .send(RefreshEntityToken {
            entity_id: a.entity.id,
            user_id: a.target,
            presented,
        })
        .await??;
    Ok(no_store(HttpResponse::Ok()).json(NewEntityTokenView {
        token: EntityTokenView::new(&t),
        authentication_token: secret_value,
    }))
}
