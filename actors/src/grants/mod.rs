//! Grant types, one file each. Each turns an authenticated client and its
//! request parameters into a token response, recording what it issues.

pub mod authorization_code;
pub mod claims;
pub mod client_credentials;
pub mod device_code;
pub mod first_party;
pub mod id_token;
pub mod refresh_token;
pub mod token_exchange;
pub mod user_tokens;

use std::sync::Arc;

use serde::Serialize;

use crate::directory::Client;
use crate::domain::{valid_audience, Scope, TokenFormat};
use crate::engine::Engine;
use crate::introspection::Cnf;
use crate::keys::JwtType;
use crate::oauth::{ErrorCode, OAuthError};
use crate::secret::{self, prefix};
use crate::tokens::{Act, Grant, NewToken, Record, TokenKind};

/// RFC 9068 access token claims.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: Aud<'a>,
    client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    jti: uuid::fmt::Hyphenated,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    /// Grant family: lets a token whose record was lost still die with its grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    fam: Option<uuid::fmt::Hyphenated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<uuid::fmt::Hyphenated>,
    /// RFC 9449 §6.1: the key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf<&'a str>>,
    /// RFC 8693 §4.1: the actor chain of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Act>,
    /// The tokens an exchanged token came from: its introspection checks
    /// them, so revoking one revokes it even without its record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    anc: Vec<uuid::fmt::Hyphenated>,
}

/// `aud` is a string when there is one audience, an array otherwise.
#[derive(Debug)]
struct Aud<'a>(&'a [Arc<str>]);

impl Serialize for Aud<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

/// The scope a request ends up with: the requested one if it is within what
/// the client may have, all of it when none is asked for.
pub fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, OAuthError> {
    match requested {
        None => Ok(client.scope.clone()),
        Some(s) => {
            let scope = Scope::parse(s).map_err(|e| OAuthError::invalid_scope(e.0))?;
            if !scope.is_subset_of(&client.scope) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds what the client may request",
                ));
            }
            Ok(scope)
        }
    }
}

/// The audiences a request ends up with (RFC 8707 `resource` / `audience`):
/// each requested one must be registered for the client; none requested
/// means every registered one, or the client itself when it has none.
pub fn granted_audience(
    client: &Client,
    requested: &[String],
) -> Result<Vec<Arc<str>>, OAuthError> {
    if requested.is_empty() {
        if client.audiences.is_empty() {
            return Ok(vec![Arc::from(client.client_id.as_str())]);
        }
        return Ok(client
            .audiences
            .iter()
            .map(|a| Arc::from(a.as_str()))
            .collect());
    }
    let mut out: Vec<Arc<str>> = Vec::new();
    for a in requested {
        if !valid_audience(a) || !client.audiences.iter().any(|x| x == a) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested audience is not registered for this client",
            ));
        }
        if !out.iter().any(|x| x.as_ref() == a) {
            out.push(Arc::from(a.as_str()));
        }
    }
    Ok(out)
}

/// RFC 8707 §2.2: an access token for some of the resources a grant
/// covers. Nothing requested: all of them.
pub fn narrowed_audience(
    granted: &[Arc<str>],
    requested: &[String],
) -> Result<Vec<Arc<str>>, OAuthError> {
    let mut out: Vec<Arc<str>> = Vec::new();
    for r in requested {
        let Some(a) = granted.iter().find(|g| g.as_ref() == r) else {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested resource is not one this grant covers",
            ));
        };
        if !out.contains(a) {
            out.push(a.clone());
        }
    }
    if out.is_empty() {
        return Ok(granted.to_vec());
    }
    Ok(out)
}

/// Mint one access token for `grant`, record it, and answer it with its
/// lifetime. JWTs are signed on the calling thread with the published key.
pub async fn mint_access_token(
    engine: &Engine,
    client: &Client,
    grant: Grant,
    family: u128,
    grant_type: &'static str,
) -> Result<(String, i64), OAuthError> {
    mint_access_token_with(engine, client, grant, family, grant_type, Mint::default()).await
}

/// What a grant may change about the access token it mints.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mint {
    /// The token may not outlive this (an exchanged token, its subject).
    pub not_after: Option<i64>,
    /// This format whatever the client's (an exchange asking for a JWT).
    pub format: Option<TokenFormat>,
}

/// [`mint_access_token`] with a bounded lifetime or a given format.
pub async fn mint_access_token_with(
    engine: &Engine,
    client: &Client,
    grant: Grant,
    family: u128,
    grant_type: &'static str,
    mint: Mint,
) -> Result<(String, i64), OAuthError> {
    let now = engine.clock.now();
    let mut ttl = client
        .access_token_ttl
        .unwrap_or(engine.config.access_token_ttl);
    if let Some(limit) = mint.not_after {
        ttl = ttl.min(limit.saturating_sub(now));
        if ttl <= 0 {
            return Err(OAuthError::invalid_grant("the subject token has expired"));
        }
    }
    let exp = now.saturating_add(ttl);
    let jti = uuid::Uuid::new_v4();
    let format = mint.format.unwrap_or(
        client
            .access_token_format
            .unwrap_or(engine.config.access_token_format),
    );
    let token = match format {
        TokenFormat::Jwt => {
            let signer = engine
                .keys
                .signer()
                .ok_or_else(|| OAuthError::unavailable("no signing key is loaded yet"))?;
            let claims = AccessClaims {
                iss: &engine.config.issuer,
                sub: &grant.sub,
                aud: Aud(&grant.aud),
                client_id: &grant.client_id,
                scope: &grant.scope,
                jti: jti.hyphenated(),
                iat: now,
                nbf: now,
                exp,
                username: grant.username.as_deref(),
                fam: (family != 0).then(|| uuid::Uuid::from_u128(family).hyphenated()),
                sid: grant.sid.map(|s| s.hyphenated()),
                cnf: Cnf::of(&grant),
                act: grant.act.as_deref(),
                anc: grant
                    .anc
                    .iter()
                    .map(|a| uuid::Uuid::from_u128(*a).hyphenated())
                    .collect(),
            };
            signer
                .sign(JwtType::AccessToken, &claims)
                .map_err(|e| OAuthError::server_error(e.to_string()))?
        }
        TokenFormat::Opaque => secret::new_secret(prefix::ACCESS_TOKEN),
    };
    let record = NewToken {
        key: secret::token_key(&token),
        jti: jti.as_u128(),
        family,
        iat: now,
        exp,
        kind: TokenKind::AccessToken,
        grant,
    };
    // An opaque token exists nowhere but in the store: wait for the disk.
    engine
        .issuer
        .send(Record {
            tokens: vec![record],
            durable: format == TokenFormat::Opaque,
        })
        .await??;
    let format_label = match format {
        TokenFormat::Jwt => "jwt",
        TokenFormat::Opaque => "opaque",
    };
    metrics::counter!("tessera_tokens_issued_total", "kind" => "access_token", "grant" => grant_type, "format" => format_label)
        .increment(1);
    Ok((token, ttl))
}
