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

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self, ParsedPublicKey};
use aws_lc_rs::{digest, hmac};
use dashmap::DashMap;
use serde::Deserialize;

use crate::secret::{b64url, b64url_decode};

/// Proof algorithms accepted (and advertised in discovery).
pub const ALGS: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// Longest proof looked at.
const MAX_PROOF_LEN: usize = 8192;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

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
    seen: DashMap<u128, i64>,
    /// About how many entries `seen` holds (exact after each sweep).
    held: AtomicUsize,
    claims: AtomicU64,
    /// When `seen` was last swept (seconds).
    swept_at: AtomicI64,
    /// Clients' proof keys, parsed, by algorithm and thumbprint: a client
    /// signs many proofs with one key.
    keys: DashMap<(Alg, Arc<str>), Arc<ParsedPublicKey>>,
    shared: OnceLock<crate::pg::Pg>,
}

/// Most proof keys kept parsed at once.
const MAX_KEYS: usize = 10_000;

impl Dpop {
    pub fn new(config: DpopConfig) -> Dpop {
        let secret: Vec<u8> = match &config.nonce_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        Dpop {
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            config,
            seen: DashMap::new(),
            held: AtomicUsize::new(0),
            claims: AtomicU64::new(0),
            swept_at: AtomicI64::new(i64::MIN),
            keys: DashMap::new(),
            shared: OnceLock::new(),
        }
    }

    pub fn config(&self) -> &DpopConfig {
        &self.config
    }

    /// Claim proofs in the cluster's database too.
    pub fn share(&self, pg: &crate::pg::Pg) {
        let _ = self.shared.set(pg.clone());
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
        let mut seen = Vec::with_capacity(jkt.len() + 1 + jti.len());
        seen.extend_from_slice(jkt.as_bytes());
        seen.push(b' ');
        seen.extend_from_slice(jti.as_bytes());
        let d = digest::digest(&digest::SHA256, &seen);
        Ok(Proof {
            jkt: Arc::from(jkt),
            seen_key: u128::from_be_bytes(first16(d.as_ref())),
            // Acceptable while now <= iat + max_age; forgettable after.
            until: iat.saturating_add(self.config.max_age),
        })
    }

    /// The proof's single use: `Err` when it was seen before (here, or on
    /// any node of a cluster).
    pub async fn claim(&self, proof: &Proof, now: i64) -> Result<(), DpopError> {
        self.claim_here(proof, now)?;
        if let Some(pg) = self.shared.get() {
            let claimed = pg
                .run(crate::pg::dpop::claim(
                    pg.pool().clone(),
                    proof.seen_key,
                    proof.until,
                    now,
                ))
                .await;
            match claimed {
                Ok(true) => {}
                Ok(false) => {
                    metrics::counter!("tessera_dpop_proofs_total", "outcome" => "replayed")
                        .increment(1);
                    return Err(DpopError::Invalid("the DPoP proof was already used"));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a DPoP proof could not be recorded");
                    return Err(DpopError::Unavailable);
                }
            }
        }
        metrics::counter!("tessera_dpop_proofs_total", "outcome" => "accepted").increment(1);
        Ok(())
    }

