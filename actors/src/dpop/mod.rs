//! DPoP (RFC 9449): proof checks, key thumbprints (RFC 7638), server
//! nonces, and the single use of each proof.
//!
//! A proof is a JWT signed by the key in its own header. The checks of
//! §4.3 run here in order, each failing with a reason the caller turns
//! into `invalid_dpop_proof`: compact form, `typ: dpop+jwt`, an asymmetric
//! algorithm of [`ALGS`], a public key that fits the algorithm (a header
//! with private members is refused), the signature, `htm`, `htu` (without
//! query and fragment), `iat` within the window, `ath` where a token is
//! presented, and the server's nonce where one is demanded. Single use is
//! last, in [`Dpop::claim`], so that a refused proof costs no memory.
//!
//! Nonces are stateless: the time they were made and an HMAC over it with
//! the node's nonce key, so any node with the same key accepts them
//! (`dpop.nonce_secret`), and each one dies `nonce_lifetime` after it was
//! made. Every answer hands out a fresh one, so they rotate by themselves.
//!
//! Seen proofs are remembered by a 128-bit digest of (key thumbprint,
//! `jti`) until the window in which they could be accepted has passed.
//! Memory is bounded: at `replay_cache_size` live entries new proofs are
//! refused (`temporarily_unavailable`) rather than forgetting one that
//! could still be replayed. A cluster node also claims each proof in the
//! database, so a proof works once across all nodes.

use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;
use aws_lc_rs::{digest, hmac};
use dashmap::DashMap;
use serde::Deserialize;

use crate::secret::{b64url, b64url_decode};

mod keys;
#[cfg(test)]
mod tests;

pub use crate::jose::thumbprint;
use crate::jose::Alg;
use crate::pg::single_use::OnceTable;
use crate::single_use::{digest_of, Refused, SingleUse};
use keys::proof_alg;

/// Proof algorithms accepted (and advertised in discovery).
pub const ALGS: &[&str] = crate::jose::ASYMMETRIC;

/// Longest proof looked at.
const MAX_PROOF_LEN: usize = 8192;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

#[derive(Debug, Clone)]
pub struct DpopConfig {
    /// Oldest `iat` accepted, seconds before now.
    pub max_age: i64,
    /// Newest `iat` accepted, seconds after now (clock skew).
    pub max_skew: i64,
    /// Every client must send a server nonce at the token endpoint.
    pub require_nonce: bool,
    /// A nonce is good this many seconds after it was made.
    pub nonce_lifetime: i64,
    /// Most proofs remembered at once.
    pub replay_cache_size: usize,
    /// Key of the nonces' HMAC; random per process when absent (then only
    /// this process accepts its nonces).
    pub nonce_secret: Option<String>,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig {
            max_age: 60,
            max_skew: 5,
            require_nonce: false,
            nonce_lifetime: 300,
            replay_cache_size: 1_000_000,
            nonce_secret: None,
        }
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// `invalid_dpop_proof`.
    #[error("{0}")]
    Invalid(&'static str),
    /// `use_dpop_nonce`: send the nonce this error's answer carries.
    #[error("a fresh DPoP nonce from the server is required")]
    UseNonce,
    /// The replay cache is full or the database could not record the proof.
    #[error("the DPoP proof could not be recorded; try again")]
    Unavailable,
}

/// What the request the proof came with must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The request's method.
    pub htm: &'a str,
    /// The request's URL (query and fragment are ignored).
    pub htu: &'a str,
    /// At a resource: the access token the proof must hash (`ath`).
    pub access_token: Option<&'a str>,
    /// Demand a server nonce.
    pub require_nonce: bool,
}

/// A proof that passed every check but single use.
#[derive(Debug, Clone)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key.
    pub jkt: Arc<str>,
    /// Digest of (thumbprint, jti): the replay cache's key.
    seen_key: u128,
    /// Until when the proof could be accepted (then it may be forgotten).
    until: i64,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

pub struct Dpop {
    config: DpopConfig,
    nonce_key: hmac::Key,
    /// The proofs seen, until each could no longer be accepted.
    once: SingleUse,
    /// Clients' proof keys, parsed, by algorithm and thumbprint: a client
    /// signs many proofs with one key.
    keys: DashMap<(Alg, Arc<str>), Arc<ParsedPublicKey>>,
}

impl Dpop {
    pub fn new(config: DpopConfig) -> Dpop {
        let secret: Vec<u8> = match &config.nonce_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        Dpop {
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            once: SingleUse::new(
                "tessera_dpop_proofs_total",
                OnceTable::DpopProofs,
                config.replay_cache_size,
            ),
            config,
            keys: DashMap::new(),
        }
    }

    pub fn config(&self) -> &DpopConfig {
        &self.config
    }

    /// Claim proofs in the cluster's database too.
    pub fn share(&self, pg: &crate::pg::Pg) {
        self.once.share(pg);
    }

