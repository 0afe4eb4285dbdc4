//! OIDC Core §2 ID tokens.

use serde::Serialize;

use crate::directory::User;
use crate::domain::Scope;
use crate::engine::Engine;
use crate::keys::{JwtType, KeyAlg};
use crate::oauth::OAuthError;
use crate::secret::b64url;

#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
    /// The authentication's class (`pwd` or `mfa`, see `claims`).
    acr: &'static str,
    #[serde(flatten)]
    profile: UserClaims<'a>,
}

/// Claims about the user released by scope (OIDC Core §5.4); shared by the
/// ID token and userinfo.
#[derive(Debug, Serialize, Default)]
pub struct UserClaims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl<'a> UserClaims<'a> {
    pub fn for_scope(user: &'a User, scope: &Scope) -> UserClaims<'a> {
        let mut c = UserClaims::default();
        if scope.contains("profile") {
            c.preferred_username = Some(&user.username);
            c.name = user.name.as_deref();
            c.given_name = user.given_name.as_deref();
            c.family_name = user.family_name.as_deref();
            c.updated_at = Some(user.updated_at);
        }
        if scope.contains("email") {
            c.email = Some(&user.email);
            c.email_verified = Some(user.email_verified);
        }
        c
    }

    /// The claims `scope` releases, and the individually requested
    /// `extra` ones (OIDC Core §5.5) the user has.
    pub fn released(user: &'a User, scope: &Scope, extra: &[String]) -> UserClaims<'a> {
        let mut c = UserClaims::for_scope(user, scope);
        for claim in extra {
            match claim.as_str() {
                "preferred_username" => c.preferred_username = Some(&user.username),
                "name" => c.name = user.name.as_deref(),
                "given_name" => c.given_name = user.given_name.as_deref(),
                "family_name" => c.family_name = user.family_name.as_deref(),
                "updated_at" => c.updated_at = Some(user.updated_at),
                "email" => c.email = Some(&user.email),
                "email_verified" => c.email_verified = Some(user.email_verified),
                _ => {}
            }
        }
        c
    }
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, with
/// the hash of the signing algorithm (SHA-512 for Ed25519).
pub fn at_hash(alg: KeyAlg, access_token: &str) -> String {
    use aws_lc_rs::digest::{digest, SHA256, SHA512};
    let d = match alg {
        KeyAlg::RS256 | KeyAlg::ES256 => digest(&SHA256, access_token.as_bytes()),
        KeyAlg::EdDSA => digest(&SHA512, access_token.as_bytes()),
    };
    let bytes = d.as_ref();
    b64url(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

pub struct IdTokenInput<'a> {
    pub client_id: &'a str,
    pub user: &'a User,
    pub scope: &'a Scope,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub sid: Option<uuid::Uuid>,
    pub amr: &'a [String],
    pub access_token: Option<&'a str>,
}

pub fn mint(engine: &Engine, input: IdTokenInput<'_>) -> Result<String, OAuthError> {
    mint_with(engine, input, &[])
}

/// [`mint`], also releasing the individually requested claims `extra`
/// (OIDC Core §5.5) the user has.
pub fn mint_with(
    engine: &Engine,
    input: IdTokenInput<'_>,
    extra: &[String],
) -> Result<String, OAuthError> {
    let signer = engine
        .keys
        .signer()
        .ok_or_else(|| OAuthError::unavailable("no signing key is loaded yet"))?;
    let now = engine.clock.now();
    let claims = IdClaims {
        iss: &engine.config.issuer,
        sub: input.user.id.to_string(),
        aud: input.client_id,
        azp: input.client_id,
        exp: now.saturating_add(engine.config.id_token_ttl),
        iat: now,
        auth_time: input.auth_time,
        nonce: input.nonce,
        at_hash: input.access_token.map(|t| at_hash(signer.alg, t)),
        sid: input.sid.map(|s| s.to_string()),
        amr: input.amr,
        acr: super::claims::acr_of(input.amr),
        profile: UserClaims::released(input.user, input.scope, extra),
    };
    let t = signer
        .sign(JwtType::Jwt, &claims)
        .map_err(|e| OAuthError::server_error(e.to_string()))?;
    metrics::counter!("tessera_tokens_issued_total", "kind" => "id_token", "grant" => "authorization_code", "format" => "jwt")
        .increment(1);
    Ok(t)
}
