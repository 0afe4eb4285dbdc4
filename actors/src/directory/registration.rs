//! Clients that register themselves (RFC 7591) and manage their
//! registration (RFC 7592), and the initial access tokens an administrator
//! hands out so that only those who hold one may register.
//!
//! A self-registered client carries a [`SelfRegistration`]: the SHA-256 of
//! its registration access token. The token is shown once, when the client
//! registers or changes its registration (each change issues a new one and
//! the old one stops working).
//!
//! An initial access token is kept by its SHA-256 with the uses it has left
//! and when it expires. Using one and creating the client are one unit: a
//! token with one use left registers exactly one client, however many
//! requests race for it, on one node or several.

use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::clients::{Client, ClientSpec, SelfRegistration, TokenAuthMethod};
use super::{Directory, DirectoryError};
use crate::secret::{self, SecretHash};

/// Prefix of a registration access token (RFC 7592).
pub const REGISTRATION_TOKEN_PREFIX: &str = "tes_rat_";
/// Prefix of an initial access token (RFC 7591 §3).
pub const INITIAL_TOKEN_PREFIX: &str = "tes_iat_";

/// An initial access token, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialToken {
    pub id: uuid::Uuid,
    /// SHA-256 of the token.
    #[serde(with = "super::clients::hex32")]
    pub hash: SecretHash,
    /// Registrations it may still make.
    pub uses_left: u32,
    pub uses: u32,
    pub created_at: i64,
    pub expires_at: i64,
    /// What the administrator wrote about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a registration was refused before its metadata was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InitialTokenError {
    #[error("the initial access token is unknown, used up or expired")]
    Invalid,
}

/// Register a client on its own behalf. With `initial`, an initial access
/// token's SHA-256, one of its uses is spent in the same unit.
#[derive(Message)]
#[rtype(result = "Result<Registered, RegisterError>")]
pub struct RegisterClient {
    pub spec: ClientSpec,
    pub initial: Option<SecretHash>,
}

