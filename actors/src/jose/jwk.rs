//! Public JWKs (RFC 7517) checked against a signature algorithm and parsed
//! for aws-lc, and RFC 7638 thumbprints.
//!
//! The algorithm always comes from the caller (a registered key's type, or
//! a list the caller accepts), never from a token: a key fits exactly the
//! algorithms of its type and curve, so an RSA key never verifies an HMAC
//! and nothing verifies `none`.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use serde_json::{Map, Value};

use crate::secret::{b64url, b64url_decode};

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// JWK members that only a private (or symmetric) key has.
pub const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The asymmetric signature algorithms tessera verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Es256,
    Es384,
    EdDsa,
    Rsa(RsaAlg),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaAlg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
}

/// Every asymmetric algorithm, by its JOSE name, in the order advertised.
pub const ASYMMETRIC: &[&str] = &[
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

const RSA_ALGS: [RsaAlg; 6] = [
    RsaAlg::Rs256,
    RsaAlg::Rs384,
    RsaAlg::Rs512,
    RsaAlg::Ps256,
    RsaAlg::Ps384,
    RsaAlg::Ps512,
];

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

impl Alg {
    /// The algorithm of a JOSE name; `None` for anything else (`none`,
    /// HMAC, unknown).
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            "RS256" => Alg::Rsa(RsaAlg::Rs256),
            "RS384" => Alg::Rsa(RsaAlg::Rs384),
            "RS512" => Alg::Rsa(RsaAlg::Rs512),
            "PS256" => Alg::Rsa(RsaAlg::Ps256),
            "PS384" => Alg::Rsa(RsaAlg::Ps384),
            "PS512" => Alg::Rsa(RsaAlg::Ps512),
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
            Alg::Rsa(RsaAlg::Rs256) => "RS256",
            Alg::Rsa(RsaAlg::Rs384) => "RS384",
            Alg::Rsa(RsaAlg::Rs512) => "RS512",
            Alg::Rsa(RsaAlg::Ps256) => "PS256",
            Alg::Rsa(RsaAlg::Ps384) => "PS384",
            Alg::Rsa(RsaAlg::Ps512) => "PS512",
        }
    }

    /// The algorithms a key of this type and curve can verify.
    pub fn for_key(jwk: &Map<String, Value>) -> Vec<Alg> {
        let s = |k: &str| jwk.get(k).and_then(Value::as_str);
        match (s("kty"), s("crv")) {
            (Some("EC"), Some("P-256")) => vec![Alg::Es256],
            (Some("EC"), Some("P-384")) => vec![Alg::Es384],
            (Some("OKP"), Some("Ed25519")) => vec![Alg::EdDsa],
            (Some("RSA"), _) => RSA_ALGS.iter().map(|a| Alg::Rsa(*a)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a JWK was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("the key has private members; only public keys are accepted")]
    Private,
    #[error("the key lacks a member its type needs")]
    Missing,
    #[error("the key has a malformed member")]
    Malformed,
    #[error("the key's type or curve does not fit the algorithm")]
    Mismatch,
    #[error("the RSA key is shorter than 2048 bits or malformed")]
    WeakRsa,
    #[error("the key is not a valid public key")]
    Invalid,
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, JwkError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::Missing)
}

/// A base64url member decoded, checked to be exactly `len` bytes.
fn sized(v: &str, len: usize) -> Result<Vec<u8>, JwkError> {
    match b64url_decode(v) {
        Some(b) if b.len() == len => Ok(b),
        _ => Err(JwkError::Malformed),
    }
}

/// What verifies a signature: the key's bytes for aws-lc, once its
/// members are checked against the algorithm.
pub enum KeyBytes {
    /// An uncompressed point (EC) or the raw public key (Ed25519).
    Raw(&'static dyn signature::VerificationAlgorithm, Vec<u8>),
    Rsa(RsaAlg, Vec<u8>, Vec<u8>),
}

impl KeyBytes {
    pub fn parse(self) -> Result<ParsedPublicKey, JwkError> {
        let parsed = match self {
            KeyBytes::Raw(alg, bytes) => ParsedPublicKey::new(alg, bytes),
            KeyBytes::Rsa(alg, n, e) => signature::RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(alg.params()),
        };
        parsed.map_err(|_| JwkError::Invalid)
    }
}

/// The length in bits of a big-endian unsigned integer.
fn modulus_bits(n: &[u8]) -> usize {
    let mut digits = n.iter().skip_while(|b| **b == 0);
    match digits.next() {
        Some(first) => (8 - first.leading_zeros() as usize) + 8 * digits.count(),
        None => 0,
    }
}

/// A public `jwk`, checked against `alg`: the bytes of its key and its
/// RFC 7638 thumbprint.
pub fn key_bytes(jwk: &Map<String, Value>, alg: Alg) -> Result<(KeyBytes, String), JwkError> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(JwkError::Private);
    }
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
                return Err(JwkError::Mismatch);
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
                return Err(JwkError::Mismatch);
            }
            let x = member(jwk, "x")?;
            let raw = sized(x, 32)?;
            let tp = thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", x)]);
            Ok((KeyBytes::Raw(&signature::ED25519, raw), tp))
        }
        ("RSA", Alg::Rsa(rsa)) => {
            let (n, e) = (member(jwk, "n")?, member(jwk, "e")?);
            let modulus = b64url_decode(n).ok_or(JwkError::WeakRsa)?;
            let exponent = b64url_decode(e).ok_or(JwkError::WeakRsa)?;
            if modulus_bits(&modulus) < MIN_RSA_BITS || exponent.is_empty() || exponent.len() > 8 {
                return Err(JwkError::WeakRsa);
            }
            let tp = thumbprint(&[("e", e), ("kty", "RSA"), ("n", n)]);
            Ok((KeyBytes::Rsa(rsa, modulus, exponent), tp))
        }
        _ => Err(JwkError::Mismatch),
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
        s.push_str(&Value::from(*k).to_string());
        s.push(':');
        s.push_str(&Value::from(*v).to_string());
    }
    s.push('}');
    b64url(digest::digest(&digest::SHA256, s.as_bytes()).as_ref())
}