    fn claim_here(&self, proof: &Proof, now: i64) -> Result<(), DpopError> {
        // Sweep now and then, and when the cache is full, but a full
        // cache at most once a second: a flood of proofs must not turn
        // every claim into a walk over the whole map.
        let n = self.claims.fetch_add(1, Ordering::Relaxed);
        let full = self.held.load(Ordering::Relaxed) >= self.config.replay_cache_size;
        let last = self.swept_at.load(Ordering::Relaxed);
        if (n % 4096 == 4095 || full)
            && last != now
            && self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.seen.retain(|_, until| *until >= now);
            self.held.store(self.seen.len(), Ordering::Relaxed);
        }
        if self.held.load(Ordering::Relaxed) >= self.config.replay_cache_size {
            metrics::counter!("tessera_dpop_proofs_total", "outcome" => "cache_full").increment(1);
            return Err(DpopError::Unavailable);
        }
        match self.seen.entry(proof.seen_key) {
            dashmap::mapref::entry::Entry::Occupied(mut e) => {
                if *e.get() >= now {
                    metrics::counter!("tessera_dpop_proofs_total", "outcome" => "replayed")
                        .increment(1);
                    return Err(DpopError::Invalid("the DPoP proof was already used"));
                }
                e.insert(proof.until);
            }
            dashmap::mapref::entry::Entry::Vacant(e) => {
                e.insert(proof.until);
                self.held.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Proofs remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
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

/// The algorithms a proof may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Alg {
    Es256,
    Es384,
    EdDsa,
    Rsa(RsaAlg),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RsaAlg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

impl RsaAlg {
    /// aws-lc's parameters: the padding, the digest, and keys of 2048 to
    /// 8192 bits.
    fn params(self) -> &'static signature::RsaParameters {
        match self {
            RsaAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            RsaAlg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RsaAlg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            RsaAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            RsaAlg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            RsaAlg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        }
    }
}

fn proof_alg(alg: &str) -> Result<Alg, DpopError> {
    Ok(match alg {
        "ES256" => Alg::Es256,
        "ES384" => Alg::Es384,
        "EdDSA" => Alg::EdDsa,
        "RS256" => Alg::Rsa(RsaAlg::Rs256),
        "RS384" => Alg::Rsa(RsaAlg::Rs384),
        "RS512" => Alg::Rsa(RsaAlg::Rs512),
        "PS256" => Alg::Rsa(RsaAlg::Ps256),
        "PS384" => Alg::Rsa(RsaAlg::Ps384),
        "PS512" => Alg::Rsa(RsaAlg::Ps512),
        _ => {
            return Err(DpopError::Invalid(
                "the DPoP proof's alg is not an accepted asymmetric algorithm",
            ))
        }
    })
}

fn member<'a>(
    jwk: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<&'a str, DpopError> {
    jwk.get(name)
        .and_then(|v| v.as_str())
        .ok_or(DpopError::Invalid(
            "the DPoP proof's jwk lacks a member its key type needs",
        ))
}

/// A base64url member decoded, checked to be exactly `len` bytes.
fn sized(v: &str, len: usize) -> Result<Vec<u8>, DpopError> {
    match b64url_decode(v) {
        Some(b) if b.len() == len => Ok(b),
        _ => Err(DpopError::Invalid(
            "the DPoP proof's jwk has a malformed coordinate",
        )),
    }
}

/// What verifies a proof: the key's bytes for aws-lc, once its members
/// are checked against the algorithm.
enum KeyBytes {
    /// An uncompressed point (EC) or the raw public key (Ed25519).
    Raw(&'static dyn signature::VerificationAlgorithm, Vec<u8>),
    Rsa(RsaAlg, Vec<u8>, Vec<u8>),
}

impl KeyBytes {
    fn parse(self) -> Result<ParsedPublicKey, DpopError> {
        let parsed = match self {
            KeyBytes::Raw(alg, bytes) => ParsedPublicKey::new(alg, bytes),
            KeyBytes::Rsa(alg, n, e) => signature::RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(alg.params()),
        };
        parsed.map_err(|_| DpopError::Invalid("the DPoP proof's jwk is not a valid public key"))
    }
}

/// A proof's public `jwk`, checked against `alg`: the bytes of its key and
/// its RFC 7638 thumbprint.
fn key_bytes(
    jwk: &serde_json::Map<String, serde_json::Value>,
    alg: Alg,
) -> Result<(KeyBytes, String), DpopError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(DpopError::Invalid(
            "the DPoP proof's jwk must be a public key",
        ));
    }
    let bad_key = DpopError::Invalid("the DPoP proof's jwk does not fit its alg");
    let kty = member(jwk, "kty")?;
    match (kty, alg) {
        ("EC", Alg::Es256 | Alg::Es384) => {
            let (crv, size, verify): (_, _, &'static dyn signature::VerificationAlgorithm) =
                if alg == Alg::Es256 {
                    ("P-256", 32, &signature::ECDSA_P256_SHA256_FIXED)
                } else {
                    ("P-384", 48, &signature::ECDSA_P384_SHA384_FIXED)
                };
            if member(jwk, "crv")? != crv {
                return Err(bad_key);
            }
            let (x, y) = (member(jwk, "x")?, member(jwk, "y")?);
            let mut point = vec![4u8];
            point.extend(sized(x, size)?);
            point.extend(sized(y, size)?);
            let tp = thumbprint(&[("crv", crv), ("kty", "EC"), ("x", x), ("y", y)]);
            Ok((KeyBytes::Raw(verify, point), tp))
        }
        ("OKP", Alg::EdDsa) => {
            if member(jwk, "crv")? != "Ed25519" {
                return Err(bad_key);
            }
            let x = member(jwk, "x")?;
            let raw = sized(x, 32)?;
            let tp = thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", x)]);
            Ok((KeyBytes::Raw(&signature::ED25519, raw), tp))
        }
        ("RSA", Alg::Rsa(rsa)) => {
            let (n, e) = (member(jwk, "n")?, member(jwk, "e")?);
            let modulus = b64url_decode(n).ok_or_else(|| bad_key.clone())?;
            let exponent = b64url_decode(e).ok_or_else(|| bad_key.clone())?;
            let len = modulus.iter().skip_while(|b| **b == 0).count();
            if len < MIN_RSA_BYTES || exponent.is_empty() || exponent.len() > 8 {
                return Err(DpopError::Invalid(
                    "the DPoP proof's RSA key is shorter than 2048 bits or malformed",
                ));
            }
            let tp = thumbprint(&[("e", e), ("kty", "RSA"), ("n", n)]);
            Ok((KeyBytes::Rsa(rsa, modulus, exponent), tp))
        }
        _ => Err(bad_key),
    }
}

impl Dpop {
    /// The parsed key of a proof's `jwk` for `alg`, from the cache when a
    /// proof of that key was checked before, and its thumbprint.
    fn public_key(
        &self,
        jwk: &serde_json::Map<String, serde_json::Value>,
        alg: Alg,
    ) -> Result<(Arc<ParsedPublicKey>, String), DpopError> {
        let (bytes, jkt) = key_bytes(jwk, alg)?;
        let id = (alg, Arc::from(jkt.as_str()));
        if let Some(k) = self.keys.get(&id) {
            return Ok((k.value().clone(), jkt));
        }
        let parsed = Arc::new(bytes.parse()?);
        if self.keys.len() >= MAX_KEYS {
            self.keys.clear();
        }
        self.keys.insert(id, parsed.clone());
        Ok((parsed, jkt))
    }
}

/// RFC 7638: SHA-256 over the required members, in lexicographic order,
/// without whitespace. `members` come sorted; their values are base64url
/// or fixed names, so need no escaping beyond serde's.
pub fn thumbprint(members: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::from(*k).to_string());
        s.push(':');
        s.push_str(&serde_json::Value::from(*v).to_string());
    }
    s.push('}');
    b64url(digest::digest(&digest::SHA256, s.as_bytes()).as_ref())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let tp = thumbprint(&[("e", "AQAB"), ("kty", "RSA"), ("n", n)]);
        assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn uris_compare_without_query_fragment_case_or_default_port() {
        let a = normalize_uri("HTTPS://Server.Example.com:443/token?x=1#f").unwrap();
        assert_eq!(a, "https://server.example.com/token");
        assert_eq!(
            normalize_uri("http://127.0.0.1:8080/oauth2/token").unwrap(),
            "http://127.0.0.1:8080/oauth2/token"
        );
        assert_ne!(
            normalize_uri("https://server.example.com/Token"),
            normalize_uri("https://server.example.com/token")
        );
        assert_eq!(normalize_uri("ftp://x/y"), None);
        assert_eq!(normalize_uri("https://user@x/y"), None);
    }

    #[test]
    fn nonces_expire_and_are_bound_to_the_key() {
        let d = Dpop::new(DpopConfig::default());
        let n = d.nonce(1000);
        assert!(d.nonce_ok(&n, 1000));
        assert!(d.nonce_ok(&n, 1300));
        assert!(!d.nonce_ok(&n, 1301));
        assert!(!d.nonce_ok(&n, 999));
        let other = Dpop::new(DpopConfig::default());
        assert!(!other.nonce_ok(&n, 1000));
        let shared = DpopConfig {
            nonce_secret: Some("s".into()),
            ..DpopConfig::default()
        };
        let (a, b) = (Dpop::new(shared.clone()), Dpop::new(shared));
        assert!(b.nonce_ok(&a.nonce(5), 5));
        assert!(!d.nonce_ok("not a nonce", 1000));
    }

    #[test]
    fn the_replay_cache_is_bounded_and_forgets_only_dead_proofs() {
        let d = Dpop::new(DpopConfig {
            replay_cache_size: 2,
            ..DpopConfig::default()
        });
        let p = |k: u128, until: i64| Proof {
            jkt: Arc::from("x"),
            seen_key: k,
            until,
        };
        assert!(d.claim_here(&p(1, 100), 10).is_ok());
        assert!(matches!(
            d.claim_here(&p(1, 100), 10),
            Err(DpopError::Invalid(_))
        ));
        assert!(d.claim_here(&p(2, 100), 10).is_ok());
        assert_eq!(d.claim_here(&p(3, 100), 10), Err(DpopError::Unavailable));
        // Once the first two can no longer be accepted, they make room.
        assert!(d.claim_here(&p(3, 200), 101).is_ok());
        assert_eq!(d.remembered(), 1);
    }
}
