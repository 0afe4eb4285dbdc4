//! Who may call the entity token API: the three headers (`apikey`,
//! `userid`, `token`), then the acting user's role (SPEC §5).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use tessera_actors::directory::{Entity, Role, TouchApiKey, User, UserStatus};
use tessera_actors::secret;
use tessera_actors::tokens::TokenKind;

use crate::error::ApiError;
use crate::state::AppState;

/// Who is calling, about whom.
pub(super) struct Authorized {
    pub(super) entity: Arc<Entity>,
    pub(super) target: uuid::Uuid,
    /// The `token` header (for a refresh that does not repeat it).
    pub(super) token: String,
}

fn unauthorized(m: &str) -> ApiError {
    ApiError::unauthorized(m)
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The three headers, then the permission: `401`, `403`, `404` as SPEC §5.
pub(super) fn authorize(
    req: &HttpRequest,
    state: &AppState,
    path: &(String, String),
) -> Result<Authorized, ApiError> {
    let engine = &state.engine;
    let now = engine.clock.now();
    let (Some(apikey), Some(userid), Some(token)) = (
        header_str(req, "apikey"),
        header_str(req, "userid"),
        header_str(req, "token"),
    ) else {
        return Err(unauthorized(
            "the apikey, userid and token headers are required",
        ));
    };
    let entity_id = uuid::Uuid::parse_str(&path.0).ok();
    let key = engine
        .entities
        .api_key(apikey)
        .filter(|k| Some(k.entity_id) == entity_id)
        .ok_or_else(|| unauthorized("the API key is not one of this entity's"))?;
    let entity = engine
        .entities
        .get(&key.entity_id)
        .ok_or_else(|| unauthorized("the API key is not one of this entity's"))?;
    let acting: Arc<User> = uuid::Uuid::parse_str(userid)
        .ok()
        .and_then(|id| engine.users.get(&id))
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(|| unauthorized("userid names no active user"))?;
    let rec = engine
        .lookup(token)
        .filter(|r| r.grant.sub == acting.id.to_string() && acting.credentials_changed_at <= r.iat)
        .filter(|r| match r.kind {
            TokenKind::AccessToken => true,
            TokenKind::EntityToken => engine
                .tokens
                .entity_meta(secret::token_key(token))
                .is_some_and(|m| m.entity_id == entity.id),
            TokenKind::RefreshToken => false,
        })
        .ok_or_else(|| unauthorized("the token is not a live token of the acting user"))?;
    if rec.kind == TokenKind::EntityToken {
        engine.tokens.note_entity_use(secret::token_key(token), now);
    }
    if engine.entities.note_use(&key, now) {
        engine.directory.do_send(TouchApiKey {
            key_id: key.id,
            at: now,
        });
    }
    let role = entity
        .role_of(&acting.id)
        .ok_or_else(|| forbidden("the acting user is not a member of this entity"))?;
    let target = uuid::Uuid::parse_str(&path.1)
        .map_err(|_| ApiError::not_found("no such member of this entity"))?;
    if target != acting.id && role != Role::Admin {
        return Err(forbidden(
            "only an entity admin may manage another member's token",
        ));
    }
    if entity.role_of(&target).is_none() {
        return Err(ApiError::not_found("no such member of this entity"));
    }
    Ok(Authorized {
        entity,
        target,
        token: token.to_string(),
    })
}

fn forbidden(m: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
}
