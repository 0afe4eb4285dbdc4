//! Personal tokens (SPEC §4, `/api/users/token`): long-lived refresh
//! tokens a user makes for scripts and tools. Each is the only refresh
//! token of its own family, issued to the built-in account client with
//! `origin = "personal"`; it does not rotate, so the same secret keeps
//! working until it expires or is deleted. Deleting one revokes its family,
//! which kills every access token minted from it.
//!
//! The issuer keeps a per-user list of personal token keys so listing and
//! deleting never scan every refresh token, and publishes the family's
//! origin so introspection can say what a token is.

use std::collections::HashMap;

use actix::prelude::*;
use serde::Serialize;

use super::{RefreshMeta, TokenIndex, TokenIssuer, TokenOrigin};
use crate::revocation::Revoke;
use crate::store::StoreError;

/// The `origin` of a personal token's refresh-token family.
pub const PERSONAL: &str = "personal";

/// The personal refresh tokens of each user, by token key.
#[derive(Debug, Default)]
pub struct PersonalIndex {
    by_user: HashMap<uuid::Uuid, Vec<u128>>,
}

impl PersonalIndex {
    fn add(&mut self, user: uuid::Uuid, key: u128) {
        let keys = self.by_user.entry(user).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    fn remove(&mut self, user: uuid::Uuid, key: u128) {
        if let Some(keys) = self.by_user.get_mut(&user) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
    pub(super) fn clear(&mut self) {
        self.by_user.clear();
    }
    fn keys(&self, user: &uuid::Uuid) -> &[u128] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }
    /// Keep only `live` of the user's keys: a revoked or expired token
    /// never comes back, so the list need not walk it again.
    fn keep_only(&mut self, user: uuid::Uuid, live: Vec<u128>) {
        if live.is_empty() {
            self.by_user.remove(&user);
        } else {
            self.by_user.insert(user, live);
        }
    }
}

/// A personal token as its owner sees it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalToken {
    /// The refresh token's `jti`.
    pub id: uuid::Uuid,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<&RefreshMeta> for PersonalToken {
    fn from(m: &RefreshMeta) -> Self {
        PersonalToken {
            id: uuid::Uuid::from_u128(m.jti),
            scope: m.scope.clone(),
            created_at: m.iat,
            expires_at: m.exp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersonalError {
    /// Unknown, expired, already revoked, or another user's.
    #[error("no such personal token")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a component is restarting: {0}")]
    Mailbox(#[from] actix::MailboxError),
}

/// The user's live personal tokens, newest first.
#[derive(Message, Debug)]
#[rtype(result = "Vec<PersonalToken>")]
pub struct ListPersonal {
    pub user_id: uuid::Uuid,
}

/// Revoke one of the user's personal tokens and its family (so every
/// access token minted from it). Answers once the revocation is durable.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), PersonalError>")]
pub struct DeletePersonal {
    pub user_id: uuid::Uuid,
    pub id: uuid::Uuid,
    /// How long an access token minted from the family may outlive the
    /// refresh token (the longest access-token lifetime): the family stays
    /// on the revoked list that much longer.
    pub linger: i64,
}

impl TokenIssuer {
    /// Note a refresh token just stored, or loaded live: publish its
    /// family's origin, and list it under its user if it is personal.
    pub(super) fn note_refresh(&mut self, key: u128, m: &RefreshMeta) {
        note(&self.index, &mut self.personal, key, m);
    }

    /// Forget a refresh token whose record is gone (expired and swept).
    /// An access token minted from the family just before its refresh
    /// token expired keeps working, but no longer shows its origin.
    pub(super) fn forget_refresh(&mut self, key: u128, m: &RefreshMeta) {
        if TokenOrigin::of(&m.origin).is_some() {
            self.index.forget_origin(m.family);
        }
        if m.origin == PERSONAL {
            self.personal.remove(m.user_id, key);
        }
    }

    /// The user's personal tokens that still work (unexpired, unrevoked),
    /// with their keys.
    fn live_personal(&self, user: &uuid::Uuid) -> Vec<(u128, &RefreshMeta)> {
        let now = self.clock.now();
        let sub = user.to_string();
        self.personal
            .keys(user)
            .iter()
            .filter_map(|k| self.refresh.get(k).map(|m| (*k, m)))
            .filter(|(_, m)| {
                m.user_id == *user
                    && m.origin == PERSONAL
                    && !m.used
                    && m.exp > now
                    && !self.revoked.contains(m.jti)
                    && !self.revoked.contains(m.family)
                    && !self.revoked.subject_revoked(&sub, m.iat)
            })
            .collect()
    }
}

fn note(index: &TokenIndex, personal: &mut PersonalIndex, key: u128, m: &RefreshMeta) {
    if let Some(o) = TokenOrigin::of(&m.origin) {
        index.set_origin(m.family, o);
    }
    if m.origin == PERSONAL && !m.used {
        personal.add(m.user_id, key);
    }
}

impl Handler<ListPersonal> for TokenIssuer {
    type Result = MessageResult<ListPersonal>;
    fn handle(&mut self, msg: ListPersonal, _: &mut Self::Context) -> Self::Result {
        let live = self.live_personal(&msg.user_id);
        let keys: Vec<u128> = live.iter().map(|(k, _)| *k).collect();
        let mut out: Vec<PersonalToken> = live
            .into_iter()
            .map(|(_, m)| PersonalToken::from(m))
            .collect();
        self.personal.keep_only(msg.user_id, keys);
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        MessageResult(out)
    }
}

impl Handler<DeletePersonal> for TokenIssuer {
    type Result = ResponseFuture<Result<(), PersonalError>>;
    fn handle(&mut self, msg: DeletePersonal, _: &mut Self::Context) -> Self::Result {
        let id = msg.id.as_u128();
        let Some(m) = self
            .live_personal(&msg.user_id)
            .into_iter()
            .find(|(_, m)| m.jti == id)
            .map(|(_, m)| m.clone())
        else {
            return Box::pin(async { Err(PersonalError::NotFound) });
        };
        let until = m
            .family_deadline
            .max(self.clock.now())
            .saturating_add(msg.linger.max(0));
        let revoke = self
            .revocations
            .send(Revoke(vec![(m.jti, m.exp), (m.family, until)]));
        Box::pin(async move {
            revoke.await??;
            Ok(())
        })
    }
}
