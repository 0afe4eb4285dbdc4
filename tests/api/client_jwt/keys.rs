//! A client's signing keys, made without the server's code: generated and
//! signed with aws-lc-rs, the compact JWS assembled by hand so a test can
//! put anything in the header or the claims, under any `alg` it likes.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::dpop::proof::rsa_public_components;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// One key of a client, with the `kid` it is registered under.
pub struct ClientKey {
    kid: String,
    /// The algorithm it signs with unless told otherwise.
    alg: &'static str,
    signer: Signer,
    /// The public JWK's members (no `kid`, no `alg`).
    public: Value,
}

impl ClientKey {
    pub fn es256(kid: &str) -> ClientKey {
        Self::ec(kid, "ES256", "P-256")
    }

    pub fn es384(kid: &str) -> ClientKey {
        Self::ec(kid, "ES384", "P-384")
    }

    fn ec(kid: &str, alg: &'static str, crv: &str) -> ClientKey {
        let signing = if alg == "ES256" {
            &ECDSA_P256_SHA256_FIXED_SIGNING
        } else {
            &ECDSA_P384_SHA384_FIXED_SIGNING
        };
        let kp = EcdsaKeyPair::generate(signing).expect("EC key");
        let point = kp.public_key().as_ref().to_vec();
        let half = (point.len() - 1) / 2;
        assert_eq!(point[0], 0x04, "an uncompressed point");
        let public = json!({
            "kty": "EC",
            "crv": crv,
            "x": b64(&point[1..=half]),
            "y": b64(&point[1 + half..]),
        });
        ClientKey {
            kid: kid.into(),
            alg,
            signer: Signer::Ec(kp),
            public,
        }
    }

    pub fn ed25519(kid: &str) -> ClientKey {
        let kp = Ed25519KeyPair::generate().expect("Ed25519 key");
        let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())});
        ClientKey {
            kid: kid.into(),
            alg: "EdDSA",
            signer: Signer::Ed(kp),
            public,
        }
    }

    /// A 2048-bit RSA key; it signs RS256 unless told otherwise.
    pub fn rsa(kid: &str) -> ClientKey {
        let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let (n, e) = rsa_public_components(kp.public_key().as_ref());
        let public = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
        ClientKey {
            kid: kid.into(),
            alg: "RS256",
            signer: Signer::Rsa(kp),
            public,
        }
    }

    /// The same key under a default algorithm of its type (`PS256` for RSA, say).
    pub fn signing_with(mut self, alg: &'static str) -> ClientKey {
        self.alg = alg;
        self
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK as a client registers it: `kid` and `use: sig`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }

    /// The public members only (no `kid`, `use`, `alg`).
    pub fn bare_jwk(&self) -> Value {
        self.public.clone()
    }

    /// The JWK with a private member too (`d`).
    pub fn private_jwk(&self) -> Value {
        let mut jwk = self.jwk();
        let d = match &self.signer {
            Signer::Ec(kp) => {
                let d: EcPrivateKeyBin = kp.private_key().as_be_bytes().expect("EC d");
                b64(d.as_ref())
            }
            Signer::Ed(kp) => {
                let seed: Curve25519SeedBin = kp.seed().expect("seed").as_be_bytes().expect("d");
                b64(seed.as_ref())
            }
            // Not the real exponent: a member that only a private key has.
            Signer::Rsa(_) => b64(&[7u8; 256]),
        };
        jwk["d"] = json!(d);
        jwk
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Ec(kp) => kp.public_key().as_der().expect("DER").as_ref().to_vec(),
            Signer::Ed(kp) => kp.public_key().as_der().expect("DER").as_ref().to_vec(),
            Signer::Rsa(kp) => kp.public_key().as_der().expect("DER").as_ref().to_vec(),
        }
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> String {
        let body = STANDARD.encode(self.public_der());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// The raw public key bytes (EC point, Ed25519 key, PKCS#1 RSAPublicKey).
    pub fn public_raw(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Ec(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Ed(kp) => kp.public_key().as_ref().to_vec(),
            Signer::Rsa(kp) => kp.public_key().as_ref().to_vec(),
        }
    }

    /// A signature over `input` under `alg` (which must fit the key).
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Ec(kp) => {
                assert_eq!(
                    alg,
                    self.public_alg(),
                    "an EC key signs with its curve's alg"
                );
                kp.sign(&rng, input).expect("ECDSA").as_ref().to_vec()
            }
            Signer::Ed(kp) => kp.sign(input).as_ref().to_vec(),
            Signer::Rsa(kp) => {
                let enc: &'static dyn RsaEncoding = match alg {
                    "RS256" => &RSA_PKCS1_SHA256,
                    "RS384" => &RSA_PKCS1_SHA384,
                    "RS512" => &RSA_PKCS1_SHA512,
                    "PS256" => &RSA_PSS_SHA256,
                    "PS384" => &RSA_PSS_SHA384,
                    "PS512" => &RSA_PSS_SHA512,
                    other => panic!("an RSA key does not sign {other}"),
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(enc, &rng, input, &mut sig).expect("RSA signature");
                sig
            }
        }
    }

    fn public_alg(&self) -> &'static str {
        match self.public["crv"].as_str() {
            Some("P-256") => "ES256",
            Some("P-384") => "ES384",
            _ => self.alg,
        }
    }
}

