//! OAuth clients: the record, the published view, and the `Directory`
//! messages that change them. What a registration asks for, and its
//! checks, are in `client_spec.rs`.

use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::domain::{GrantType, Scope, TokenFormat};
use crate::secret::{self, prefix, SecretHash};

pub use super::client_spec::ClientSpec;
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
    /// RFC 7591 `token_endpoint_auth_method`; unset on clients registered
    /// before it existed (a secret, Basic or in the body; `none` if public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenAuthMethod>,
    /// The one algorithm the client signs its assertions with, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The client's public keys (a JWK Set), registered by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where the client publishes its JWK Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_secret_jwt` only: the secret itself, the HMAC key of the
    /// client's assertions (the server must hold it to verify them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
    /// RFC 9126 §6: authorization requests must be pushed first.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// OIDC Registration: the one algorithm of this client's request
    /// objects; `none` lets it send unsigned ones. Unset: any asymmetric
    /// algorithm of its keys, never unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// RFC 9701: introspection answers this client as a signed JWT even
    /// without asking (the server's signing algorithm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<String>,
    /// RFC 8705 §2.1.2: what the certificate of a `tls_client_auth` client
    /// must say (exactly one is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth: Option<CertificateName>,
    /// RFC 8705 §3: access tokens are bound to the client's certificate.
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// RFC 7591 §2 human-facing metadata, shown on the consent page.
    #[serde(default, skip_serializing_if = "About::is_empty")]
    pub about: About,
    /// OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The logout token must carry `sid`.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// Set when the client registered itself (RFC 7591): such a client is
    /// never first-party and manages its registration with this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<SelfRegistration>,
}

/// RFC 7591 §2 metadata a person reads: who the client is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

impl About {
    pub fn is_empty(&self) -> bool {
        *self == About::default()
    }
}

/// A self-registered client's RFC 7592 credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfRegistration {
    /// SHA-256 of the registration access token.
    #[serde(with = "hex32")]
    pub token_hash: SecretHash,
    /// When the client registered, or last changed its registration.
    pub updated_at: i64,
}

/// The one name a `tls_client_auth` client's certificate must carry:
/// its subject, or one of its subject alternative names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateName {
    /// RFC 4514 string form.
    SubjectDn(String),
    SanDns(String),
    SanUri(String),
    SanIp(std::net::IpAddr),
    SanEmail(String),
}

impl CertificateName {
    /// The RFC 8705 registration field and its value.
    pub fn field(&self) -> (&'static str, String) {
        match self {
            CertificateName::SubjectDn(v) => ("tls_client_auth_subject_dn", v.clone()),
            CertificateName::SanDns(v) => ("tls_client_auth_san_dns", v.clone()),
            CertificateName::SanUri(v) => ("tls_client_auth_san_uri", v.clone()),
            CertificateName::SanIp(v) => ("tls_client_auth_san_ip", v.to_string()),
            CertificateName::SanEmail(v) => ("tls_client_auth_san_email", v.clone()),
        }
    }
}

/// How a client authenticates at the token, introspection, revocation and
/// PAR endpoints (RFC 7591 §2, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// An HMAC-signed assertion keyed with the client secret (RFC 7523).
    ClientSecretJwt,
    /// An assertion signed with one of the client's registered keys.
    PrivateKeyJwt,
    /// A public client: it only names itself.
    None,
    /// RFC 8705 §2.1: a certificate from a trusted CA, with the
    /// registered subject or SAN.
    TlsClientAuth,
    /// RFC 8705 §2.2: a certificate the client registered in its JWKS.
    SelfSignedTlsClientAuth,
}

impl TokenAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenAuthMethod::ClientSecretPost => "client_secret_post",
            TokenAuthMethod::ClientSecretJwt => "client_secret_jwt",
            TokenAuthMethod::PrivateKeyJwt => "private_key_jwt",
            TokenAuthMethod::None => "none",
            TokenAuthMethod::TlsClientAuth => "tls_client_auth",
            TokenAuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }
    /// Whether the client proves itself with a TLS client certificate.
    pub fn is_mtls(self) -> bool {
        matches!(
            self,
            TokenAuthMethod::TlsClientAuth | TokenAuthMethod::SelfSignedTlsClientAuth
        )
    }
    /// The RFC 8705 methods, which discovery lists only when the server
    /// can see client certificates.
    pub const MTLS: &'static [&'static str] = &["tls_client_auth", "self_signed_tls_client_auth"];
    /// Every method but the RFC 8705 ones ([`TokenAuthMethod::MTLS`]).
    pub const ALL: &'static [&'static str] = &[
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    ];
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
    /// A public client: it cannot keep a credential, so it only names
    /// itself (`none`).
    pub fn is_public(&self) -> bool {
        match self.token_endpoint_auth_method {
            Some(m) => m == TokenAuthMethod::None,
            None => self.secret_hash.is_none(),
        }
    }
    /// Whether `used` is how this client may authenticate. A client
    /// registered without a method takes a secret either way.
    pub fn accepts(&self, used: TokenAuthMethod) -> bool {
        use TokenAuthMethod as M;
        match self.token_endpoint_auth_method {
            Some(m) => m == used,
            None if self.secret_hash.is_none() => used == M::None,
            None => matches!(used, M::ClientSecretBasic | M::ClientSecretPost),
        }
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
            let (client, secret) =
                msg.0
                    .build(self.clock.now(), self.rules.max_ttl, self.rules.signing_alg)?;
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
            if c.secret_hash.is_none() {
                return Err(invalid(
                    "client_id",
                    "this client has no secret (public, private_key_jwt or a certificate client)",
                ));
            }
            let secret = secret::new_secret(prefix::CLIENT_SECRET);
            c.secret_hash = Some(secret::sha256(secret.as_bytes()));
            if c.jwt_secret.is_some() {
                c.jwt_secret = Some(secret.clone());
            }
            self.store.put_client(&c)?;
            Ok((Arc::new(c), secret))
        })();
        let r = self.commit(write, |view, _, (c, _)| {
            view.map.insert(c.client_id.clone(), c.clone());
        });
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|(_, s)| s))))
    }
}

pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::secret::b64url(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        crate::secret::b64url_decode(&s)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("bad hash"))
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
