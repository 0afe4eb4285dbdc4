//! Refresh tokens (RFC 6749 §6): opaque, stored as hashes, grouped in a
//! family per grant. Rotating tokens (public clients, or confidential ones
//! configured so) are single use: presenting a used one is reuse, which
//! revokes the whole family (RFC 9700 §4.14.2).

use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Grant, Table, TokenIssuer, TokenKind, TokenRecord};
use crate::domain::Scope;
use crate::grants::claims::RequestedClaims;
use crate::revocation::Revoke;
use crate::secret::{self, prefix};
use crate::store::{self, StoreError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshMeta {
    pub jti: u128,
    pub family: u128,
    pub client_id: String,
    pub user_id: uuid::Uuid,
    pub username: Option<String>,
    pub scope: String,
    pub aud: Vec<Arc<str>>,
    pub auth_time: i64,
    pub sid: Option<uuid::Uuid>,
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    /// The family may not outlive this, however often it is rotated.
    pub family_deadline: i64,
    /// Rotating token already exchanged.
    pub used: bool,
    pub rotating: bool,
    /// What issued the family: `authorization_code`, `personal`, ...
    pub origin: String,
    /// RFC 9449 §5: a public client's token is bound to the DPoP key it
    /// was issued with; only a proof of that key refreshes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<Arc<str>>,
    /// Token exchange: the actor chain the family's access tokens carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Arc<crate::tokens::Act>>,
    /// Token exchange: the tokens the family was exchanged from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anc: Vec<u128>,
    /// OIDC Core §5.5: the individual claims the authorization asked for,
    /// kept for the ID tokens and access tokens of the family.
    #[serde(default, skip_serializing_if = "RequestedClaims::is_empty")]
    pub claims: RequestedClaims,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is invalid, expired, revoked or was issued to another client")]
    Invalid,
    #[error("the refresh token was already used; its whole grant is revoked")]
    Reused,
    #[error("the requested scope exceeds the scope originally granted")]
    Scope,
    #[error("the refresh token is bound to a DPoP key and needs a proof of that key")]
    Binding,
    /// RFC 8707: a resource the grant does not cover.
    #[error("the requested resource is not one this grant covers")]
    Target,
    #[error("the store could not persist the refresh: {0}")]
    Store(String),
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        RefreshError::Store(e.to_string())
    }
}

/// Issue the first refresh token of a family. Answers the token once durable.
#[derive(Message, Debug)]
#[rtype(result = "Result<String, StoreError>")]
pub struct IssueRefresh(pub RefreshMeta);

/// Exchange a refresh token.
#[derive(Message, Debug)]
#[rtype(result = "Result<RefreshOutcome, RefreshError>")]
pub struct Refresh {
    pub key: u128,
    pub client_id: String,
    pub scope: Option<Scope>,
    /// Lifetime of a rotated token (bounded by the family deadline).
    pub ttl: i64,
    /// Thumbprint of the key of the request's DPoP proof, if any.
    pub jkt: Option<Arc<str>>,
    /// RFC 8707: resources the new access token is for; each must be one
    /// the grant covers.
    pub resource: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    /// The grant the presented token carries.
    pub meta: RefreshMeta,
    /// The scope for the new access token (narrower if asked).
    pub scope: String,
    /// The replacement token, when the family rotates.
    pub new_token: Option<String>,
}

impl TokenIssuer {
    pub(super) fn refresh_record(&mut self, m: &RefreshMeta) -> TokenRecord {
        let grant = self.intern(Grant {
            client_id: m.client_id.clone(),
            sub: m.user_id.to_string(),
            username: m.username.clone(),
            scope: m.scope.clone(),
            aud: m.aud.clone(),
            sid: m.sid,
            jkt: m.jkt.clone(),
            // Refresh tokens are not bound to a certificate: the
            // client authenticates with it at each refresh anyway.
            x5t: None,
            act: m.act.clone(),
            anc: m.anc.clone(),
            claims: Vec::new(),
        });
        TokenRecord {
            jti: m.jti,
            family: m.family,
            iat: m.iat,
            exp: m.exp,
            kind: TokenKind::RefreshToken,
            grant,
        }
    }

    /// Persist and index a new refresh token; returns its secret and the
    /// index record to publish once durable.
    fn new_refresh(
        &mut self,
        meta: RefreshMeta,
    ) -> Result<(String, u128, TokenRecord), StoreError> {
        let p = if meta.origin == super::personal::PERSONAL {
            prefix::PERSONAL_TOKEN
        } else {
            prefix::REFRESH_TOKEN
        };
        let token = secret::new_secret(p);
        let key = secret::token_key(&token);
        self.store
            .put(Table::Refresh, vec![(key, store::encode(&meta)?)])?;
        let rec = self.refresh_record(&meta);
        self.note_refresh(key, &meta);
        self.refresh.insert(key, meta);
        Ok((token, key, rec))
    }
}

