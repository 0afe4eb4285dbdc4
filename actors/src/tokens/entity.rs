//! Entity authentication tokens (SPEC §5): one opaque token per member of
//! an entity (`tes_et_...`), with flags and an expiry the member (or an
//! entity admin) manages. `TokenIssuer` owns them (table `Entity`, keyed
//! by the token's key like every other token) and puts each in the token
//! index, so introspection and revocation treat them like any token;
//! introspection adds `entity_id` and `flags` from a side map only entity
//! tokens are in.
//!
//! Every change is durable before it is answered. Replacing a token (a
//! refresh, or a revocation) revokes the old one through the revocation
//! list first, so no introspection after the answer sees it active.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Grant, Table, TokenIssuer, TokenKind, TokenRecord};
use crate::revocation::Revoke;
use crate::secret::{self, prefix};
use crate::store::{self, StoreError};

/// How many flags a token may carry, and how long each may be.
pub const MAX_FLAGS: usize = 16;
pub const MAX_FLAG_LEN: usize = 64;

/// An entity token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityToken {
    pub id: uuid::Uuid,
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub flags: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    /// The client the token's grant is recorded under (the account client).
    pub client_id: String,
}

/// What introspection adds for an entity token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMeta {
    pub entity_id: uuid::Uuid,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityTokenError {
    #[error("the member already has an entity token")]
    Exists,
    #[error("the member has no entity token")]
    NotFound,
    #[error("the presented token is not the member's current entity token")]
    Mismatch,
    #[error("{0}")]
    Invalid(String),
    #[error("the store could not persist the change: {0}")]
    Store(String),
}

impl From<StoreError> for EntityTokenError {
    fn from(e: StoreError) -> Self {
        EntityTokenError::Store(e.to_string())
    }
}

impl From<MailboxError> for EntityTokenError {
    fn from(e: MailboxError) -> Self {
        EntityTokenError::Store(e.to_string())
    }
}

/// Check flags: at most [`MAX_FLAGS`], each 1-[`MAX_FLAG_LEN`] characters of
/// `[A-Za-z0-9._:-]`, no repeats.
pub fn check_flags(flags: &[String]) -> Result<(), EntityTokenError> {
    if flags.len() > MAX_FLAGS {
        return Err(EntityTokenError::Invalid(format!(
            "flags: at most {MAX_FLAGS}"
        )));
    }
    for (i, f) in flags.iter().enumerate() {
        let ok = (1..=MAX_FLAG_LEN).contains(&f.len())
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if !ok {
            return Err(EntityTokenError::Invalid(format!(
                "flags: each 1-{MAX_FLAG_LEN} characters of letters, digits, '.', '_', ':' or '-'"
            )));
        }
        if flags.iter().take(i).any(|g| g == f) {
            return Err(EntityTokenError::Invalid(format!(
                "flags: {f:?} is repeated"
            )));
        }
    }
    Ok(())
}

/// The issuer's entity tokens: by member, with the key each is stored under.
#[derive(Debug, Default)]
pub struct EntityTokens {
    by_member: HashMap<(uuid::Uuid, uuid::Uuid), (u128, EntityToken)>,
}

impl EntityTokens {
    pub(super) fn clear(&mut self) {
        self.by_member.clear();
    }
}

/// The member's token, if any (metadata only).
#[derive(Message)]
#[rtype(result = "Option<EntityToken>")]
pub struct GetEntityToken {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
}

/// Create the member's token; `Exists` if there is one.
#[derive(Message)]
#[rtype(result = "Result<(EntityToken, String), EntityTokenError>")]
pub struct CreateEntityToken {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub client_id: String,
    pub expires_at: i64,
    pub flags: Vec<String>,
}

/// Change the expiry and/or flags (validated by the caller against the
/// configured bounds; flags checked here too).
#[derive(Message)]
#[rtype(result = "Result<EntityToken, EntityTokenError>")]
pub struct UpdateEntityToken {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub expires_at: Option<i64>,
    pub flags: Option<Vec<String>>,
}

/// Revoke the member's token (or every token of the entity when `user_id`
/// is `None`); answers how many were revoked. Durable before the answer.
#[derive(Message)]
#[rtype(result = "Result<usize, EntityTokenError>")]
pub struct RevokeEntityToken {
    pub entity_id: uuid::Uuid,
    pub user_id: Option<uuid::Uuid>,
}

/// Replace the member's token, proving the current one; the old one is
/// revoked. The new token keeps the flags and the lifetime.
#[derive(Message)]
#[rtype(result = "Result<(EntityToken, String), EntityTokenError>")]
pub struct RefreshEntityToken {
    pub entity_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub presented: String,
}

impl TokenIssuer {
    pub(super) fn reload_entity_tokens(&mut self, now: i64) -> Result<(), StoreError> {
        self.entity.clear();
        let mut expired = Vec::new();
        for (key, bytes) in self.store.load(Table::Entity)? {
            let t: EntityToken = store::decode(&bytes)?;
            if t.expires_at <= now {
                expired.push(key);
                continue;
            }
            self.publish_entity_token(key, &t);
            self.entity
                .by_member
                .insert((t.entity_id, t.user_id), (key, t));
        }
        self.store.remove(Table::Entity, &expired)?;
        Ok(())
    }