/// A JWK Set of these keys' public JWKs.
pub fn jwks(keys: &[&ClientKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A compact JWS of `header` and `claims`, signed by `key` under the
/// header's `alg`.
pub fn sign_jwt(key: &ClientKey, header: &Value, claims: &Value) -> String {
    let alg = header["alg"].as_str().expect("the header names its alg");
    let input = signing_input(header, claims);
    format!("{input}.{}", b64(&key.sign(alg, input.as_bytes())))
}

/// A compact JWS made with an HMAC of `secret` under the header's `alg`
/// (HS256, HS384 or HS512).
pub fn hmac_jwt(secret: &[u8], header: &Value, claims: &Value) -> String {
    let alg = match header["alg"].as_str() {
        Some("HS256") => hmac::HMAC_SHA256,
        Some("HS384") => hmac::HMAC_SHA384,
        Some("HS512") => hmac::HMAC_SHA512,
        other => panic!("not an HMAC alg: {other:?}"),
    };
    let input = signing_input(header, claims);
    let tag = hmac::sign(&hmac::Key::new(alg, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// An unsigned JWS (`alg: none`, empty signature part).
pub fn unsigned_jwt(claims: &Value) -> String {
    format!(
        "{}.",
        signing_input(&json!({"alg": "none", "typ": "JWT"}), claims)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each key's JWS verifies with its public JWK, independently of the
    /// server (jsonwebtoken).
    #[test]
    fn jws_verify_with_the_public_jwk() {
        let cases = [
            (ClientKey::es256("a"), "ES256"),
            (ClientKey::es384("b"), "ES384"),
            (ClientKey::ed25519("c"), "EdDSA"),
            (ClientKey::rsa("d"), "RS256"),
            (ClientKey::rsa("e"), "PS256"),
            (ClientKey::rsa("f"), "RS512"),
        ];
        for (key, alg) in cases {
            let header = json!({"alg": alg, "kid": key.kid()});
            let t = sign_jwt(&key, &header, &json!({"sub": "x"}));
            let (input, sig) = t.rsplit_once('.').unwrap();
            let dk = crate::helpers::decoding_key(&key.jwk());
            let a: jsonwebtoken::Algorithm = alg.parse().unwrap();
            assert!(
                jsonwebtoken::crypto::verify(sig, input.as_bytes(), &dk, a).unwrap(),
                "{alg}"
            );
            assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
            assert!(key.private_jwk()["d"].is_string());
            assert!(key.jwk().get("d").is_none());
        }
        assert!(unsigned_jwt(&json!({})).ends_with('.'));
    }
}
