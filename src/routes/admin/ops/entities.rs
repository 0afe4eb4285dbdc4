//! Entities (tenants), their members and their API keys.

use std::sync::Arc;

use tessera_actors::directory::{
    ApiKey, CreateApiKey, CreateEntity, DeleteEntity, Entity, RemoveMember, RevokeApiKey, Role,
    SetMember,
};

use super::parse_id;
use crate::audit::{audited, Who};
use crate::error::ApiError;
use crate::state::AppState;

pub fn get(state: &AppState, id: &str) -> Result<Arc<Entity>, ApiError> {
    state
        .engine
        .entities
        .get(&parse_id(id, "entity")?)
        .ok_or_else(|| ApiError::not_found("no such entity"))
}

pub fn list(state: &AppState) -> Vec<Arc<Entity>> {
    state.engine.entities.list()
}

pub fn api_keys(state: &AppState, id: &str) -> Result<Vec<ApiKey>, ApiError> {
    let e = get(state, id)?;
    Ok(state.engine.entities.api_keys(&e.id))
}

pub async fn create(state: &AppState, who: &Who, name: String) -> Result<Arc<Entity>, ApiError> {
    let r: Result<Arc<Entity>, ApiError> =
        async { Ok(state.engine.directory.send(CreateEntity { name }).await??) }.await;
    let target = r.as_ref().ok().map(|e| e.id.to_string());
    audited(&state.engine, who, "entity.create", target, r).await
}

/// Delete an entity with its API keys; its entity tokens are revoked.
pub async fn delete(state: &AppState, who: &Who, id: &str) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let e = get(state, id)?;
        state.engine.end_entity_tokens(e.id).await?;
        state.engine.directory.send(DeleteEntity(e.id)).await??;
        Ok(())
    }
    .await;
    audited(&state.engine, who, "entity.delete", Some(id.to_string()), r).await
}

/// Add a member or change their role.
pub async fn set_member(
    state: &AppState,
    who: &Who,
    id: &str,
    user: &str,
    role: Role,
) -> Result<Arc<Entity>, ApiError> {
    let r: Result<Arc<Entity>, ApiError> = async {
        let e = get(state, id)?;
        let user_id = parse_id(user, "user")?;
        Ok(state
            .engine
            .directory
            .send(SetMember {
                entity_id: e.id,
                user_id,
                role,
            })
            .await??)
    }
    .await;
    audited(
        &state.engine,
        who,
        "entity.member.set",
        Some(format!("{id}/{user}")),
        r,
    )
    .await
}

/// Remove a member; their entity token is revoked.
pub async fn remove_member(
    state: &AppState,
    who: &Who,
    id: &str,
    user: &str,
) -> Result<Arc<Entity>, ApiError> {
    let r: Result<Arc<Entity>, ApiError> = async {
        let e = get(state, id)?;
        let user_id = parse_id(user, "user")?;
        let e = state
            .engine
            .directory
            .send(RemoveMember {
                entity_id: e.id,
                user_id,
            })
            .await??;
        state.engine.end_member_token(e.id, user_id).await?;
        Ok(e)
    }
    .await;
    audited(
        &state.engine,
        who,
        "entity.member.remove",
        Some(format!("{id}/{user}")),
        r,
    )
    .await
}

/// A new API key of the entity, with its secret (shown once).
pub async fn create_api_key(
    state: &AppState,
    who: &Who,
    id: &str,
    name: String,
) -> Result<(Arc<ApiKey>, String), ApiError> {
    let r: Result<(Arc<ApiKey>, String), ApiError> = async {
        let e = get(state, id)?;
        Ok(state
            .engine
            .directory
            .send(CreateApiKey {
                entity_id: e.id,
                name,
            })
            .await??)
    }
    .await;
    let target = match &r {
        Ok((k, _)) => format!("{id}/{}", k.id),
        Err(_) => id.to_string(),
    };
    audited(&state.engine, who, "apikey.create", Some(target), r).await
}

/// Revoke an API key: it stops working at once.
pub async fn revoke_api_key(
    state: &AppState,
    who: &Who,
    id: &str,
    key: &str,
) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let e = get(state, id)?;
        let key_id = parse_id(key, "API key")?;
        state
            .engine
            .directory
            .send(RevokeApiKey {
                entity_id: e.id,
                key_id,
            })
            .await??;
        Ok(())
    }
    .await;
    audited(
        &state.engine,
        who,
        "apikey.revoke",
        Some(format!("{id}/{key}")),
        r,
    )
    .await
}
