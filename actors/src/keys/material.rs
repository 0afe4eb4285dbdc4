//! Key material: generation, the pre-parsed signer, the verifier set and
//! the JWK Set. Signing goes through aws-lc with a key parsed once; the `rsa`
//! crate only generates and encodes RSA keys (RUSTSEC-2023-0071).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};

use crate::secret::{b64url, b64url_decode, sha256};

/// Signing algorithms tessera can be configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlg {
    RS256,
    ES256,
    EdDSA,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::RS256 => "RS256",
            KeyAlg::ES256 => "ES256",
            KeyAlg::EdDSA => "EdDSA",
        }
    }
    pub fn jwt_alg(self) -> Algorithm {
        match self {
            KeyAlg::RS256 => Algorithm::RS256,
            KeyAlg::ES256 => Algorithm::ES256,
            KeyAlg::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl std::str::FromStr for KeyAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" | "rs256" => Ok(KeyAlg::RS256),
            "ES256" | "es256" => Ok(KeyAlg::ES256),
            "EdDSA" | "eddsa" | "EDDSA" => Ok(KeyAlg::EdDSA),
            other => Err(format!(
                "unknown signing algorithm {other:?} (RS256, ES256 or EdDSA)"
            )),
        }
    }
}

/// Public parts of a key, as they appear in the JWKS (base64url fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum PublicJwk {
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    #[serde(rename = "OKP")]
    Okp { crv: String, x: String },
}

impl PublicJwk {
    /// RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order, base64url.
    pub fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicJwk::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            PublicJwk::Ec { crv, x, y } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            PublicJwk::Okp { crv, x } => format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#),
        };
        b64url(&sha256(canonical.as_bytes()))
    }

    fn decoding_key(&self) -> Result<DecodingKey, KeyError> {
        let r = match self {
            PublicJwk::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
            PublicJwk::Ec { x, y, .. } => DecodingKey::from_ec_components(x, y),
            PublicJwk::Okp { x, .. } => DecodingKey::from_ed_components(x),
        };
        r.map_err(|e| KeyError::Parse(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("stored key could not be parsed: {0}")]
    Parse(String),
    #[error("signing failed")]
    Sign,
}

/// A freshly generated key: private DER (PKCS#1 for RSA, PKCS#8 v1 for EC
/// and Ed25519) and its public JWK.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    pub alg: KeyAlg,
    pub private_der: Vec<u8>,
    pub public: PublicJwk,
}

/// Generate a key. RSA-2048 takes a noticeable fraction of a second: call it
/// from a blocking thread, never from an actor or HTTP worker.
pub fn generate(alg: KeyAlg) -> Result<GeneratedKey, KeyError> {
    let rng = SystemRandom::new();
    match alg {
        KeyAlg::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok(GeneratedKey {
                alg,
                private_der: der.as_bytes().to_vec(),
                public: PublicJwk::Rsa {
                    n: b64url(&key.n().to_bytes_be()),
                    e: b64url(&key.e().to_bytes_be()),
                },
            })
        }
        KeyAlg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            // Uncompressed point: 0x04 || x (32) || y (32).
            let point = pair.public_key().as_ref();
            let (x, y) = match (point.get(1..33), point.get(33..65)) {
                (Some(x), Some(y)) => (x, y),
                _ => return Err(KeyError::Generate("unexpected EC point length".into())),
            };
            Ok(GeneratedKey {
                alg,
                private_der: doc.as_ref().to_vec(),
                public: PublicJwk::Ec {
                    crv: "P-256".into(),
                    x: b64url(x),
                    y: b64url(y),
                },
            })
        }
        KeyAlg::EdDSA => {
            // PKCS#8 v1: jsonwebtoken refuses the v2 documents aws-lc makes by default.
            let doc = Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(doc.as_ref())
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok(GeneratedKey {
                alg,
                private_der: doc.as_ref().to_vec(),
                public: PublicJwk::Okp {
                    crv: "Ed25519".into(),
                    x: b64url(pair.public_key().as_ref()),
                },
            })
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// JOSE `typ` of the tokens we sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtType {
    /// RFC 9068 access token.
    AccessToken,
    /// OIDC ID token and other plain JWTs.
    Jwt,
    /// RFC 9701 signed introspection response.
    IntrospectionResponse,
    /// OIDC Back-Channel Logout 1.0 §2.4 logout token.
    LogoutToken,
}

