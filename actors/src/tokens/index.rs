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
    /// An entity authentication token (SPEC §5).
    EntityToken,
}

impl TokenKind {
    /// The `token_use` value in introspection answers.
    pub fn token_use(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "access_token",
            TokenKind::RefreshToken => "refresh_token",
            TokenKind::EntityToken => "entity_token",
        }
    }
    /// The RFC 7662 `token_type` (of a token bound to no key).
    pub fn token_type(self) -> &'static str {
        match self {
            TokenKind::AccessToken => "Bearer",
            TokenKind::RefreshToken => "refresh_token",
            TokenKind::EntityToken => "entity_token",
        }
    }
}

/// What issued a grant family, where introspection tells it apart from
/// an ordinary grant (`token_origin` in the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOrigin {
    /// A personal token (`PUT /api/users/token`) and what was minted from it.
    Personal,
}

impl TokenOrigin {
    /// The `token_origin` value in introspection answers.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenOrigin::Personal => "personal_token",
        }
    }
    /// The origin worth telling for a refresh token's `origin`, if any.
    pub fn of(origin: &str) -> Option<TokenOrigin> {
        (origin == crate::tokens::personal::PERSONAL).then_some(TokenOrigin::Personal)
    }
}

/// RFC 8693 §4.1 `act`: who acts for the subject, and who acted for
/// them before (nested).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Act {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Act>>,
}

impl Act {
    /// How many actors the chain names.
    pub fn depth(&self) -> usize {
        1 + self.act.as_ref().map_or(0, |a| a.depth())
    }
}

/// Who a token was issued to and for what: shared by every token of the
/// same grant, interned by the issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub sub: String,
    pub username: Option<String>,
    pub scope: String,
    pub aud: Vec<Arc<str>>,
    /// The browser session the grant came from (user grants only).
    #[serde(default)]
    pub sid: Option<uuid::Uuid>,
    /// RFC 9449: thumbprint of the key the tokens are bound to (DPoP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<Arc<str>>,
    /// RFC 8705 §3: SHA-256 thumbprint (base64url) of the client
    /// certificate the tokens are bound to (`cnf.x5t#S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<Arc<str>>,
    /// RFC 8693: who acts for the subject (token exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Arc<Act>>,
    /// Token exchange: the ids (jti, family) of the tokens this one was
    /// exchanged from, directly or in a chain. Revoking any of them
    /// revokes this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anc: Vec<u128>,
    /// OIDC Core §5.5: user claims userinfo releases beyond the scope's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

impl Grant {
    /// RFC 6749 §7.1 `token_type` of an access token of this grant.
    pub fn token_type(&self) -> &'static str {
        if self.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
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
    /// Family → origin, for the few families introspection names
    /// (personal tokens); every other family is absent.
    origins: IdMap<TokenOrigin>,
    /// Token key → entity and flags, for entity tokens only.
    entity_meta: IdMap<Arc<crate::tokens::EntityMeta>>,
    /// Token key → last use, for entity tokens only (written with the
    /// token's next change).
    entity_used: IdMap<i64>,
}

impl Default for TokenIndex {
    fn default() -> Self {
        TokenIndex {
            map: new_map(),
            origins: new_map(),
            entity_meta: new_map(),
            entity_used: new_map(),
        }
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
    /// The resident token with this `jti` (an O(n) scan, for an
    /// administrator's lookup).
    pub fn by_jti(&self, jti: u128) -> Option<TokenRecord> {
        self.map
            .iter()
            .find(|e| e.value().jti == jti)
            .map(|e| e.value().clone())
    }
    /// Whether any resident token belongs to the grant `family`.
    pub fn has_family(&self, family: u128) -> bool {
        family != 0 && self.map.iter().any(|e| e.value().family == family)
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
    /// What issued `family`, when it is one introspection tells apart.
    /// No allocation: one shard lookup, none for tokens of no family.
    pub fn origin_of(&self, family: u128) -> Option<TokenOrigin> {
        if family == 0 {
            return None;
        }
        self.origins.get(&family).map(|o| *o.value())
    }
    pub(crate) fn set_origin(&self, family: u128, origin: TokenOrigin) {
        self.origins.insert(family, origin);
    }
    pub(crate) fn forget_origin(&self, family: u128) {
        self.origins.remove(&family);
    }
    /// The entity and flags of the entity token stored under `key`.
    pub fn entity_meta(&self, key: u128) -> Option<Arc<crate::tokens::EntityMeta>> {
        self.entity_meta.get(&key).map(|m| m.value().clone())
    }
    pub(crate) fn set_entity_meta(&self, key: u128, meta: crate::tokens::EntityMeta) {
        self.entity_meta.insert(key, Arc::new(meta));
    }
    pub(crate) fn forget_entity_meta(&self, key: u128) {
        self.entity_meta.remove(&key);
        self.entity_used.remove(&key);
    }
    /// Note a use of the entity token stored under `key`.
    pub fn note_entity_use(&self, key: u128, at: i64) {
        if self.entity_meta.contains_key(&key) {
            self.entity_used.insert(key, at);
        }
    }
    pub fn entity_last_used(&self, key: u128) -> Option<i64> {
        self.entity_used.get(&key).map(|t| *t)
    }
}
