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

mod handlers;

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
            ..Default::default()
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

    /// An entity token as another node wrote it: it replaces the member's
    /// previous one here too.
    pub(in crate::tokens) fn put_entity_token(&mut self, key: u128, t: EntityToken, now: i64) {
        let member = (t.entity_id, t.user_id);
        if let Some((old, _)) = self.entity.by_member.get(&member) {
            if *old != key {
                let old = *old;
                self.unpublish_entity_token(old);
            }
        }
        if t.expires_at > now {
            self.publish_entity_token(key, &t);
            self.entity.by_member.insert(member, (key, t));
        } else {
            self.entity.by_member.remove(&member);
            self.unpublish_entity_token(key);
        }
    }

    /// An entity token another node deleted.
    pub(in crate::tokens) fn drop_entity_token(&mut self, key: u128) {
        self.entity.by_member.retain(|_, (k, _)| *k != key);
        self.unpublish_entity_token(key);
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