/// A client that registered itself, or changed its registration.
#[derive(Debug)]
pub struct Registered {
    pub client: Arc<Client>,
    /// The client secret, when one was issued now (shown this once).
    pub secret: Option<String>,
    /// The new registration access token (shown this once).
    pub registration_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Token(#[from] InitialTokenError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl From<crate::store::StoreError> for RegisterError {
    fn from(e: crate::store::StoreError) -> Self {
        RegisterError::Directory(e.into())
    }
}

/// Replace a client's registration (RFC 7592 §2.2; an administrator's
/// change too). Every field takes the new value; the id, the creation time
/// and, where the method still uses one, the secret stay. A self-registered
/// client gets a new registration access token.
#[derive(Message)]
#[rtype(result = "Result<Registered, DirectoryError>")]
pub struct UpdateClient {
    pub client_id: String,
    pub spec: ClientSpec,
    /// The registration access token the change was made with: it must
    /// still be the current one (two changes racing: one wins).
    pub with_token: Option<SecretHash>,
}

/// Create an initial access token; answers the record and the token.
#[derive(Message)]
#[rtype(result = "Result<(InitialToken, String), DirectoryError>")]
pub struct IssueInitialToken {
    pub uses: u32,
    pub expires_in: i64,
    pub note: Option<String>,
}

#[derive(Message)]
#[rtype(result = "Result<Vec<InitialToken>, DirectoryError>")]
pub struct ListInitialTokens;

/// Revoke an initial access token by id.
#[derive(Message)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct RevokeInitialToken(pub uuid::Uuid);

/// Most initial access tokens kept at once.
pub const MAX_INITIAL_TOKENS: usize = 10_000;

fn new_registration(now: i64) -> (SelfRegistration, String) {
    let token = secret::new_secret(REGISTRATION_TOKEN_PREFIX);
    let reg = SelfRegistration {
        token_hash: secret::sha256(token.as_bytes()),
        updated_at: now,
    };
    (reg, token)
}

impl Handler<RegisterClient> for Directory {
    type Result = AtomicResponse<Self, Result<Registered, RegisterError>>;
    fn handle(&mut self, msg: RegisterClient, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let write = (|| -> Result<Registered, RegisterError> {
            if let Some(hash) = msg.initial {
                let tok = self
                    .store
                    .initial_token(&hash)?
                    .ok_or(InitialTokenError::Invalid)?;
                if tok.uses_left == 0 || tok.expires_at <= now {
                    return Err(InitialTokenError::Invalid.into());
                }
                let mut spent = tok.clone();
                spent.uses_left -= 1;
                let next = (spent.uses_left > 0).then_some(&spent);
                if !self.store.replace_initial_token(&tok, next)? {
                    return Err(InitialTokenError::Invalid.into());
                }
            }
            let mut spec = msg.spec;
            spec.first_party = false;
            let (mut client, secret) =
                spec.build(now, self.rules.max_ttl, self.rules.signing_alg)?;
            let (reg, token) = new_registration(now);
            client.registration = Some(reg);
            if !self.store.create_client(&client)? {
                return Err(DirectoryError::Exists(client.client_id).into());
            }
            Ok(Registered {
                client: Arc::new(client),
                secret,
                registration_token: token,
            })
        })();
        let (write, token_error) = match write {
            Ok(v) => (Ok(v), None),
            Err(RegisterError::Directory(e)) => (Err(e), None),
            Err(RegisterError::Token(t)) => (
                Err(DirectoryError::Conflict("initial access token")),
                Some(t),
            ),
        };
        let r = self.commit(write, |view, _, r: &Registered| {
            view.map
                .insert(r.client.client_id.clone(), r.client.clone());
        });
        AtomicResponse::new(Box::pin(r.map(move |r, _, _| match (r, token_error) {
            (Err(_), Some(t)) => Err(RegisterError::Token(t)),
            (r, _) => r.map_err(RegisterError::Directory),
        })))
    }
}

impl Handler<UpdateClient> for Directory {
    type Result = AtomicResponse<Self, Result<Registered, DirectoryError>>;
    fn handle(&mut self, msg: UpdateClient, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let write = (|| {
            let old = self
                .view
                .get(&msg.client_id)
                .ok_or(DirectoryError::NotFound)?;
            if let Some(presented) = msg.with_token {
                let current = old.registration.as_ref().map(|r| r.token_hash);
                if current != Some(presented) {
                    return Err(DirectoryError::NotFound);
                }
            }
            let mut spec = msg.spec;
            spec.client_id = Some(old.client_id.clone());
            if old.registration.is_some() {
                spec.first_party = false;
            }
            let (mut client, fresh_secret) =
                spec.build(now, self.rules.max_ttl, self.rules.signing_alg)?;
            client.created_at = old.created_at;
            let secret = keep_secret(&old, &mut client, fresh_secret);
            let token = match &old.registration {
                Some(_) => {
                    let (reg, token) = new_registration(now);
                    client.registration = Some(reg);
                    Some(token)
                }
                None => None,
            };
            self.store.put_client(&client)?;
            Ok(Registered {
                client: Arc::new(client),
                secret,
                registration_token: token.unwrap_or_default(),
            })
        })();
        AtomicResponse::new(self.commit(write, |view, _, r: &Registered| {
            view.map
                .insert(r.client.client_id.clone(), r.client.clone());
        }))
    }
}

/// Keep the client's secret across a change when the new method still uses
/// one the server can verify; answers the secret to show, if a new one was
/// issued.
fn keep_secret(old: &Client, new: &mut Client, fresh: Option<String>) -> Option<String> {
    let (Some(old_hash), Some(_)) = (old.secret_hash, new.secret_hash) else {
        return fresh;
    };
    let wants_plain = new.token_endpoint_auth_method == Some(TokenAuthMethod::ClientSecretJwt);
    if wants_plain && old.jwt_secret.is_none() {
        // The HMAC key must be the secret itself, which only its hash
        // was kept of: a new one.
        return fresh;
    }
    new.secret_hash = Some(old_hash);
    new.jwt_secret = if wants_plain {
        old.jwt_secret.clone()
    } else {
        None
    };
    None
}

impl Handler<IssueInitialToken> for Directory {
    type Result = AtomicResponse<Self, Result<(InitialToken, String), DirectoryError>>;
    fn handle(&mut self, msg: IssueInitialToken, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let write = (|| {
            if msg.uses == 0 || msg.uses > 1_000_000 {
                return Err(super::invalid("uses", "between 1 and 1000000"));
            }
            if msg.expires_in <= 0 || msg.expires_in > 366 * 86_400 {
                return Err(super::invalid(
                    "expires_in",
                    "between 1 second and 366 days",
                ));
            }
            if let Some(n) = &msg.note {
                if n.len() > 200 || n.chars().any(char::is_control) {
                    return Err(super::invalid("note", "at most 200 printable characters"));
                }
            }
            let live = self
                .store
                .initial_tokens()?
                .into_iter()
                .filter(|t| t.expires_at > now)
                .count();
            if live >= MAX_INITIAL_TOKENS {
                return Err(DirectoryError::Conflict(
                    "too many initial access tokens; revoke some first",
                ));
            }
            let token = secret::new_secret(INITIAL_TOKEN_PREFIX);
            let rec = InitialToken {
                id: uuid::Uuid::new_v4(),
                hash: secret::sha256(token.as_bytes()),
                uses_left: msg.uses,
                uses: msg.uses,
                created_at: now,
                expires_at: now.saturating_add(msg.expires_in),
                note: msg.note,
            };
            self.store.put_initial_token(&rec)?;
            Ok((rec, token))
        })();
        AtomicResponse::new(self.commit(write, |_, _, _| {}))
    }
}

impl Handler<ListInitialTokens> for Directory {
    type Result = Result<Vec<InitialToken>, DirectoryError>;
    fn handle(&mut self, _: ListInitialTokens, _: &mut Self::Context) -> Self::Result {
        let mut v = self.store.initial_tokens()?;
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(v)
    }
}

impl Handler<RevokeInitialToken> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: RevokeInitialToken, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let tok = self
                .store
                .initial_tokens()?
                .into_iter()
                .find(|t| t.id == msg.0)
                .ok_or(DirectoryError::NotFound)?;
            if !self.store.replace_initial_token(&tok, None)? {
                return Err(DirectoryError::NotFound);
            }
            Ok(())
        })();
        AtomicResponse::new(self.commit(write, |_, _, _| {}))
    }
}
