//! Our access-token JWTs verify independently against the JWKS, and every
//! forged or doctored JWT introspects `{"active":false}`.
//!
//! Forged tokens are not in the token index, so they go through the
//! signature-verification fallback. Each forgery is paired with a control:
//! a token signed by the server's own key with the same claims that the
//! index never saw either, and that *is* active, so a rejection is down to
//! the one thing the forgery changed.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tessera_actors::keys::material::generate;
use tessera_actors::keys::KeyAlg;
use tessera_actors::secret::{b64url, b64url_decode};

use crate::helpers::*;

#[actix_web::test]
async fn access_tokens_verify_against_the_jwks() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "audiences": ["https://api.example"]}))
        .await;
    let token = app.get_token(&c).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068");
    assert_eq!(header.alg, Algorithm::RS256);
    assert!(header.jku.is_none() && header.x5u.is_none() && header.jwk.is_none());
    let jwks = app.jwks().await;
    let data = verify_against_jwks(&token, &jwks, &app.issuer, "https://api.example");
    let claims = data.claims;
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], "https://api.example");
    assert_eq!(claims["client_id"], c.id.as_str());
    assert_eq!(claims["scope"], "read");
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

    // A resource server that expects another audience or issuer rejects it.
    let kid = header.kid.unwrap();
    let key = decoding_key(jwk(&jwks, &kid));
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_audience(&["https://other.example"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_err());
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_audience(&["https://api.example"]);
    v.set_issuer(&["https://not-us.example"]);
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &v).is_err());
}

#[actix_web::test]
async fn genuine_unindexed_tokens_are_active_control() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read write", "audiences": ["https://api.example"]}))
        .await;
    let (h, claims) = app.genuine_parts(&c);
    let token = app.sign_with_server_key(&h, &claims);
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["jti"], claims["jti"]);
    assert_eq!(v["scope"], "read");
    // Two audiences as an array, too.
    let mut claims = claims;
    claims["aud"] = json!([c.id, "https://api.example"]);
    let token = app.sign_with_server_key(&h, &claims);
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["aud"], json!([c.id, "https://api.example"]));
}

/// The engine's clock, not the wall clock, decides the fallback path too.
#[actix_web::test]
async fn unindexed_tokens_follow_the_engine_clock() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    app.clock.advance(2 * 86_400);
    let (h, claims) = app.genuine_parts(&c);
    let token = app.sign_with_server_key(&h, &claims);
    app.assert_active(&c, &token).await;
    let exp = claims["exp"].as_i64().unwrap();
    app.clock.set(exp - 1);
    app.assert_active(&c, &token).await;
    app.clock.set(exp);
    app.assert_inactive(&c, &token).await;
}

#[actix_web::test]
async fn alg_none_is_rejected() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let real = app.get_token(&c).await;
    let (mut h, claims) = app.genuine_parts(&c);
    let body = b64url(claims.to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        h["alg"] = json!(alg);
        let head = b64url(h.to_string().as_bytes());
        app.assert_inactive(&c, &format!("{head}.{body}.")).await;
        // With the real token's signature appended.
        let sig = real.split('.').nth(2).unwrap();
        app.assert_inactive(&c, &format!("{head}.{body}.{sig}"))
            .await;
    }
    // The real token's header and signature with other claims.
    let parts: Vec<&str> = real.split('.').collect();
    app.assert_inactive(&c, &format!("{}.{body}.{}", parts[0], parts[2]))
        .await;
}

