//! Signatures that must not authenticate anyone: `alg: none`, HMACs
//! keyed with public key material, keys carried in or pointed at by the
//! header, unknown kids, other keys, algorithms a key was not registered
//! for. `401 invalid_client`, and no token issued.

use serde_json::json;

use super::keys::{b64, hmac_jwt, sign_jwt, unsigned_jwt, ClientKey};
use super::*;
use crate::helpers::spawn_app;

#[actix_web::test]
async fn signatures_that_do_not_come_from_a_registered_key_are_refused() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let rsa = ClientKey::rsa("r1");
    let id = key_client(&app, &[&key, &rsa], json!({})).await;
    let attacker = ClientKey::es256("k1");
    let before = stored_tokens(&app);
    let c = || claims(&app, &id);

    let mut cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned_jwt(&c())),
        (
            "alg none with a kid",
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "kid": "k1"}).to_string().as_bytes()),
                b64(c().to_string().as_bytes())
            ),
        ),
        (
            "alg None",
            sign_jwt(&key, &json!({"alg": "ES256", "kid": "k1"}), &c()).replacen(
                &b64(json!({"alg": "ES256", "kid": "k1"}).to_string().as_bytes()),
                &b64(json!({"alg": "None", "kid": "k1"}).to_string().as_bytes()),
                1,
            ),
        ),
        (
            "unknown kid",
            sign_jwt(&key, &json!({"alg": "ES256", "kid": "k9"}), &c()),
        ),
        (
            "the attacker's key under the client's kid",
            sign_jwt(&attacker, &header_of(&attacker), &c()),
        ),
        (
            "the attacker's key, no kid",
            sign_jwt(&attacker, &json!({"alg": "ES256"}), &c()),
        ),
        (
            "the attacker's key in a jwk header",
            sign_jwt(
                &attacker,
                &json!({"alg": "ES256", "kid": "k1", "jwk": attacker.bare_jwk()}),
                &c(),
            ),
        ),
        (
            "the attacker's key in a jwk header, no kid",
            sign_jwt(
                &attacker,
                &json!({"alg": "ES256", "jwk": attacker.bare_jwk()}),
                &c(),
            ),
        ),
        (
            "the client's own key in a jwk header",
            sign_jwt(
                &key,
                &json!({"alg": "ES256", "kid": "k1", "jwk": key.bare_jwk()}),
                &c(),
            ),
        ),
        (
            "a jku header",
            sign_jwt(
                &key,
                &json!({"alg": "ES256", "kid": "k1", "jku": "https://attacker.example/jwks"}),
                &c(),
            ),
        ),
        (
            "an x5u header",
            sign_jwt(
                &key,
                &json!({"alg": "ES256", "kid": "k1", "x5u": "https://attacker.example/cert"}),
                &c(),
            ),
        ),
        (
            "an x5c header",
            sign_jwt(
                &key,
                &json!({"alg": "ES256", "kid": "k1", "x5c": [b64(&attacker.public_der())]}),
                &c(),
            ),
        ),
        (
            "a crit header",
            sign_jwt(
                &key,
                &json!({"alg": "ES256", "kid": "k1", "crit": ["exp"]}),
                &c(),
            ),
        ),
        // The EC key under the RSA key's kid; the RSA key under an EC alg.
        (
            "an EC signature under the RSA kid",
            sign_jwt(&key, &json!({"alg": "ES256", "kid": "r1"}), &c()),
        ),
        ("an RSA signature named ES256", {
            let h = json!({"alg": "ES256", "kid": "r1"});
            let good = sign_jwt(&rsa, &json!({"alg": "RS256", "kid": "r1"}), &c());
            let sig = good.rsplit('.').next().unwrap().to_string();
            format!(
                "{}.{}.{sig}",
                b64(h.to_string().as_bytes()),
                b64(c().to_string().as_bytes())
            )
        }),
        ("ES384 named for a P-256 key", {
            let h = json!({"alg": "ES384", "kid": "k1"});
            let good = sign_jwt(&key, &json!({"alg": "ES256", "kid": "k1"}), &c());
            let sig = good.rsplit('.').next().unwrap().to_string();
            format!(
                "{}.{}.{sig}",
                b64(h.to_string().as_bytes()),
                b64(c().to_string().as_bytes())
            )
        }),
        (
            "an unknown alg",
            sign_jwt(&key, &json!({"alg": "ES256", "kid": "k1"}), &c()).replacen(
                &b64(json!({"alg": "ES256", "kid": "k1"}).to_string().as_bytes()),
                &b64(json!({"alg": "ES512", "kid": "k1"}).to_string().as_bytes()),
                1,
            ),
        ),
        ("a tampered signature", {
            let good = assertion(&app, &key, &id);
            let (input, sig) = good.rsplit_once('.').unwrap();
            let mut raw =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
                    .unwrap();
            raw[5] ^= 0x01;
            format!("{input}.{}", b64(&raw))
        }),
        ("tampered claims", {
            let good = assertion(&app, &key, &id);
            let parts: Vec<&str> = good.split('.').collect();
            let claims = with(c(), json!({"scope": "admin"}));
            format!(
                "{}.{}.{}",
                parts[0],
                b64(claims.to_string().as_bytes()),
                parts[2]
            )
        }),
        ("no signature", {
            let good = assertion(&app, &key, &id);
            let (input, _) = good.rsplit_once('.').unwrap();
            format!("{input}.")
        }),
        ("not a JWS", "not-a-jwt".to_string()),
        ("four parts", format!("{}.x", assertion(&app, &key, &id))),
        ("JWE-like", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".to_string()),
    ];
    // HMAC keyed with what is public about the client's keys.
    for (what, secret) in [
        ("EC point", key.public_raw()),
        ("EC SPKI DER", key.public_der()),
        ("EC PEM", key.public_pem().into_bytes()),
        ("EC JWK JSON", key.jwk().to_string().into_bytes()),
        (
            "JWK Set JSON",
            super::keys::jwks(&[&key, &rsa]).to_string().into_bytes(),
        ),
        ("RSA PEM", rsa.public_pem().into_bytes()),
        ("RSA PKCS#1 DER", rsa.public_raw()),
        ("RSA SPKI DER", rsa.public_der()),
        ("RSA JWK JSON", rsa.jwk().to_string().into_bytes()),
        ("RSA n", super::keys::b64(&rsa.public_raw()).into_bytes()),
    ] {
        for (alg, kid) in [
            ("HS256", Some("k1")),
            ("HS256", Some("r1")),
            ("HS512", None),
        ] {
            let mut h = json!({"alg": alg});
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            cases.push((what, hmac_jwt(&secret, &h, &c())));
        }
    }
    for (why, a) in cases {
        let r = token_by(&app, &a, &[]).await;
        let body = assert_unauthorized(&app, r, before).await;
        eprintln!("{why}: {body}");
    }
    // The real key still works: nothing above locked the client out.
    access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;
}

