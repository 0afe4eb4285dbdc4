//! Entities (tenants, SPEC §5): members with a role, and API keys. The
//! `Directory` owns them (trees `entities` and `api_keys`) and publishes a
//! view the entity API reads on every call: an API key costs one SHA-256
//! and a map lookup, like a client secret.
//!
//! API keys are 256-bit secrets (`tes_ak_...`) shown once and stored as
//! SHA-256. Their last-used time is kept in the view as it happens and
//! written to the store at most once a minute per key, so a busy key does
//! not turn every request into a disk write.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::secret::{self, prefix, SecretHash};

use super::{invalid, Directory, DirectoryError};

/// What a member may do in an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages their own entity token.
    Member,
    /// Manages every member's entity token.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub id: uuid::Uuid,
    pub name: String,
    pub members: BTreeMap<uuid::Uuid, Role>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Entity {
    pub fn role_of(&self, user: &uuid::Uuid) -> Option<Role> {
        self.members.get(user).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: uuid::Uuid,
    pub entity_id: uuid::Uuid,
    pub name: String,
    #[serde(with = "hex32")]
    pub hash: SecretHash,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Published view: entities by id, API keys by the hash of their secret.
#[derive(Default)]
pub struct EntitiesView {
    entities: DashMap<uuid::Uuid, Arc<Entity>>,
    keys: DashMap<SecretHash, Arc<ApiKey>>,
    key_hash: DashMap<uuid::Uuid, SecretHash>,
    /// Last use seen, ahead of what is stored.
    last_used: DashMap<uuid::Uuid, i64>,
}

impl EntitiesView {
    pub fn get(&self, id: &uuid::Uuid) -> Option<Arc<Entity>> {
        self.entities.get(id).map(|e| e.value().clone())
    }
    pub fn list(&self) -> Vec<Arc<Entity>> {
        let mut v: Vec<Arc<Entity>> = self.entities.iter().map(|e| e.value().clone()).collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v
    }
    pub fn len(&self) -> usize {
        self.entities.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
    /// The API key a presented secret is, if any.
    pub fn api_key(&self, presented: &str) -> Option<Arc<ApiKey>> {
        if !presented.starts_with(prefix::API_KEY) {
            return None;
        }
        let hash = secret::sha256(presented.as_bytes());
        self.keys.get(&hash).map(|k| k.value().clone())
    }
    /// The API keys of an entity, oldest first, with their latest use.
    pub fn api_keys(&self, entity: &uuid::Uuid) -> Vec<ApiKey> {
        let mut v: Vec<ApiKey> = self
            .keys
            .iter()
            .filter(|k| k.entity_id == *entity)
            .map(|k| {
                let mut k = (**k.value()).clone();
                k.last_used_at = self.last_used(&k);
                k
            })
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v
    }
    fn last_used(&self, k: &ApiKey) -> Option<i64> {
        let seen = self.last_used.get(&k.id).map(|t| *t);
        seen.max(k.last_used_at)
    }
    /// Note a use of `key` at `now`; answers whether the stored time is a
    /// minute or more behind (and so worth writing).
    pub fn note_use(&self, key: &ApiKey, now: i64) -> bool {
        self.last_used.insert(key.id, now);
        key.last_used_at.is_none_or(|t| now - t >= 60)
    }
    pub(super) fn clear(&self) {
        self.entities.clear();
        self.keys.clear();
        self.key_hash.clear();
    }
    pub(super) fn publish_entity(&self, e: Arc<Entity>) {
        self.entities.insert(e.id, e);
    }
    pub(super) fn unpublish_entity(&self, id: &uuid::Uuid) {
        self.entities.remove(id);
        let keys: Vec<uuid::Uuid> = self
            .keys
            .iter()
            .filter(|k| k.entity_id == *id)
            .map(|k| k.id)
            .collect();
        for k in keys {
            self.unpublish_key(&k);
        }
    }
    pub(super) fn publish_key(&self, k: Arc<ApiKey>) {
        self.key_hash.insert(k.id, k.hash);
        self.keys.insert(k.hash, k);
    }
    pub(super) fn unpublish_key(&self, id: &uuid::Uuid) {
        if let Some((_, h)) = self.key_hash.remove(id) {
            self.keys.remove(&h);
        }
        self.last_used.remove(id);
    }
}

fn check_name(name: &str) -> Result<(), DirectoryError> {
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("name", "1-200 printable characters"));
    }
    Ok(())
}

#[derive(Message)]
#[rtype(result = "Result<Arc<Entity>, DirectoryError>")]
pub struct CreateEntity {
    pub name: String,
}

/// Delete an entity with its API keys (its entity tokens are revoked by
/// the caller through `TokenIssuer`).
#[derive(Message)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct DeleteEntity(pub uuid::Uuid);

/// Add a member or change their role.
#[derive(Message)]
#[rtype(result = "Result<Arc<Entity>, DirectoryError>")]
pub struct SetMember {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub role: Role,
}

#[derive(Message)]
#[rtype(result = "Result<Arc<Entity>, DirectoryError>")]
pub struct RemoveMember {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
}

/// A new API key; answers it with its secret, shown this once.
#[derive(Message)]
#[rtype(result = "Result<(Arc<ApiKey>, String), DirectoryError>")]
pub struct CreateApiKey {
    pub entity_id: uuid::Uuid,
    pub name: String,
}

#[derive(Message)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct RevokeApiKey {
    pub entity_id: uuid::Uuid,
    pub key_id: uuid::Uuid,
}

/// Persist an API key's last use (sent at most once a minute per key).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TouchApiKey {
    pub key_id: uuid::Uuid,
    pub at: i64,
}

