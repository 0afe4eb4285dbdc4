//! Upstream ID token verification against hand-made keys and tokens.

use super::*;
use crate::keys::material::{generate, JwtType, KeyAlg, PublicJwk, Signer};
use crate::secret::b64url;
use serde_json::json;

const ISS: &str = "https://up.example.com";
const CLIENT: &str = "downstream";
const NONCE: &str = "n-0S6_WzA2Mj";
const NOW: i64 = 1_800_000_000;

struct Key {
    signer: Signer,
    jwk: Value,
}

fn key(alg: KeyAlg, kid: &str) -> Key {
    let g = generate(alg).unwrap();
    let signer = Signer::new(kid, alg, &g.private_der).unwrap();
    let mut jwk = serde_json::to_value(&g.public).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg.as_str());
    Key { signer, jwk }
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "u-1", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
           "nonce": NONCE, "email": "a@example.com", "email_verified": true})
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISS,
        client_id: CLIENT,
        nonce: NONCE,
        now: NOW,
        leeway: 30,
    }
}

fn keys_of(ks: &[&Key]) -> UpstreamKeys {
    UpstreamKeys::parse(&json!({"keys": ks.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}))
}

fn sign(k: &Key, c: &Value) -> String {
    k.signer.sign(JwtType::Jwt, c).unwrap()
}

/// A token with a hand-made header and signature bytes.
fn raw(header: &Value, c: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(c.to_string().as_bytes()),
        b64url(sig)
    )
}

/// Re-sign `c` with `k` under a header of our choosing.
fn with_header(k: &Key, header: &Value, c: &Value) -> String {
    let real = sign(k, c);
    let (_, rest) = real.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(c.to_string().as_bytes())
    );
    // The signature of the real token does not cover this header: it
    // must fail as a signature, whatever the header says.
    format!("{signing_input}.{sig}")
}

#[test]
fn every_algorithm_verifies_with_its_key() {
    for alg in [KeyAlg::RS256, KeyAlg::ES256, KeyAlg::EdDSA] {
        let k = key(alg, "k1");
        let got = verify(&sign(&k, &claims()), &keys_of(&[&k]), &expected()).unwrap();
        assert_eq!(got["sub"], "u-1");
    }
}

#[test]
fn claims_are_checked() {
    let k = key(KeyAlg::ES256, "k1");
    let keys = keys_of(&[&k]);
    let cases: Vec<(&str, Value, IdTokenError)> = vec![
        (
            "iss",
            json!("https://evil.example.com"),
            IdTokenError::Issuer,
        ),
        (
            "iss",
            json!("https://up.example.com/"),
            IdTokenError::Issuer,
        ),
        ("aud", json!("someone-else"), IdTokenError::Audience),
        (
            "aud",
            json!(["someone-else", CLIENT]),
            IdTokenError::AuthorizedParty,
        ),
        ("exp", json!(NOW - 31), IdTokenError::Expired),
        ("iat", json!(NOW + 31), IdTokenError::IssuedInFuture),
        ("nbf", json!(NOW + 31), IdTokenError::NotYetValid),
        ("nonce", json!("other"), IdTokenError::Nonce),
        ("sub", json!(""), IdTokenError::MissingClaim),
    ];
    for (claim, value, err) in cases {
        let mut c = claims();
        c[claim] = value.clone();
        assert_eq!(
            verify(&sign(&k, &c), &keys, &expected()).unwrap_err(),
            err,
            "{claim}={value}"
        );
    }
    let mut c = claims();
    c.as_object_mut().unwrap().remove("nonce");
    assert_eq!(
        verify(&sign(&k, &c), &keys, &expected()).unwrap_err(),
        IdTokenError::Nonce
    );
}

