//! Key sets and signature checks, with keys made here.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::*;
use crate::secret::b64url;

struct TestKey {
    pair: EcdsaKeyPair,
}

impl TestKey {
    fn new() -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        TestKey {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap(),
        }
    }
    fn jwk(&self, kid: &str) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": kid,
               "x": b64url(&p[1..33]), "y": b64url(&p[33..65])})
    }
    fn sign(&self, header: Value, claims: Value) -> String {
        let signed = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", b64url(sig.as_ref()))
    }
}

fn hs256(secret: &[u8], header: Value, claims: Value) -> String {
    let signed = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, secret),
        signed.as_bytes(),
    );
    format!("{signed}.{}", b64url(tag.as_ref()))
}

#[test]
fn a_registered_set_must_hold_public_signature_keys() {
    let k = TestKey::new();
    let set = KeySet::parse_strict(&json!({"keys": [k.jwk("a")]})).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.has_kid("a"));
    let mut private = k.jwk("a");
    private["d"] = json!("AAAA");
    assert!(KeySet::parse_strict(&json!({"keys": [private]})).is_err());
    assert!(KeySet::parse_strict(&json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
    let mut wrong_alg = k.jwk("a");
    wrong_alg["alg"] = json!("RS256");
    assert!(KeySet::parse_strict(&json!({"keys": [wrong_alg]})).is_err());
    let mut hs = k.jwk("a");
    hs["alg"] = json!("HS256");
    assert!(KeySet::parse_strict(&json!({"keys": [hs]})).is_err());
    assert!(KeySet::parse_strict(&json!({"keys": []})).is_err());
    assert!(KeySet::parse_strict(&json!([k.jwk("a")])).is_err());
    let mut enc = k.jwk("e");
    enc["use"] = json!("enc");
    assert!(KeySet::parse_strict(&json!({"keys": [enc.clone()]})).is_err());
    let lenient = KeySet::parse_lenient(&json!({"keys": [enc, {"kty": "oct"}, k.jwk("b")]}));
    assert_eq!(lenient.len(), 1);
}

#[test]
fn the_alg_comes_from_the_key() {
    let k = TestKey::new();
    let set = KeySet::parse_strict(&json!({"keys": [k.jwk("a")]})).unwrap();
    let claims = json!({"iss": "c"});
    let good = k.sign(json!({"alg": "ES256", "kid": "a"}), claims.clone());
    let v = set.verify(&good, None).unwrap();
    assert_eq!(v.alg, "ES256");
    assert_eq!(v.claims["iss"], "c");
    assert_eq!(
        set.verify(&good, Alg::parse("PS256")).unwrap_err(),
        JwsError::NotRegisteredAlg
    );
    // Without a kid every key is tried.
    let no_kid = k.sign(json!({"alg": "ES256"}), claims.clone());
    assert!(set.verify(&no_kid, None).is_ok());
    let other_kid = k.sign(json!({"alg": "ES256", "kid": "z"}), claims.clone());
    assert_eq!(
        set.verify(&other_kid, None).unwrap_err(),
        JwsError::UnknownKid
    );
    // A header claiming RS256 for an EC key, or an HMAC, or none.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[0] = b64url(json!({"alg": "RS256", "kid": "a"}).to_string().as_bytes());
    assert_eq!(
        set.verify(&parts.join("."), None).unwrap_err(),
        JwsError::KeyAlgorithm
    );
    // HMAC keyed with the public key's bytes (the classic confusion).
    let x = k.jwk("a")["x"].as_str().unwrap().to_string();
    let confused = hs256(
        x.as_bytes(),
        json!({"alg": "HS256", "kid": "a"}),
        claims.clone(),
    );
    assert_eq!(
        set.verify(&confused, None).unwrap_err(),
        JwsError::Algorithm
    );
    let none = format!(
        "{}.{}.",
        b64url(json!({"alg": "none"}).to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    assert_eq!(set.verify(&none, None).unwrap_err(), JwsError::Algorithm);
    // Another key's signature.
    let stranger = TestKey::new().sign(json!({"alg": "ES256", "kid": "a"}), claims.clone());
    assert_eq!(
        set.verify(&stranger, None).unwrap_err(),
        JwsError::Signature
    );
    // A key carried in the header is never used.
    let carried = k.sign(json!({"alg": "ES256", "jwk": k.jwk("a")}), claims);
    assert_eq!(set.verify(&carried, None).unwrap_err(), JwsError::KeyHeader);
    assert_eq!(set.verify("a.b", None).unwrap_err(), JwsError::Malformed);
}

#[test]
fn hmac_assertions_verify_with_the_secret_only() {
    let claims = json!({"iss": "c"});
    let t = hs256(b"the-secret", json!({"alg": "HS256"}), claims);
    assert!(verify_hmac(&t, b"the-secret", None).is_ok());
    assert!(verify_hmac(&t, b"the-secret", Some("HS256")).is_ok());
    assert_eq!(
        verify_hmac(&t, b"the-secret", Some("HS512")).unwrap_err(),
        JwsError::NotRegisteredAlg
    );
    assert_eq!(
        verify_hmac(&t, b"another", None).unwrap_err(),
        JwsError::Signature
    );
    let k = TestKey::new();
    let es = k.sign(json!({"alg": "ES256"}), json!({}));
    assert_eq!(
        verify_hmac(&es, b"the-secret", None).unwrap_err(),
        JwsError::Algorithm
    );
}