/// DER of an RSA public key: PKCS#1 `RSAPublicKey` and SPKI.
pub(crate) fn rsa_public_der(n: &[u8], e: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn len(n: usize) -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else {
            let b = n.to_be_bytes();
            let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
            let mut out = vec![0x80 | b.len() as u8];
            out.extend(b);
            out
        }
    }
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(body.len()));
        out.extend_from_slice(body);
        out
    }
    fn int(v: &[u8]) -> Vec<u8> {
        let mut b = v.to_vec();
        if b.first().is_some_and(|x| x & 0x80 != 0) {
            b.insert(0, 0);
        }
        tlv(0x02, &b)
    }
    let pkcs1 = tlv(0x30, &[int(n), int(e)].concat());
    let alg_id = tlv(
        0x30,
        &[
            tlv(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let mut bits = vec![0u8];
    bits.extend(&pkcs1);
    let spki = tlv(0x30, &[alg_id, tlv(0x03, &bits)].concat());
    (pkcs1, spki)
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[actix_web::test]
async fn hs256_keyed_with_our_public_key_is_rejected() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let jwks = app.jwks().await;
    let (h, claims) = app.genuine_parts(&c);
    let kid = h["kid"].as_str().unwrap().to_string();
    let k = jwk(&jwks, &kid).clone();
    let n = b64url_decode(k["n"].as_str().unwrap()).unwrap();
    let e = b64url_decode(k["e"].as_str().unwrap()).unwrap();
    let (pkcs1, spki) = rsa_public_der(&n, &e);
    let secrets: Vec<Vec<u8>> = vec![
        n.clone(),
        [n.clone(), e.clone()].concat(),
        pkcs1.clone(),
        spki.clone(),
        pem("PUBLIC KEY", &spki).into_bytes(),
        pem("PUBLIC KEY", &spki).trim_end().as_bytes().to_vec(),
        pem("RSA PUBLIC KEY", &pkcs1).into_bytes(),
        k.to_string().into_bytes(),
        jwks.to_string().into_bytes(),
        k["n"].as_str().unwrap().as_bytes().to_vec(),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for secret in &secrets {
            let mut h = h.clone();
            h["alg"] = json!(format!("{alg:?}"));
            let token = sign_raw(&h, &claims, &EncodingKey::from_secret(secret), alg);
            app.assert_inactive(&c, &token).await;
        }
    }
    // Control.
    app.assert_active(&c, &app.sign_with_server_key(&h, &claims))
        .await;
}

#[actix_web::test]
async fn unknown_kid_missing_kid_and_a_foreign_key_under_our_kid_are_rejected() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (h, claims) = app.genuine_parts(&c);

    // Our own key, but the header names a kid we do not have (or none).
    for kid in [json!("unknown"), json!(""), json!(null), json!(42)] {
        let mut h = h.clone();
        h["kid"] = kid.clone();
        app.assert_inactive(&c, &app.sign_with_server_key(&h, &claims))
            .await;
    }
    let mut no_kid = h.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    app.assert_inactive(&c, &app.sign_with_server_key(&no_kid, &claims))
        .await;

    // An attacker's RSA key, with our kid (and with the *next* key's kid,
    // which is published but must not sign yet).
    let g = generate(KeyAlg::RS256).unwrap();
    let attacker = EncodingKey::from_rsa_der(&g.private_der);
    let next = app.stored_key(tessera_actors::keys::KeyState::Next).kid;
    for kid in [h["kid"].clone(), json!(next), json!(g.public.thumbprint())] {
        let mut h = h.clone();
        h["kid"] = kid;
        app.assert_inactive(&c, &sign_raw(&h, &claims, &attacker, Algorithm::RS256))
            .await;
    }
    // Our kid, an attacker's EC key, and the header claiming ES256.
    let g = generate(KeyAlg::ES256).unwrap();
    let mut h2 = h.clone();
    h2["alg"] = json!("ES256");
    let token = sign_raw(
        &h2,
        &claims,
        &EncodingKey::from_ec_der(&g.private_der),
        Algorithm::ES256,
    );
    app.assert_inactive(&c, &token).await;

    app.assert_active(&c, &app.sign_with_server_key(&h, &claims))
        .await;
}

#[actix_web::test]
async fn key_carrying_headers_are_rejected_even_with_a_good_signature() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (h, claims) = app.genuine_parts(&c);
    let jwks = app.jwks().await;
    let our_jwk = jwk(&jwks, h["kid"].as_str().unwrap()).clone();
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("jku", json!(format!("{}/oauth2/jwks", app.issuer))),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", our_jwk.clone()),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ] {
        let mut h = h.clone();
        h[name] = value;
        app.assert_inactive(&c, &app.sign_with_server_key(&h, &claims))
            .await;
    }
    // The classic: an embedded attacker key that signed the token.
    let g = generate(KeyAlg::RS256).unwrap();
    let mut h2 = h.clone();
    h2["jwk"] = serde_json::to_value(&g.public).unwrap();
    h2["kid"] = json!(g.public.thumbprint());
    let token = sign_raw(
        &h2,
        &claims,
        &EncodingKey::from_rsa_der(&g.private_der),
        Algorithm::RS256,
    );
    app.assert_inactive(&c, &token).await;
}