    /// Forget entity tokens past their expiry: store, member map, side maps.
    pub(super) fn sweep_entity_tokens(&mut self, now: i64) -> Result<usize, StoreError> {
        let expired: Vec<((uuid::Uuid, uuid::Uuid), u128)> = self
            .entity
            .by_member
            .iter()
            .filter(|(_, (_, t))| t.expires_at <= now)
            .map(|(m, (k, _))| (*m, *k))
            .collect();
        let keys: Vec<u128> = expired.iter().map(|(_, k)| *k).collect();
        self.store.remove(Table::Entity, &keys)?;
        for (m, k) in expired {
            self.entity.by_member.remove(&m);
            self.unpublish_entity_token(k);
        }
        Ok(keys.len())
    }

    fn entity_record(&mut self, t: &EntityToken) -> TokenRecord {
        let grant = self.intern(Grant {
            client_id: t.client_id.clone(),
            sub: t.user_id.to_string(),
            username: None,
            scope: String::new(),
            aud: vec![Arc::from(t.entity_id.to_string().as_str())],
            sid: None,
        });
        TokenRecord {
            jti: t.id.as_u128(),
            family: 0,
            iat: t.created_at,
            exp: t.expires_at,
            kind: TokenKind::EntityToken,
            grant,
        }
    }

    fn publish_entity_token(&mut self, key: u128, t: &EntityToken) {
        let rec = self.entity_record(t);
        self.index.insert(key, rec);
        self.index.set_entity_meta(
            key,
            EntityMeta {
                entity_id: t.entity_id,
                flags: t.flags.clone(),
            },
        );
    }

    fn unpublish_entity_token(&mut self, key: u128) {
        self.index.remove(key);
        self.index.forget_entity_meta(key);
    }

    /// Write a new token for `t`; answers its key and secret.
    fn write_new_entity_token(&mut self, t: &EntityToken) -> Result<(u128, String), StoreError> {
        let secret_value = secret::new_secret(prefix::ENTITY_TOKEN);
        let key = secret::token_key(&secret_value);
        self.store
            .put(Table::Entity, vec![(key, store::encode(t)?)])?;
        Ok((key, secret_value))
    }
}

impl Handler<GetEntityToken> for TokenIssuer {
    type Result = Option<EntityToken>;
    fn handle(&mut self, msg: GetEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        self.entity
            .by_member
            .get(&(msg.entity_id, msg.user_id))
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .map(|(key, t)| {
                let mut t = t.clone();
                t.last_used_at = self.index.entity_last_used(*key).max(t.last_used_at);
                t
            })
    }
}

impl Handler<CreateEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<(EntityToken, String), EntityTokenError>>;
    fn handle(&mut self, msg: CreateEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        // A token that expired or was revoked by id no longer counts.
        if let Some((key, t)) = self.entity.by_member.get(&member) {
            if t.expires_at > now && self.index.get(*key).is_some() {
                return Box::pin(async { Err(EntityTokenError::Exists) });
            }
        }
        if let Err(e) = check_flags(&msg.flags) {
            return Box::pin(async move { Err(e) });
        }
        let t = EntityToken {
            id: uuid::Uuid::new_v4(),
            entity_id: msg.entity_id,
            user_id: msg.user_id,
            flags: msg.flags,
            created_at: now,
            expires_at: msg.expires_at,
            last_used_at: None,
            client_id: msg.client_id,
        };
        let old = self.entity.by_member.get(&member).map(|(k, _)| *k);
        let written = self.write_new_entity_token(&t).and_then(|w| {
            if let Some(old) = old {
                self.store.remove(Table::Entity, &[old])?;
            }
            Ok(w)
        });
        let (key, secret_value) = match written {
            Ok(w) => w,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        // Published only once durable: the actor handles nothing else
        // meanwhile only for what it has already put in its own maps, and
        // the member map is what `Exists` reads, so fill it now.
        self.entity.by_member.insert(member, (key, t.clone()));
        let durable = self.store.durable();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        let meta = EntityMeta {
            entity_id: t.entity_id,
            flags: t.flags.clone(),
        };
        Box::pin(async move {
            durable.await?;
            if let Some(old) = old {
                index.remove(old);
                index.forget_entity_meta(old);
            }
            index.insert(key, rec);
            index.set_entity_meta(key, meta);
            metrics::counter!("tessera_tokens_issued_total", "kind" => "entity_token", "grant" => "entity", "format" => "opaque")
                .increment(1);
            Ok((t, secret_value))
        })
    }
}

