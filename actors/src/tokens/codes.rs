//! Authorization codes (RFC 6749 §4.1): single use, bound to the client,
//! the redirect URI and the PKCE challenge, 60 s by default. A second use
//! revokes the family of everything the first exchange issued.

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Table, TokenIssuer};
use crate::domain::Pkce;
use crate::grants::claims::RequestedClaims;
use crate::revocation::Revoke;
use crate::store::{self, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: uuid::Uuid,
    pub scope: String,
    pub nonce: Option<String>,
    pub pkce: Option<Pkce>,
    pub auth_time: i64,
    pub sid: Option<uuid::Uuid>,
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    /// The family every token issued from this code belongs to.
    pub family: u128,
    pub consumed: bool,
    /// RFC 9449 §10: `dpop_jkt` of the authorization request; only a
    /// proof of that key redeems the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// RFC 8707: the resources the authorization request named; the
    /// tokens' audiences are at most these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// OIDC Core §5.5: the individual claims the request asked for.
    #[serde(default, skip_serializing_if = "RequestedClaims::is_empty")]
    pub claims: RequestedClaims,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the authorization code is invalid, expired or was issued to another client")]
    Invalid,
    #[error("the redirect_uri differs from the one in the authorization request")]
    RedirectMismatch,
    #[error("the code_verifier is missing or does not match the code_challenge")]
    Verifier,
    /// RFC 9700 §4.8.2: a verifier for a code that had no challenge.
    #[error("a code_verifier was sent but the authorization request had no code_challenge")]
    Downgrade,
    #[error("the authorization code was already used; every token issued from it is revoked")]
    Replayed,
    #[error("the authorization code is bound to a DPoP key and needs a proof of that key")]
    Binding,
    /// RFC 8707: a resource the authorization request did not name.
    #[error("the requested resource is not one this authorization covers")]
    Target,
    #[error("the store could not persist the exchange: {0}")]
    Store(String),
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> Self {
        CodeError::Store(e.to_string())
    }
}

/// Store a freshly issued code (`key` = token key of the code string).
#[derive(Message, Debug)]
#[rtype(result = "Result<(), StoreError>")]
pub struct IssueCode {
    pub key: u128,
    pub code: AuthCode,
}

/// Redeem a code. Answers the code's grant once it is durably consumed.
#[derive(Message, Debug)]
#[rtype(result = "Result<AuthCode, CodeError>")]
pub struct ExchangeCode {
    pub key: u128,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub verifier: Option<String>,
    /// How long a replay-revoked family is remembered.
    pub family_lifetime: i64,
    /// Thumbprint of the key of the request's DPoP proof, if any.
    pub jkt: Option<std::sync::Arc<str>>,
    /// RFC 8707: resources the access token is for; when the
    /// authorization request named resources, each must be one of them.
    pub resource: Vec<String>,
}

impl Handler<IssueCode> for TokenIssuer {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: IssueCode, _: &mut Self::Context) -> Self::Result {
        let put =
            store::encode(&msg.code).and_then(|v| self.store.put(Table::Code, vec![(msg.key, v)]));
        if put.is_ok() {
            self.codes.insert(msg.key, msg.code);
        }
        // A code lost in a crash only makes the user retry: not awaited,
        // unless other nodes share the store: the client may redeem the
        // code at any of them, which read it from the store.
        if self.store.shared() && put.is_ok() {
            let durable = self.store.durable();
            return durable;
        }
        Box::pin(async move { put })
    }
}

impl Handler<ExchangeCode> for TokenIssuer {
    type Result = ResponseFuture<Result<AuthCode, CodeError>>;
    fn handle(&mut self, msg: ExchangeCode, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        // Issued by another node and not on the feed yet: read it.
        if let Err(e) = self.fetch_code(msg.key) {
            return Box::pin(async move { Err(e.into()) });
        }
        let Some(code) = self.codes.get_mut(&msg.key) else {
            return Box::pin(async { Err(CodeError::Invalid) });
        };
        if code.client_id != msg.client_id {
            return Box::pin(async { Err(CodeError::Invalid) });
        }
        if code.consumed {
            // RFC 6749 §4.1.2 / RFC 9700 §4.5: revoke what the first exchange issued.
            metrics::counter!("tessera_code_replays_total").increment(1);
            let revoke = self.revocations.send(Revoke(vec![(
                code.family,
                now.saturating_add(msg.family_lifetime),
            )]));
            return Box::pin(async move {
                match revoke.await {
                    Ok(Ok(())) => Err(CodeError::Replayed),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(CodeError::Store(e.to_string())),
                }
            });
        }
        if code.exp <= now {
            return Box::pin(async { Err(CodeError::Invalid) });
        }
        if msg.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
            return Box::pin(async { Err(CodeError::RedirectMismatch) });
        }
        match (&code.pkce, msg.verifier.as_deref()) {
            (Some(p), Some(v)) if p.verify(v) => {}
            (Some(_), _) => return Box::pin(async { Err(CodeError::Verifier) }),
            (None, Some(_)) => return Box::pin(async { Err(CodeError::Downgrade) }),
            (None, None) => {}
        }
        if let Some(bound) = &code.dpop_jkt {
            if msg.jkt.as_deref() != Some(bound.as_str()) {
                return Box::pin(async { Err(CodeError::Binding) });
            }
        }
        // Checked before the code is used up: a refused request can be
        // retried.
        if !code.resources.is_empty() && !msg.resource.iter().all(|r| code.resources.contains(r)) {
            return Box::pin(async { Err(CodeError::Target) });
        }
        // Consumed in memory first: a parallel exchange behind us in the
        // mailbox already sees it used.
        code.consumed = true;
        let code = code.clone();
        // Conditional on the stored code not being consumed yet, so a store
        // shared with other writers has one winner too.
        let won = self.store.consume_code(msg.key, &code);
        let durable = self.store.durable();
        // Lost to an exchange on another node at the same moment: this is
        // the replay, and it kills what the winner was issued.
        let replay = matches!(won, Ok(false)).then(|| {
            metrics::counter!("tessera_code_replays_total").increment(1);
            self.revocations.send(Revoke(vec![(
                code.family,
                now.saturating_add(msg.family_lifetime),
            )]))
        });
        Box::pin(async move {
            if let Some(revoke) = replay {
                return match revoke.await {
                    Ok(Ok(())) => Err(CodeError::Replayed),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(CodeError::Store(e.to_string())),
                };
            }
            won?;
            durable.await?;
            Ok(code)
        })
    }
}
