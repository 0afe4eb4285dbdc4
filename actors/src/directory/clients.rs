//! OAuth clients: the record, its registration spec, the published view,
//! and the `Directory` messages that change them.

use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::domain::{valid_audience, GrantType, Scope, TokenFormat};
use crate::secret::{self, prefix, SecretHash};

use super::{invalid, Directory, DirectoryError};

/// A registered OAuth client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret; `None` for public clients.
    #[serde(with = "opt_hex")]
    pub secret_hash: Option<SecretHash>,
    pub grant_types: Vec<GrantType>,
    pub scope: Scope,
    /// Audiences this client may ask tokens for (`audience`/`resource`).
    pub audiences: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A resource server that may introspect every token.
    pub introspect_any: bool,
    /// Audiences this client answers to as a resource server: it may
    /// introspect tokens whose `aud` names one of them (or its own id).
    pub introspect_audiences: Vec<String>,
    pub access_token_format: Option<TokenFormat>,
    /// Access token lifetime override, seconds.
    pub access_token_ttl: Option<i64>,
    pub first_party: bool,
    pub allow_plain_pkce: bool,
    pub created_at: i64,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// This client's DPoP proofs must carry a server nonce.
    #[serde(default)]
    pub dpop_require_nonce: bool,
    /// RFC 8693: what this client may do with the token exchange grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<ExchangePolicy>,
}

/// A client's token exchange policy (RFC 8693 §2.1: the server decides).
/// An exchanged token never exceeds its subject token's scope or lifetime;
/// this says which audiences beyond the subject token's it may name and
/// what else the client may ask for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExchangePolicy {
    /// Audiences the client may exchange to, besides the subject token's.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Exchange without an actor token: the new token names no actor, so
    /// the client acts as the subject (impersonation).
    #[serde(default)]
    pub impersonation: bool,
    /// Ask for a refresh token (`requested_token_type=...:refresh_token`).
    #[serde(default)]
    pub refresh_tokens: bool,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
    pub fn allows(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }
    /// Whether this client, introspecting, may see a token issued to
    /// `token_client` for audiences `aud`.
    pub fn may_introspect(&self, token_client: &str, aud: &[Arc<str>]) -> bool {
        self.introspect_any
            || token_client == self.client_id
            || aud.iter().any(|a| {
                a.as_ref() == self.client_id
                    || self.introspect_audiences.iter().any(|x| x == a.as_ref())
            })
    }
}

/// What an administrator asks for when creating a client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Chosen id; generated (`tes_cl_...`) when absent.
    pub client_id: Option<String>,
    pub name: Option<String>,
    /// Public clients have no secret and authenticate with `none`.
    #[serde(default)]
    pub public: bool,
    pub grant_types: Option<Vec<GrantType>>,
    pub scope: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub introspect_any: bool,
    #[serde(default)]
    pub introspect_audiences: Vec<String>,
    pub access_token_format: Option<TokenFormat>,
    pub access_token_ttl: Option<i64>,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub allow_plain_pkce: bool,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    #[serde(default)]
    pub dpop_require_nonce: bool,
    pub token_exchange: Option<ExchangePolicy>,
}

impl ClientSpec {
    /// Validate and turn into a client record plus the secret to show once.
    pub fn build(self, now: i64, max_ttl: i64) -> Result<(Client, Option<String>), DirectoryError> {
        let client_id = match self.client_id {
            Some(id) => {
                if !crate::domain::valid_client_id(&id) {
                    return Err(invalid("client_id", "1-128 characters of [A-Za-z0-9-._~]"));
                }
                id
            }
            None => secret::new_id(prefix::CLIENT_ID),
        };
        let name = self.name.unwrap_or_else(|| client_id.clone());
        if name.len() > 200 || name.chars().any(char::is_control) {
            return Err(invalid("name", "at most 200 printable characters"));
        }
        let grant_types = self.grant_types.unwrap_or_else(|| {
            if self.public {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                vec![GrantType::ClientCredentials]
            }
        });
        if self.public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(invalid(
                "grant_types",
                "a public client cannot use client_credentials",
            ));
        }
        let scope =
            Scope::parse(self.scope.as_deref().unwrap_or("")).map_err(|e| invalid("scope", e.0))?;
        let exchange_audiences = self.token_exchange.iter().flat_map(|p| &p.audiences);
        for a in self
            .audiences
            .iter()
            .chain(&self.introspect_audiences)
            .chain(exchange_audiences)
        {
            if !valid_audience(a) {
                return Err(invalid(
                    "audiences",
                    format!("{a:?} is not a valid audience"),
                ));
            }
        }
        for u in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if u.is_empty()
                || u.len() > 2048
                || u.contains('#')
                || !(u.starts_with("https://") || u.starts_with("http://") || u.contains(":/"))
            {
                return Err(invalid(
                    "redirect_uris",
                    format!("{u:?} is not an absolute URI without fragment"),
                ));
            }
        }
        for u in &self.redirect_uris {
            crate::domain::registrable_redirect(u).map_err(|m| invalid("redirect_uris", m))?;
        }
        // A code is only ever delivered to a registered redirect URI: a
        // code-flow client without one could never complete a login.
        if grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "an authorization_code client needs at least one redirect URI",
            ));
        }
        if let Some(ttl) = self.access_token_ttl {
            if ttl <= 0 || ttl > max_ttl {
                return Err(invalid(
                    "access_token_ttl",
                    format!("between 1 and {max_ttl} seconds"),
                ));
            }
        }
        let secret = (!self.public).then(|| secret::new_secret(prefix::CLIENT_SECRET));
        let client = Client {
            client_id,
            name,
            secret_hash: secret.as_ref().map(|s| secret::sha256(s.as_bytes())),
            grant_types,
            scope,
            audiences: self.audiences,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            introspect_any: self.introspect_any,
            introspect_audiences: self.introspect_audiences,
            access_token_format: self.access_token_format,
            access_token_ttl: self.access_token_ttl,
            first_party: self.first_party,
            allow_plain_pkce: self.allow_plain_pkce,
            created_at: now,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            dpop_require_nonce: self.dpop_require_nonce,
            token_exchange: self.token_exchange,
        };
        Ok((client, secret))
    }
}