#[actix_web::test]
async fn a_key_registered_for_one_alg_signs_with_no_other() {
    let app = spawn_app().await;
    // The client pins PS256 for its assertions.
    let rsa = ClientKey::rsa("r");
    let pinned = key_client(
        &app,
        &[&rsa],
        json!({"token_endpoint_auth_signing_alg": "PS256"}),
    )
    .await;
    // The key itself says RS256.
    let mut jwk = rsa.jwk();
    jwk["alg"] = json!("RS256");
    let keyed = app
        .create_client(json!({
            "scope": "read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk]},
            "access_token_format": "opaque",
        }))
        .await
        .id;
    let before = stored_tokens(&app);
    let sign =
        |alg: &str, id: &str| sign_jwt(&rsa, &json!({"alg": alg, "kid": "r"}), &claims(&app, id));
    for alg in ["RS256", "RS512", "PS512"] {
        let r = token_by(&app, &sign(alg, &pinned), &[]).await;
        assert_refused(&app, r, before).await;
    }
    for alg in ["PS256", "RS384", "PS384"] {
        let r = token_by(&app, &sign(alg, &keyed), &[]).await;
        assert_refused(&app, r, before).await;
    }
    access_token(token_by(&app, &sign("PS256", &pinned), &[]).await).await;
    access_token(token_by(&app, &sign("RS256", &keyed), &[]).await).await;
    // An EC client pinned to ES384 with a P-256 key can never sign.
    let ec = ClientKey::es256("e");
    let ec_pinned = key_client(
        &app,
        &[&ec],
        json!({"token_endpoint_auth_signing_alg": "ES384"}),
    )
    .await;
    let before = stored_tokens(&app);
    let r = token_by(&app, &assertion(&app, &ec, &ec_pinned), &[]).await;
    assert_refused(&app, r, before).await;
}

#[actix_web::test]
async fn keys_for_encryption_do_not_verify_assertions() {
    let app = spawn_app().await;
    let sig = ClientKey::es256("sig");
    let enc = ClientKey::es256("enc");
    let mut enc_jwk = enc.jwk();
    enc_jwk["use"] = json!("enc");
    let id = app
        .create_client(json!({
            "scope": "read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [sig.jwk(), enc_jwk]},
            "access_token_format": "opaque",
        }))
        .await
        .id;
    let before = stored_tokens(&app);
    assert_refused(
        &app,
        token_by(&app, &assertion(&app, &enc, &id), &[]).await,
        before,
    )
    .await;
    let a = sign_jwt(&enc, &json!({"alg": "ES256"}), &claims(&app, &id));
    assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    access_token(token_by(&app, &assertion(&app, &sig, &id), &[]).await).await;
}