    /// Every check of RFC 9449 §4.3 but single use.
    pub fn check(&self, proof: &str, want: &ProofCheck<'_>, now: i64) -> Result<Proof, DpopError> {
        let bad = DpopError::Invalid;
        if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
            return Err(bad("the DPoP proof is empty or too long"));
        }
        let not_jws = || bad("the DPoP proof is not a compact JWS");
        let (signed, signature) = proof.rsplit_once('.').ok_or_else(not_jws)?;
        let (h, payload) = signed.split_once('.').ok_or_else(not_jws)?;
        if payload.contains('.') {
            return Err(not_jws());
        }
        let header: ProofHeader = b64url_decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(bad("the DPoP proof's header is not a JSON object"))?;
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(bad("the DPoP proof's typ must be dpop+jwt"));
        }
        let alg = proof_alg(&header.alg)?;
        let jwk = header
            .jwk
            .ok_or(bad("the DPoP proof's header carries no jwk"))?;
        let (key, jkt) = self.public_key(&jwk, alg)?;
        let signature =
            b64url_decode(signature).ok_or(bad("the DPoP proof's signature is not base64url"))?;
        key.verify_sig(signed.as_bytes(), &signature)
            .map_err(|_| bad("the DPoP proof's signature does not verify with its jwk"))?;
        let claims: ProofClaims = b64url_decode(payload)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(bad("the DPoP proof's claims are not a JSON object"))?;
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or(bad("the DPoP proof needs a jti of 1 to 256 characters"))?;
        if claims.htm.as_deref() != Some(want.htm) {
            return Err(bad("the DPoP proof's htm is not this request's method"));
        }
        match claims.htu.as_deref().and_then(normalize_uri) {
            Some(u) if Some(&u) == normalize_uri(want.htu).as_ref() => {}
            _ => return Err(bad("the DPoP proof's htu is not this request's URL")),
        }
        let iat = claims
            .iat
            .and_then(|n| n.as_i64())
            .ok_or(bad("the DPoP proof needs an integer iat"))?;
        if iat < now.saturating_sub(self.config.max_age) {
            return Err(bad("the DPoP proof is too old"));
        }
        if iat > now.saturating_add(self.config.max_skew) {
            return Err(bad("the DPoP proof is issued in the future"));
        }
        if let Some(token) = want.access_token {
            match claims.ath {
                Some(a) if a == ath(token) => {}
                Some(_) => return Err(bad("the DPoP proof's ath does not match the token")),
                None => return Err(bad("the DPoP proof needs an ath for the token")),
            }
        }
        if want.require_nonce {
            match claims.nonce {
                Some(n) if self.nonce_ok(&n, now) => {}
                _ => return Err(DpopError::UseNonce),
            }
        }
        Ok(Proof {
            seen_key: digest_of(&[jkt.as_bytes(), jti.as_bytes()]),
            jkt: Arc::from(jkt),
            // Acceptable while now <= iat + max_age; forgettable after.
            until: iat.saturating_add(self.config.max_age),
        })
    }

    /// The proof's single use: `Err` when it was seen before (here, or on
    /// any node of a cluster).
    pub async fn claim(&self, proof: &Proof, now: i64) -> Result<(), DpopError> {
        self.once
            .claim(proof.seen_key, proof.until, now)
            .await
            .map_err(|e| match e {
                Refused::Replayed => DpopError::Invalid("the DPoP proof was already used"),
                Refused::Unavailable => DpopError::Unavailable,
            })
    }

    /// Proofs remembered now.
    pub fn remembered(&self) -> usize {
        self.once.remembered()
    }

    /// A fresh nonce: when it was made, and an HMAC over that.
    pub fn nonce(&self, now: i64) -> String {
        let t = now.to_be_bytes();
        let tag = hmac::sign(&self.nonce_key, &t);
        let mut raw = t.to_vec();
        raw.extend_from_slice(&first16(tag.as_ref()));
        b64url(&raw)
    }

    fn nonce_ok(&self, nonce: &str, now: i64) -> bool {
        let Some(raw) = b64url_decode(nonce) else {
            return false;
        };
        if raw.len() != 24 {
            return false;
        }
        let (Some(t), Some(mac)) = (raw.get(..8), raw.get(8..)) else {
            return false;
        };
        let Ok(t) = <[u8; 8]>::try_from(t) else {
            return false;
        };
        let made = i64::from_be_bytes(t);
        let tag = hmac::sign(&self.nonce_key, &t);
        let genuine: bool =
            subtle::ConstantTimeEq::ct_eq(first16(tag.as_ref()).as_slice(), mac).into();
        genuine && made <= now && now - made <= self.config.nonce_lifetime
    }
}

/// The first 16 bytes of a digest or MAC (zeros past a shorter input,
/// which SHA-256 never is).
fn first16(b: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, i) in out.iter_mut().zip(b) {
        *o = *i;
    }
    out
}

/// `ath`: base64url of SHA-256 of the access token.
pub fn ath(token: &str) -> String {
    b64url(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// Whether `s` looks like an RFC 7638 SHA-256 thumbprint.
pub fn valid_jkt(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A URL compared as RFC 9449 §4.3 says: without query and fragment,
/// scheme and host in lower case, the scheme's default port dropped.
pub fn normalize_uri(u: &str) -> Option<String> {
    let u = u.split(['?', '#']).next()?;
    let (scheme, rest) = u.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default) {
        authority.truncate(authority.len() - default.len());
    }
    Some(format!("{scheme}://{authority}{path}"))
}
