//! JOSE for keys that clients register: public JWKs and JWK Sets checked
//! and parsed once, and compact JWS verification against them (client
//! assertions, RFC 7523; request objects, RFC 9101) or against a client
//! secret (`client_secret_jwt`).
//!
//! - `jwk.rs` — one public key against one algorithm, thumbprints.
//! - here — key sets and signature checks.
//!
//! The algorithm is taken from the key: a token's `alg` must be one the
//! key's type can verify (and the key's own `alg`, when it names one), so
//! a public key never verifies an HMAC and nothing verifies `none`.
//! Headers that carry or point at a key (`jwk`, `jku`, `x5c`, `x5u`) are
//! refused: the client's registered keys are the only ones.

pub mod claims;
mod jwk;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::secret::b64url_decode;

pub use jwk::{key_bytes, thumbprint, Alg, JwkError, KeyBytes, RsaAlg, ASYMMETRIC};

/// Longest JWS looked at.
pub const MAX_JWS_LEN: usize = 16 * 1024;
/// Most keys a registered set may hold.
pub const MAX_KEYS: usize = 20;
/// HMAC algorithms (`client_secret_jwt` only).
pub const HMAC: &[&str] = &["HS256", "HS384", "HS512"];

/// One verification key of a set, parsed for each algorithm it may verify.
struct SetKey {
    kid: Option<String>,
    verifiers: Vec<(Alg, ParsedPublicKey)>,
    /// The DER of the key's certificate (`x5c[0]`), if the key has one:
    /// what a `self_signed_tls_client_auth` client presents (RFC 8705 §2.2).
    cert: Option<Vec<u8>>,
}

/// A client's public signing keys.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<SetKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.kid))
            .finish()
    }
}

fn str_member<'a>(v: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// One key of a set: `Ok(None)` for a key that is not for signatures.
fn set_key(v: &Value) -> Result<Option<SetKey>, String> {
    let k = v.as_object().ok_or("a key is not a JSON object")?;
    if let Some(u) = k.get("use") {
        match u.as_str() {
            Some("sig") => {}
            Some("enc") => return Ok(None),
            _ => return Err("a key's use must be sig or enc".into()),
        }
    }
    match str_member(k, "kty") {
        Some("oct") => return Err("symmetric (oct) keys cannot be registered".into()),
        Some("RSA" | "EC" | "OKP") => {}
        _ => return Err("a key's kty must be RSA, EC or OKP".into()),
    }
    let algs = match str_member(k, "alg") {
        Some(name) => {
            let alg = Alg::parse(name)
                .ok_or_else(|| format!("{name:?} is not an accepted signature algorithm"))?;
            if !Alg::for_key(k).contains(&alg) {
                return Err(format!("a key's alg {name} does not fit its type"));
            }
            vec![alg]
        }
        None => Alg::for_key(k),
    };
    if algs.is_empty() {
        return Err("a key's curve is not supported (P-256, P-384, Ed25519)".into());
    }
    let mut verifiers = Vec::with_capacity(algs.len());
    for alg in algs {
        let (bytes, _) = key_bytes(k, alg).map_err(|e| e.to_string())?;
        verifiers.push((alg, bytes.parse().map_err(|e| e.to_string())?));
    }
    let kid = match k.get("kid") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => Some(s.clone()),
        Some(_) => return Err("a key's kid must be a string of 1 to 256 characters".into()),
    };
    // RFC 7517 §4.7: standard base64 DER, the key's own certificate first.
    let cert = match k.get("x5c") {
        None => None,
        Some(v) => {
            use base64::Engine as _;
            let first = v
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .ok_or("a key's x5c must be an array of base64 certificates")?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(first)
                .map_err(|_| "a key's x5c must be an array of base64 certificates")?;
            Some(der)
        }
    };
    Ok(Some(SetKey {
        kid,
        verifiers,
        cert,
    }))
}