impl Directory {
    fn update_entity(
        &mut self,
        id: uuid::Uuid,
        f: impl FnOnce(&mut Entity, &super::UsersView) -> Result<(), DirectoryError>,
    ) -> AtomicResponse<Self, Result<Arc<Entity>, DirectoryError>> {
        let write = (|| {
            let mut e = (*self.entities.get(&id).ok_or(DirectoryError::NoSuchEntity)?).clone();
            f(&mut e, &self.users)?;
            e.updated_at = self.clock.now();
            self.store.put_entity(&e)?;
            Ok(Arc::new(e))
        })();
        let view = self.entities.clone();
        AtomicResponse::new(self.commit(write, move |_, _, e: &Arc<Entity>| {
            view.publish_entity(e.clone())
        }))
    }
}

impl Handler<CreateEntity> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<Entity>, DirectoryError>>;
    fn handle(&mut self, msg: CreateEntity, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            check_name(&msg.name)?;
            let now = self.clock.now();
            let e = Entity {
                id: uuid::Uuid::new_v4(),
                name: msg.name.trim().to_string(),
                members: BTreeMap::new(),
                created_at: now,
                updated_at: now,
            };
            self.store.put_entity(&e)?;
            Ok(Arc::new(e))
        })();
        let view = self.entities.clone();
        AtomicResponse::new(self.commit(write, move |_, _, e: &Arc<Entity>| {
            view.publish_entity(e.clone());
            metrics::gauge!("tessera_entities").set(view.len() as f64);
        }))
    }
}

impl Handler<DeleteEntity> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: DeleteEntity, _: &mut Self::Context) -> Self::Result {
        let id = msg.0;
        let write = (|| {
            if !self.store.delete_entity(&id)? {
                return Err(DirectoryError::NoSuchEntity);
            }
            for k in self.entities.api_keys(&id) {
                self.store.delete_api_key(&k.id)?;
            }
            Ok(id)
        })();
        let view = self.entities.clone();
        let r = self.commit(write, move |_, _, id: &uuid::Uuid| {
            view.unpublish_entity(id);
            metrics::gauge!("tessera_entities").set(view.len() as f64);
        });
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|_| ()))))
    }
}

impl Handler<SetMember> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<Entity>, DirectoryError>>;
    fn handle(&mut self, msg: SetMember, _: &mut Self::Context) -> Self::Result {
        self.update_entity(msg.entity_id, move |e, users| {
            if users.get(&msg.user_id).is_none() {
                return Err(DirectoryError::NoSuchUser);
            }
            e.members.insert(msg.user_id, msg.role);
            Ok(())
        })
    }
}

impl Handler<RemoveMember> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<Entity>, DirectoryError>>;
    fn handle(&mut self, msg: RemoveMember, _: &mut Self::Context) -> Self::Result {
        self.update_entity(msg.entity_id, move |e, _| {
            e.members
                .remove(&msg.user_id)
                .map(|_| ())
                .ok_or(DirectoryError::NoSuchUser)
        })
    }
}

impl Handler<CreateApiKey> for Directory {
    type Result = AtomicResponse<Self, Result<(Arc<ApiKey>, String), DirectoryError>>;
    fn handle(&mut self, msg: CreateApiKey, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            check_name(&msg.name)?;
            if self.entities.get(&msg.entity_id).is_none() {
                return Err(DirectoryError::NoSuchEntity);
            }
            let secret_value = secret::new_secret(prefix::API_KEY);
            let k = ApiKey {
                id: uuid::Uuid::new_v4(),
                entity_id: msg.entity_id,
                name: msg.name.trim().to_string(),
                hash: secret::sha256(secret_value.as_bytes()),
                created_at: self.clock.now(),
                last_used_at: None,
            };
            self.store.put_api_key(&k)?;
            Ok((Arc::new(k), secret_value))
        })();
        let view = self.entities.clone();
        AtomicResponse::new(
            self.commit(write, move |_, _, (k, _): &(Arc<ApiKey>, String)| {
                view.publish_key(k.clone())
            }),
        )
    }
}

impl Handler<RevokeApiKey> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: RevokeApiKey, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let owned = self
                .entities
                .api_keys(&msg.entity_id)
                .into_iter()
                .any(|k| k.id == msg.key_id);
            if !owned {
                return Err(DirectoryError::NoSuchApiKey);
            }
            self.store.delete_api_key(&msg.key_id)?;
            Ok(msg.key_id)
        })();
        let view = self.entities.clone();
        let r = self.commit(write, move |_, _, id: &uuid::Uuid| view.unpublish_key(id));
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|_| ()))))
    }
}

impl Handler<TouchApiKey> for Directory {
    type Result = ();
    fn handle(&mut self, msg: TouchApiKey, _: &mut Self::Context) {
        let Some(hash) = self.entities.key_hash.get(&msg.key_id).map(|h| *h) else {
            return;
        };
        let Some(k) = self.entities.keys.get(&hash).map(|k| k.value().clone()) else {
            return;
        };
        if k.last_used_at.is_some_and(|t| t >= msg.at) {
            return;
        }
        let mut k = (*k).clone();
        k.last_used_at = Some(msg.at);
        // Not awaited for durability: a lost last-used time is harmless.
        match self.store.touch_api_key(&k) {
            Ok(_) => self.entities.publish_key(Arc::new(k)),
            Err(e) => tracing::warn!(error = %e, "could not record an API key's last use"),
        }
    }
}

/// Hex for a 32-byte hash in the stored record.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(64);
        for b in v {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(serde::de::Error::custom("a 32-byte hash is 64 hex digits"));
        }
        for (i, o) in out.iter_mut().enumerate() {
            let byte = s
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| serde::de::Error::custom("not hex"))?;
            *o = byte;
        }
        Ok(out)
    }
}