/// The published read view of clients.
#[derive(Default)]
pub struct ClientsView {
    pub(super) map: DashMap<String, Arc<Client>>,
}

impl ClientsView {
    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.map.get(id).map(|c| c.value().clone())
    }
    pub fn list(&self) -> Vec<Arc<Client>> {
        let mut v: Vec<Arc<Client>> = self.map.iter().map(|e| e.value().clone()).collect();
        v.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.client_id.cmp(&b.client_id))
        });
        v
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Register a client. Answers the record and, for confidential clients,
/// the secret (shown this once; only its hash is kept).
#[derive(Message)]
#[rtype(result = "Result<(Arc<Client>, Option<String>), DirectoryError>")]
pub struct CreateClient(pub ClientSpec);

#[derive(Message)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct DeleteClient(pub String);

/// Issue a new secret for a confidential client; the old one stops working.
#[derive(Message)]
#[rtype(result = "Result<String, DirectoryError>")]
pub struct RotateClientSecret(pub String);

impl Handler<CreateClient> for Directory {
    type Result = AtomicResponse<Self, Result<(Arc<Client>, Option<String>), DirectoryError>>;
    fn handle(&mut self, msg: CreateClient, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let (client, secret) = msg.0.build(self.clock.now(), self.max_ttl)?;
            // Conditional: of two creates of one id, exactly one wins.
            if !self.store.create_client(&client)? {
                return Err(DirectoryError::Exists(client.client_id));
            }
            Ok((Arc::new(client), secret))
        })();
        AtomicResponse::new(self.commit(write, |view, _, (c, _)| {
            view.map.insert(c.client_id.clone(), c.clone());
        }))
    }
}

impl Handler<DeleteClient> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: DeleteClient, _: &mut Self::Context) -> Self::Result {
        let id = msg.0;
        let write = match self.store.delete_client(&id) {
            Ok(true) => Ok(id),
            Ok(false) => Err(DirectoryError::NotFound),
            Err(e) => Err(e.into()),
        };
        let r = self.commit(write, |view, _, id: &String| {
            view.map.remove(id);
        });
        // Map the id back to unit for the caller.
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|_| ()))))
    }
}

impl Handler<RotateClientSecret> for Directory {
    type Result = AtomicResponse<Self, Result<String, DirectoryError>>;
    fn handle(&mut self, msg: RotateClientSecret, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let mut c = (*self.view.get(&msg.0).ok_or(DirectoryError::NotFound)?).clone();
            if c.is_public() {
                return Err(invalid("client_id", "a public client has no secret"));
            }
            let secret = secret::new_secret(prefix::CLIENT_SECRET);
            c.secret_hash = Some(secret::sha256(secret.as_bytes()));
            self.store.put_client(&c)?;
            Ok((Arc::new(c), secret))
        })();
        let r = self.commit(write, |view, _, (c, _)| {
            view.map.insert(c.client_id.clone(), c.clone());
        });
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|(_, s)| s))))
    }
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&crate::secret::b64url(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        let o: Option<String> = Option::deserialize(d)?;
        match o {
            None => Ok(None),
            Some(s) => {
                let bytes = crate::secret::b64url_decode(&s)
                    .ok_or_else(|| serde::de::Error::custom("bad base64"))?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| serde::de::Error::custom("bad hash length"))?;
                Ok(Some(arr))
            }
        }
    }
}