#[actix_web::test]
async fn doctored_claims_are_rejected() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (h, claims) = app.genuine_parts(&c);
    let now = app.now();
    let cases: Vec<(&str, Value)> = vec![
        ("expired", json!({"exp": now - 1})),
        ("expires now (zero leeway)", json!({"exp": now})),
        ("not yet valid", json!({"nbf": now + 5})),
        ("issued in the future", json!({"iat": now + 5})),
        ("wrong iss", json!({"iss": "https://attacker.example"})),
        (
            "iss with a trailing slash",
            json!({"iss": format!("{}/", app.issuer)}),
        ),
        ("iss of another port", json!({"iss": "http://127.0.0.1:1"})),
        ("no exp", json!({"exp": null})),
        ("no iss", json!({"iss": null})),
        ("no jti", json!({"jti": null})),
        ("jti not a uuid", json!({"jti": "abc"})),
        ("no client_id", json!({"client_id": null})),
        ("no sub", json!({"sub": null})),
        ("no aud", json!({"aud": null})),
        ("exp as a string", json!({"exp": (now + 600).to_string()})),
    ];
    for (what, patch) in cases {
        let mut cl = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                cl.as_object_mut().unwrap().remove(k);
            } else {
                cl[k] = v.clone();
            }
        }
        let token = app.sign_with_server_key(&h, &cl);
        assert_eq!(app.introspect_raw(&c, &token).await, INACTIVE, "{what}");
    }
    app.assert_active(&c, &app.sign_with_server_key(&h, &claims))
        .await;
}

#[actix_web::test]
async fn an_id_token_or_untyped_jwt_is_not_an_access_token() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (h, claims) = app.genuine_parts(&c);
    for typ in [
        json!("JWT"),
        json!("id_token"),
        json!("jwt"),
        json!(null),
        json!("at+jwt+x"),
    ] {
        let mut h = h.clone();
        if typ.is_null() {
            h.as_object_mut().unwrap().remove("typ");
        } else {
            h["typ"] = typ.clone();
        }
        assert_eq!(
            app.introspect_raw(&c, &app.sign_with_server_key(&h, &claims))
                .await,
            INACTIVE,
            "typ {typ}"
        );
    }
    // The media-type spelling of RFC 9068 is the same type.
    let mut h2 = h.clone();
    h2["typ"] = json!("application/at+jwt");
    app.assert_active(&c, &app.sign_with_server_key(&h2, &claims))
        .await;
}

#[actix_web::test]
async fn tampering_with_any_part_of_a_real_token_is_rejected() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let parts: Vec<&str> = token.split('.').collect();
    // Widen the scope in the payload.
    let mut claims = jwt_part(&token, 1);
    claims["scope"] = json!("read write admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url(claims.to_string().as_bytes()),
        parts[2]
    );
    app.assert_inactive(&c, &forged).await;
    // Drop, truncate or swap the signature.
    app.assert_inactive(&c, &format!("{}.{}.", parts[0], parts[1]))
        .await;
    app.assert_inactive(
        &c,
        &format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            &parts[2][..parts[2].len() - 4]
        ),
    )
    .await;
    let other = app.get_token(&c).await;
    let other_sig = other.split('.').nth(2).unwrap();
    app.assert_inactive(&c, &format!("{}.{}.{other_sig}", parts[0], parts[1]))
        .await;
    // Extra segments.
    app.assert_inactive(&c, &format!("{token}.x")).await;
    app.assert_active(&c, &token).await;
}

/// A token of ours whose record was lost (e.g. issued just before a crash)
/// keeps its revocation: revocation is by `jti`.
#[actix_web::test]
async fn a_revoked_jti_stays_revoked_on_the_fallback_path() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let claims = jwt_part(&token, 1);
    let header = jwt_part(&token, 0);
    assert_eq!(app.revoke(&c, &token).await, reqwest::StatusCode::OK);
    // Same claims (same jti), a fresh signature, so a different string the
    // index never saw.
    let twin = app.sign_with_server_key(&header, &claims);
    assert_ne!(twin, token, "a different encoding of the same claims");
    app.assert_inactive(&c, &twin).await;
}