impl TokenIssuer {
    /// A used refresh token presented again (RFC 9700 §4.14.2): the family
    /// is revoked, and the answer is `Reused` once that is durable.
    fn reused(&self, meta: &RefreshMeta) -> ResponseFuture<Result<RefreshOutcome, RefreshError>> {
        metrics::counter!("tessera_refresh_reuse_detected_total").increment(1);
        let revoke = self
            .revocations
            .send(Revoke(vec![(meta.family, meta.family_deadline)]));
        Box::pin(async move {
            match revoke.await {
                Ok(Ok(())) => Err(RefreshError::Reused),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(RefreshError::Store(e.to_string())),
            }
        })
    }
}

impl Handler<IssueRefresh> for TokenIssuer {
    type Result = ResponseFuture<Result<String, StoreError>>;
    fn handle(&mut self, msg: IssueRefresh, _: &mut Self::Context) -> Self::Result {
        let made = self.new_refresh(msg.0);
        let durable = self.store.durable();
        let index = self.index.clone();
        Box::pin(async move {
            let (token, key, rec) = made?;
            durable.await?;
            index.insert(key, rec);
            Ok(token)
        })
    }
}

impl Handler<Refresh> for TokenIssuer {
    type Result = ResponseFuture<Result<RefreshOutcome, RefreshError>>;
    fn handle(&mut self, msg: Refresh, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        // Issued by another node and not on the feed yet: read it.
        if let Err(e) = self.fetch_refresh(msg.key) {
            return Box::pin(async move { Err(e.into()) });
        }
        let Some(meta) = self.refresh.get(&msg.key).cloned() else {
            return Box::pin(async { Err(RefreshError::Invalid) });
        };
        if meta.client_id != msg.client_id {
            return Box::pin(async { Err(RefreshError::Invalid) });
        }
        if self.revoked.contains(meta.jti)
            || self.revoked.contains(meta.family)
            || meta.anc.iter().any(|a| self.revoked.contains(*a))
            || meta.exp <= now
        {
            return Box::pin(async { Err(RefreshError::Invalid) });
        }
        // Checked before anything is used up: a request without the key
        // cannot burn the token of the client that has it.
        if meta.jkt.is_some() && meta.jkt != msg.jkt {
            return Box::pin(async { Err(RefreshError::Binding) });
        }
        if meta.used {
            return self.reused(&meta);
        }
        // Also before anything is used up: a refused request leaves the
        // token as it was.
        if !msg
            .resource
            .iter()
            .all(|r| meta.aud.iter().any(|a| a.as_ref() == r))
        {
            return Box::pin(async { Err(RefreshError::Target) });
        }
        let granted = match Scope::parse(&meta.scope) {
            Ok(s) => s,
            Err(_) => return Box::pin(async { Err(RefreshError::Invalid) }),
        };
        let scope = match msg.scope {
            Some(s) if !s.is_subset_of(&granted) => {
                return Box::pin(async { Err(RefreshError::Scope) })
            }
            Some(s) => s.to_string(),
            None => meta.scope.clone(),
        };
        if !meta.rotating {
            return Box::pin(async move {
                Ok(RefreshOutcome {
                    meta,
                    scope,
                    new_token: None,
                })
            });
        }
        // Rotate: the presented token is used from this instant on.
        let mut used = meta.clone();
        used.used = true;
        let mut next = meta.clone();
        next.jti = crate::idmap::new_id();
        next.iat = now;
        next.exp = now.saturating_add(msg.ttl).min(meta.family_deadline);
        // Conditional on the stored token not being used yet, so a store
        // shared with other writers has one winner too.
        let made = match self.store.use_refresh(msg.key, &used) {
            Ok(true) => {
                self.refresh.insert(msg.key, used);
                // A rotated token introspects inactive from now on; its
                // record stays in `refresh` for reuse detection.
                self.index.remove(msg.key);
                self.new_refresh(next).map_err(RefreshError::from)
            }
            Ok(false) => {
                // Rotated on another node at the same moment: this is a
                // reuse, and it ends the family for both.
                self.refresh.insert(msg.key, used);
                self.index.remove(msg.key);
                return self.reused(&meta);
            }
            Err(e) => Err(e.into()),
        };
        let durable = self.store.durable();
        let index = self.index.clone();
        Box::pin(async move {
            let (token, key, rec) = made?;
            durable.await?;
            index.insert(key, rec);
            metrics::counter!("tessera_tokens_issued_total", "kind" => "refresh_token", "grant" => "refresh_token", "format" => "opaque").increment(1);
            Ok(RefreshOutcome {
                meta,
                scope,
                new_token: Some(token),
            })
        })
    }
}
