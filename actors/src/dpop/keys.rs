//! Proof keys: the algorithms a proof may use, a proof's `jwk` checked
//! against its algorithm and parsed for aws-lc (kept per client key), and
//! RFC 7638 thumbprints.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey};

use super::{Dpop, DpopError};
use crate::secret::{b64url, b64url_decode};

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Most proof keys kept parsed at once.
const MAX_KEYS: usize = 10_000;

/// The algorithms a proof may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Alg {
    Es256,
    Es384,
    EdDsa,
    Rsa(RsaAlg),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum RsaAlg {
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

pub(super) fn proof_alg(alg: &str) -> Result<Alg, DpopError> {
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
    pub(super) fn public_key(
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