impl KeySet {
    /// A set a client registers: every key must be a valid public key;
    /// keys for encryption are left out. Errors say what is wrong.
    pub fn parse_strict(jwks: &Value) -> Result<KeySet, String> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("a JWK Set is an object with a keys array")?;
        if keys.len() > MAX_KEYS {
            return Err(format!("at most {MAX_KEYS} keys"));
        }
        let mut out = Vec::new();
        for k in keys {
            if let Some(k) = set_key(k)? {
                out.push(k);
            }
        }
        if out.is_empty() {
            return Err("the JWK Set has no signature key".into());
        }
        Ok(KeySet { keys: out })
    }

    /// A set fetched from a client's `jwks_uri`: keys that cannot be used
    /// are left out, so one odd key does not lock the client out.
    pub fn parse_lenient(jwks: &Value) -> KeySet {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .take(MAX_KEYS)
                    .filter_map(|k| set_key(k).ok().flatten())
                    .collect()
            })
            .unwrap_or_default();
        KeySet { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The certificates (DER) the keys carry in `x5c`.
    pub fn certificates(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().filter_map(|k| k.cert.as_deref())
    }

    /// Whether a key of this set has `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verify a compact JWS signed by a key of this set. `pinned` is the
    /// one algorithm the client registered, if it did.
    pub fn verify(&self, token: &str, pinned: Option<Alg>) -> Result<Verified, JwsError> {
        let parts = split(token)?;
        let alg = Alg::parse(&parts.header.alg).ok_or(JwsError::Algorithm)?;
        if pinned.is_some_and(|p| p != alg) {
            return Err(JwsError::NotRegisteredAlg);
        }
        let candidates: Vec<&SetKey> = match &parts.header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect(),
            None => self.keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err(JwsError::UnknownKid);
        }
        let mut fits = false;
        for key in candidates {
            for (a, verifier) in &key.verifiers {
                if *a != alg {
                    continue;
                }
                fits = true;
                if verifier
                    .verify_sig(parts.signed.as_bytes(), &parts.signature)
                    .is_ok()
                {
                    return parts.verified(alg.name());
                }
            }
        }
        Err(if fits {
            JwsError::Signature
        } else {
            JwsError::KeyAlgorithm
        })
    }
}

/// Verify a compact JWS made with an HMAC of `secret` (`client_secret_jwt`).
pub fn verify_hmac(token: &str, secret: &[u8], pinned: Option<&str>) -> Result<Verified, JwsError> {
    let parts = split(token)?;
    let alg = match parts.header.alg.as_str() {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => return Err(JwsError::Algorithm),
    };
    if pinned.is_some_and(|p| p != parts.header.alg) {
        return Err(JwsError::NotRegisteredAlg);
    }
    let key = hmac::Key::new(alg, secret);
    hmac::verify(&key, parts.signed.as_bytes(), &parts.signature)
        .map_err(|_| JwsError::Signature)?;
    let name = parts.header.alg.clone();
    parts.verified(&name)
}

/// A JWS whose signature verified.
#[derive(Debug)]
pub struct Verified {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
}

/// Why a JWS was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("the header carries or points at a key")]
    KeyHeader,
    #[error("the alg is not an accepted signature algorithm")]
    Algorithm,
    #[error("the alg is not the one the client registered")]
    NotRegisteredAlg,
    #[error("no registered key has this kid")]
    UnknownKid,
    #[error("no registered key can verify this alg")]
    KeyAlgorithm,
    #[error("the signature does not verify")]
    Signature,
    #[error("the claims are not a JSON object")]
    Claims,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    jwk: Option<Value>,
    jku: Option<Value>,
    x5c: Option<Value>,
    x5u: Option<Value>,
    crit: Option<Value>,
}

struct Parts<'a> {
    header: Header,
    signed: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

impl Parts<'_> {
    fn verified(self, alg: &str) -> Result<Verified, JwsError> {
        let claims: Map<String, Value> = b64url_decode(self.payload)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwsError::Claims)?;
        Ok(Verified {
            alg: alg.to_string(),
            typ: self.header.typ,
            kid: self.header.kid,
            claims,
        })
    }
}

fn split(token: &str) -> Result<Parts<'_>, JwsError> {
    if token.is_empty() || token.len() > MAX_JWS_LEN {
        return Err(JwsError::Malformed);
    }
    let (signed, signature) = token.rsplit_once('.').ok_or(JwsError::Malformed)?;
    let (h, payload) = signed.split_once('.').ok_or(JwsError::Malformed)?;
    if payload.contains('.') {
        return Err(JwsError::Malformed);
    }
    let header: Header = b64url_decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwsError::Malformed)?;
    if header.jwk.is_some() || header.jku.is_some() || header.x5c.is_some() || header.x5u.is_some()
    {
        return Err(JwsError::KeyHeader);
    }
    // RFC 7515 §4.1.11: no extension is understood, so none may be critical.
    if header.crit.is_some() {
        return Err(JwsError::Malformed);
    }
    let signature = b64url_decode(signature).ok_or(JwsError::Malformed)?;
    Ok(Parts {
        header,
        signed,
        payload,
        signature,
    })
}

/// Peek at a JWS header's `alg` and `kid` without verifying anything
/// (to choose between a secret and keys, or to refetch keys on an unknown
/// `kid`).
pub fn peek_header(token: &str) -> Result<(String, Option<String>), JwsError> {
    split(token).map(|p| (p.header.alg, p.header.kid))
}

/// Peek at unverified claims (to learn which client a JWT claims to come
/// from before its keys are known). Nothing read here may be trusted.
pub fn peek_claims(token: &str) -> Option<Map<String, Value>> {
    let p = split(token).ok()?;
    b64url_decode(p.payload).and_then(|b| serde_json::from_slice(&b).ok())
}

#[cfg(test)]
mod tests;