/// The current signing key, parsed once. Builds the compact JWS itself so
/// the key is never re-parsed per token.
pub struct Signer {
    pub kid: String,
    pub alg: KeyAlg,
    header_at: String,
    header_jwt: String,
    header_introspection: String,
    header_logout: String,
    pair: Pair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl Signer {
    pub fn new(kid: &str, alg: KeyAlg, private_der: &[u8]) -> Result<Signer, KeyError> {
        let pair = match alg {
            KeyAlg::RS256 => Pair::Rsa(
                RsaKeyPair::from_der(private_der).map_err(|e| KeyError::Parse(e.to_string()))?,
            ),
            KeyAlg::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, private_der)
                    .map_err(|e| KeyError::Parse(e.to_string()))?,
            ),
            KeyAlg::EdDSA => Pair::Ed(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(private_der)
                    .map_err(|e| KeyError::Parse(e.to_string()))?,
            ),
        };
        let header = |typ: &str| {
            let json = serde_json::json!({"alg": alg.as_str(), "typ": typ, "kid": kid});
            b64url(json.to_string().as_bytes())
        };
        Ok(Signer {
            kid: kid.to_string(),
            alg,
            header_at: header("at+jwt"),
            header_jwt: header("JWT"),
            header_introspection: header("token-introspection+jwt"),
            header_logout: header("logout+jwt"),
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// Sign `claims` as a compact JWS.
    pub fn sign<T: Serialize>(&self, typ: JwtType, claims: &T) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let header = match typ {
            JwtType::AccessToken => &self.header_at,
            JwtType::Jwt => &self.header_jwt,
            JwtType::IntrospectionResponse => &self.header_introspection,
            JwtType::LogoutToken => &self.header_logout,
        };
        let mut out = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
        out.push_str(header);
        out.push('.');
        base64::Engine::encode_string(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &payload,
            &mut out,
        );
        let sig = self.raw_sign(out.as_bytes())?;
        out.push('.');
        base64::Engine::encode_string(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &sig,
            &mut out,
        );
        Ok(out)
    }

    fn raw_sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(k) => Ok(k
                .sign(&self.rng, msg)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

/// One key a token may be verified with.
pub struct VerifyKey {
    pub alg: KeyAlg,
    pub key: DecodingKey,
}

/// Every key whose tokens may still be live, by `kid`. The algorithm comes
/// from the key, never from the token header.
#[derive(Default)]
pub struct VerifierSet {
    pub keys: HashMap<String, VerifyKey>,
}

impl VerifierSet {
    pub fn build<'a>(
        keys: impl Iterator<Item = (&'a str, KeyAlg, &'a PublicJwk)>,
    ) -> Result<VerifierSet, KeyError> {
        let mut map = HashMap::new();
        for (kid, alg, jwk) in keys {
            map.insert(
                kid.to_string(),
                VerifyKey {
                    alg,
                    key: jwk.decoding_key()?,
                },
            );
        }
        Ok(VerifierSet { keys: map })
    }

    pub fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }
}

/// A JWK as served in the JWKS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(flatten)]
    pub public: PublicJwk,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub alg: String,
}

/// The JWK Set document, pre-rendered: JWKS is fetched often and changes
/// only on rotation.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    pub rendered: Arc<String>,
}

impl Jwks {
    pub fn new(keys: Vec<Jwk>) -> Jwks {
        let rendered = serde_json::json!({ "keys": keys }).to_string();
        Jwks {
            keys,
            rendered: Arc::new(rendered),
        }
    }
}

/// Decode a base64url public JWK component (for tests and tools).
pub fn decode_component(s: &str) -> Option<Vec<u8>> {
    b64url_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct C {
        sub: String,
        exp: i64,
    }

    fn round_trip(alg: KeyAlg) {
        let g = generate(alg).unwrap();
        let kid = g.public.thumbprint();
        let s = Signer::new(&kid, alg, &g.private_der).unwrap();
        let far = 4_000_000_000;
        let token = s
            .sign(
                JwtType::AccessToken,
                &C {
                    sub: "x".into(),
                    exp: far,
                },
            )
            .unwrap();
        let set = VerifierSet::build(std::iter::once((kid.as_str(), alg, &g.public))).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let vk = set.get(&kid).unwrap();
        let mut v = jsonwebtoken::Validation::new(vk.alg.jwt_alg());
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<C>(&token, &vk.key, &v).unwrap();
        assert_eq!(data.claims.sub, "x");
    }

    #[test]
    fn rs256_signs_and_verifies() {
        round_trip(KeyAlg::RS256);
    }
    #[test]
    fn es256_signs_and_verifies() {
        round_trip(KeyAlg::ES256);
    }
    #[test]
    fn eddsa_signs_and_verifies() {
        round_trip(KeyAlg::EdDSA);
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1 example key.
        let jwk = PublicJwk::Rsa {
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