impl Handler<UpdateEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<EntityToken, EntityTokenError>>;
    fn handle(&mut self, msg: UpdateEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        let Some((key, mut t)) = self
            .entity
            .by_member
            .get(&member)
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .cloned()
        else {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        };
        if let Some(flags) = msg.flags {
            if let Err(e) = check_flags(&flags) {
                return Box::pin(async move { Err(e) });
            }
            t.flags = flags;
        }
        if let Some(exp) = msg.expires_at {
            t.expires_at = exp;
        }
        t.last_used_at = self.index.entity_last_used(key).max(t.last_used_at);
        let written = store::encode(&t).and_then(|v| self.store.put(Table::Entity, vec![(key, v)]));
        if let Err(e) = written {
            return Box::pin(async move { Err(e.into()) });
        }
        self.entity.by_member.insert(member, (key, t.clone()));
        let durable = self.store.durable();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        Box::pin(async move {
            durable.await?;
            index.insert(key, rec);
            index.set_entity_meta(
                key,
                EntityMeta {
                    entity_id: t.entity_id,
                    flags: t.flags.clone(),
                },
            );
            Ok(t)
        })
    }
}

impl Handler<RevokeEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<usize, EntityTokenError>>;
    fn handle(&mut self, msg: RevokeEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let members: Vec<(uuid::Uuid, uuid::Uuid)> = self
            .entity
            .by_member
            .keys()
            .filter(|(e, u)| *e == msg.entity_id && msg.user_id.is_none_or(|m| m == *u))
            .copied()
            .collect();
        let mut gone = Vec::new();
        let mut live = 0;
        for m in members {
            if let Some((key, t)) = self.entity.by_member.remove(&m) {
                if t.expires_at > now && self.index.get(key).is_some() {
                    live += 1;
                }
                gone.push((key, t));
            }
        }
        if msg.user_id.is_some() && live == 0 {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        }
        let keys: Vec<u128> = gone.iter().map(|(k, _)| *k).collect();
        if let Err(e) = self.store.remove(Table::Entity, &keys) {
            return Box::pin(async move { Err(e.into()) });
        }
        let ids: Vec<(u128, i64)> = gone
            .iter()
            .map(|(_, t)| (t.id.as_u128(), t.expires_at.max(now)))
            .collect();
        for k in &keys {
            self.unpublish_entity_token(*k);
        }
        let revocations = self.revocations.clone();
        let durable = self.store.durable();
        Box::pin(async move {
            if !ids.is_empty() {
                revocations.send(Revoke(ids)).await??;
            }
            durable.await?;
            Ok(live)
        })
    }
}

impl Handler<RefreshEntityToken> for TokenIssuer {
    type Result = ResponseFuture<Result<(EntityToken, String), EntityTokenError>>;
    fn handle(&mut self, msg: RefreshEntityToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let member = (msg.entity_id, msg.user_id);
        let Some((old_key, old)) = self
            .entity
            .by_member
            .get(&member)
            .filter(|(key, t)| t.expires_at > now && self.index.get(*key).is_some())
            .cloned()
        else {
            return Box::pin(async { Err(EntityTokenError::NotFound) });
        };
        // Keys are SHA-256 prefixes: comparing them is comparing hashes.
        if secret::token_key(msg.presented.trim()) != old_key {
            return Box::pin(async { Err(EntityTokenError::Mismatch) });
        }
        let lifetime = (old.expires_at - old.created_at).max(1);
        let t = EntityToken {
            id: uuid::Uuid::new_v4(),
            created_at: now,
            expires_at: now.saturating_add(lifetime),
            last_used_at: None,
            ..old.clone()
        };
        let written = self.write_new_entity_token(&t).and_then(|w| {
            self.store.remove(Table::Entity, &[old_key])?;
            Ok(w)
        });
        let (key, secret_value) = match written {
            Ok(w) => w,
            Err(e) => return Box::pin(async move { Err(e.into()) }),
        };
        self.entity.by_member.insert(member, (key, t.clone()));
        self.unpublish_entity_token(old_key);
        let durable = self.store.durable();
        let revocations = self.revocations.clone();
        let rec = self.entity_record(&t);
        let index = self.index.clone();
        let meta = EntityMeta {
            entity_id: t.entity_id,
            flags: t.flags.clone(),
        };
        let old_id = (old.id.as_u128(), old.expires_at.max(now));
        Box::pin(async move {
            revocations.send(Revoke(vec![old_id])).await??;
            durable.await?;
            index.insert(key, rec);
            index.set_entity_meta(key, meta);
            Ok((t, secret_value))
        })
    }
}

impl crate::engine::Engine {
    /// Revoke every entity token of an entity (it is being deleted).
    pub async fn end_entity_tokens(
        &self,
        entity_id: uuid::Uuid,
    ) -> Result<usize, EntityTokenError> {
        self.issuer
            .send(RevokeEntityToken {
                entity_id,
                user_id: None,
            })
            .await?
    }

    /// Revoke a member's entity token, if they have one (they left).
    pub async fn end_member_token(
        &self,
        entity_id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> Result<usize, EntityTokenError> {
        match self
            .issuer
            .send(RevokeEntityToken {
                entity_id,
                user_id: Some(user_id),
            })
            .await?
        {
            Err(EntityTokenError::NotFound) => Ok(0),
            other => other,
        }
    }
}
