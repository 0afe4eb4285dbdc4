//! The token index: the read view introspection answers from.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::idmap::{new_map, IdMap};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    AccessToken,
    RefreshToken,
}

impl TokenKind {
    /// The `token_use` value in introspection answers.
    pub fn token_use(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "access_token",
            TokenKind::RefreshToken => "refresh_token",
        }
    }
    /// The RFC 7662 `token_type`.
    pub fn token_type(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "Bearer",
            TokenKind::RefreshToken => "refresh_token",
        }
    }
}

/// Who a token was issued to and for what: shared by every token of the
/// same grant, interned by the issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub sub: String,
    pub username: Option<String>,
    pub scope: String,
    pub aud: Vec<Arc<str>>,
    /// The browser session the grant came from (user grants only).
    #[serde(default)]
    pub sid: Option<uuid::Uuid>,
}

/// One resident token.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub jti: u128,
    /// The grant family (0: none). Revoking the family revokes the token.
    pub family: u128,
    pub iat: i64,
    pub exp: i64,
    pub kind: TokenKind,
    pub grant: Arc<Grant>,
}

/// Published by `TokenIssuer`; read by every HTTP worker.
pub struct TokenIndex {
    map: IdMap<TokenRecord>,
}

impl Default for TokenIndex {
    fn default() -> Self {
        TokenIndex { map: new_map() }
    }
}

impl TokenIndex {
    pub fn get(&self, key: u128) -> Option<TokenRecord> {
        self.map.get(&key).map(|r| r.value().clone())
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub(crate) fn insert(&self, key: u128, rec: TokenRecord) {
        self.map.insert(key, rec);
    }
    /// Every resident token of a subject (an O(n) scan, for rare
    /// account-wide revocations).
    pub fn of_subject(&self, sub: &str) -> Vec<TokenRecord> {
        self.map
            .iter()
            .filter(|e| e.value().grant.sub == sub)
            .map(|e| e.value().clone())
            .collect()
    }
    pub(crate) fn expired(&self, now: i64) -> Vec<u128> {
        self.map
            .iter()
            .filter(|e| e.value().exp <= now)
            .map(|e| *e.key())
            .collect()
    }
    /// Drop a record that may no longer be used (a rotated refresh token).
    pub(crate) fn remove(&self, key: u128) {
        self.map.remove(&key);
    }
    pub(crate) fn remove_expired(&self, key: u128, now: i64) {
        self.map.remove_if(&key, |_, r| r.exp <= now);
    }
}
