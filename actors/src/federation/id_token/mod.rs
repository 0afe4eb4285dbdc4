//! Verification of an upstream provider's ID token (OIDC Core §3.1.3.7)
//! against its JWK Set.
//!
//! The algorithm comes from the key, never from the token header: RSA keys
//! verify `RS256`, P-256 keys `ES256`, Ed25519 keys `EdDSA`. Symmetric
//! (`oct`) keys are never loaded, so `HS*` and `none` cannot verify. Headers
//! that carry or point at a key (`jku`, `x5u`, `jwk`, `x5c`) are refused.
//! Times are checked against the engine clock with the provider's leeway.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// Longest ID token accepted, bytes.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

/// Why an upstream ID token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("the header carries or points at a key")]
    KeyHeader,
    #[error("no key in the provider's JWKS has this kid")]
    UnknownKid,
    #[error("the algorithm does not match the key")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer")]
    Issuer,
    #[error("the audience does not name this client")]
    Audience,
    #[error("wrong authorized party")]
    AuthorizedParty,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("nonce mismatch")]
    Nonce,
    #[error("a required claim is missing")]
    MissingClaim,
}

/// One usable verification key of a provider.
pub struct UpstreamKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    key: DecodingKey,
}

/// A provider's signing keys, parsed from its JWK Set. Keys that are not
/// for signatures, of an unknown type, or whose `alg` does not fit their
/// type are left out.
#[derive(Default)]
pub struct UpstreamKeys {
    keys: Vec<UpstreamKey>,
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl UpstreamKeys {
    pub fn parse(jwks: &Value) -> UpstreamKeys {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(parse_key).collect())
            .unwrap_or_default();
        UpstreamKeys { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key named by `kid`; without a `kid`, the only key there is.
    pub fn find(&self, kid: Option<&str>) -> Option<&UpstreamKey> {
        match kid {
            Some(k) => self.keys.iter().find(|key| key.kid.as_deref() == Some(k)),
            None => match self.keys.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        }
    }
}

fn parse_key(v: &Value) -> Option<UpstreamKey> {
    if let Some(u) = str_field(v, "use") {
        if u != "sig" {
            return None;
        }
    }
    let (alg, key) = match (str_field(v, "kty")?, str_field(v, "crv")) {
        ("RSA", _) => (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(str_field(v, "n")?, str_field(v, "e")?).ok()?,
        ),
        ("EC", Some("P-256")) => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(str_field(v, "x")?, str_field(v, "y")?).ok()?,
        ),
        ("OKP", Some("Ed25519")) => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(str_field(v, "x")?).ok()?,
        ),
        _ => return None,
    };
    // A key that names another algorithm than its type allows is not used.
    if let Some(a) = str_field(v, "alg") {
        let named = match a {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            _ => return None,
        };
        if named != alg {
            return None;
        }
    }
    Some(UpstreamKey {
        kid: str_field(v, "kid").map(str::to_string),
        alg,
        key,
    })
}

/// What the ID token must say.
pub struct Expected<'a> {
    /// The configured issuer, compared byte for byte.
    pub issuer: &'a str,
    /// Our client id at the provider.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Now, from the engine clock.
    pub now: i64,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: i64,
}

/// The header checks that need no key: compact form, a supported
/// algorithm, no key-carrying headers. Answers the `kid`, if any.
pub fn header_kid(token: &str) -> Result<Option<String>, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(IdTokenError::Malformed);
    }
    // `alg: none` and unknown algorithms fail to parse here.
    let h = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if h.jku.is_some() || h.x5u.is_some() || h.jwk.is_some() || h.x5c.is_some() {
        return Err(IdTokenError::KeyHeader);
    }
    if !matches!(
        h.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(IdTokenError::Algorithm);
    }
    Ok(h.kid)
}

fn num(claims: &Map<String, Value>, k: &str) -> Option<i64> {
    claims.get(k).and_then(|v| match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    })
}

/// Verify `token` with `keys`; answers its claims.
pub fn verify(
    token: &str,
    keys: &UpstreamKeys,
    exp: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let kid = header_kid(token)?;
    let key = keys.find(kid.as_deref()).ok_or(IdTokenError::UnknownKid)?;
    let header_alg = jsonwebtoken::decode_header(token)
        .map_err(|_| IdTokenError::Malformed)?
        .alg;
    if header_alg != key.alg {
        return Err(IdTokenError::Algorithm);
    }
    let mut v = jsonwebtoken::Validation::new(key.alg);
    // Every claim is checked below, against the engine clock.
    v.leeway = 0;
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v)
        .map_err(|_| IdTokenError::Signature)?
        .claims;
    check_claims(&claims, exp)?;
    Ok(claims)
}

fn check_claims(c: &Map<String, Value>, e: &Expected<'_>) -> Result<(), IdTokenError> {
    match c.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == e.issuer => {}
        Some(_) => return Err(IdTokenError::Issuer),
        None => return Err(IdTokenError::MissingClaim),
    }
    if !c
        .get("sub")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty() && s.len() <= 255)
    {
        return Err(IdTokenError::MissingClaim);
    }
    let aud: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(IdTokenError::MissingClaim),
    };
    if !aud.contains(&e.client_id) {
        return Err(IdTokenError::Audience);
    }
    match c.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != e.client_id => return Err(IdTokenError::AuthorizedParty),
        None if aud.len() > 1 => return Err(IdTokenError::AuthorizedParty),
        _ => {}
    }
    let expires = num(c, "exp").ok_or(IdTokenError::MissingClaim)?;
    if expires.saturating_add(e.leeway) <= e.now {
        return Err(IdTokenError::Expired);
    }
    let iat = num(c, "iat").ok_or(IdTokenError::MissingClaim)?;
    if iat > e.now.saturating_add(e.leeway) {
        return Err(IdTokenError::IssuedInFuture);
    }
    if let Some(nbf) = num(c, "nbf") {
        if nbf > e.now.saturating_add(e.leeway) {
            return Err(IdTokenError::NotYetValid);
        }
    }
    let nonce = c.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            nonce.as_bytes(),
            e.nonce.as_bytes(),
        ))
    {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}
#[cfg(test)]
mod tests;