#[test]
fn leeway_is_honoured() {
    let k = key(KeyAlg::ES256, "k1");
    let keys = keys_of(&[&k]);
    let mut c = claims();
    c["exp"] = json!(NOW - 29);
    c["iat"] = json!(NOW + 29);
    c["nbf"] = json!(NOW + 29);
    verify(&sign(&k, &c), &keys, &expected()).unwrap();
    let mut c = claims();
    c["aud"] = json!(["other", CLIENT]);
    c["azp"] = json!(CLIENT);
    verify(&sign(&k, &c), &keys, &expected()).unwrap();
}

#[test]
fn forged_headers_are_refused() {
    let k = key(KeyAlg::RS256, "k1");
    let keys = keys_of(&[&k]);
    let c = claims();
    // alg none, unsigned.
    let none = raw(&json!({"alg": "none", "kid": "k1"}), &c, b"");
    assert_eq!(
        verify(&none, &keys, &expected()).unwrap_err(),
        IdTokenError::Malformed
    );
    // HS256 keyed with the provider's public key material.
    let PublicJwk::Rsa { n, .. } = serde_json::from_value::<PublicJwk>(k.jwk.clone()).unwrap()
    else {
        panic!("RSA key")
    };
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("k1".into()),
            ..jsonwebtoken::Header::new(Algorithm::HS256)
        },
        &c,
        &jsonwebtoken::EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verify(&hs, &keys, &expected()).unwrap_err(),
        IdTokenError::Algorithm
    );
    // ES256 header against an RSA key.
    let es = with_header(&k, &json!({"alg": "ES256", "kid": "k1"}), &c);
    assert_eq!(
        verify(&es, &keys, &expected()).unwrap_err(),
        IdTokenError::Algorithm
    );
    for extra in [
        json!({"jku": "https://evil.example.com/jwks"}),
        json!({"x5u": "https://evil.example.com/cert"}),
        json!({"jwk": k.jwk.clone()}),
        json!({"x5c": ["MIIB"]}),
    ] {
        let mut h = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
        for (name, v) in extra.as_object().unwrap() {
            h[name] = v.clone();
        }
        assert_eq!(
            verify(&with_header(&k, &h, &c), &keys, &expected()).unwrap_err(),
            IdTokenError::KeyHeader,
            "{h}"
        );
    }
    // A kid the JWKS does not hold.
    let other = key(KeyAlg::RS256, "k2");
    assert_eq!(
        verify(&sign(&other, &c), &keys, &expected()).unwrap_err(),
        IdTokenError::UnknownKid
    );
    // Same kid, another key: the signature fails.
    let impostor = key(KeyAlg::RS256, "k1");
    assert_eq!(
        verify(&sign(&impostor, &c), &keys, &expected()).unwrap_err(),
        IdTokenError::Signature
    );
    // A tampered payload.
    let good = sign(&k, &c);
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = c.clone();
    evil["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64url(evil.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        verify(&tampered, &keys, &expected()).unwrap_err(),
        IdTokenError::Signature
    );
}

#[test]
fn jwks_parsing_keeps_only_fitting_signature_keys() {
    let rsa = key(KeyAlg::RS256, "r");
    let mut mislabelled = key(KeyAlg::ES256, "e").jwk;
    mislabelled["alg"] = json!("RS256");
    let mut enc = key(KeyAlg::ES256, "enc").jwk;
    enc["use"] = json!("enc");
    let set = json!({"keys": [
        rsa.jwk,
        mislabelled,
        enc,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"},
        {"kty": "RSA", "kid": "broken"},
        "not an object"
    ]});
    let keys = UpstreamKeys::parse(&set);
    assert_eq!(keys.len(), 1);
    assert!(keys.find(Some("r")).is_some());
    assert!(keys.find(Some("h")).is_none());
    // Without a kid, only a lone key is chosen.
    assert!(keys.find(None).is_some());
    let two = keys_of(&[&key(KeyAlg::ES256, "a"), &key(KeyAlg::ES256, "b")]);
    assert!(two.find(None).is_none());
    assert!(UpstreamKeys::parse(&json!({"keys": 3})).is_empty());
}
