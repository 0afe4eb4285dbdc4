//! Every way a request object can be wrong (RFC 9101 §6, RFC 8725): the
//! key, the client, the audience, the times, nesting, `typ`, `alg`. Each
//! is an error page at the authorization endpoint (and no code), a JSON
//! `invalid_request_object` at the PAR endpoint, with the reason given.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::jar::{code_for, jar_rp};
use super::{
    assert_par_error, by_value, claims_for, error_page, par_call, unsigned, with, RequestKey,
};
use crate::dpop::proof::{ProofSpec, Signing};
use crate::flow::*;
use crate::helpers::{spawn_app, TestApp};

/// Request objects for `rp` (registered with `key`) that must be refused:
/// what is wrong, the object, and a fragment of the reason the server
/// gives. `stranger` is another client and its registered key.
fn refused_objects(
    app: &TestApp,
    rp: &Rp,
    key: &RequestKey,
    stranger: (&Rp, &RequestKey),
) -> Vec<(&'static str, String, &'static str)> {
    let req = AuthRequest::new(rp, "openid read");
    let base = claims_for(app, rp, &req);
    // A fresh jti each: a refusal never hides behind a replay.
    let fresh = || with(&base, "jti", json!(uuid::Uuid::new_v4().to_string()));
    let good = fresh();
    let now = app.now();
    let (other_rp, other_key) = stranger;
    let mut tampered = key.sign(&good);
    let dot = tampered.rfind('.').unwrap();
    let flipped = if &tampered[dot + 1..dot + 2] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(dot + 1..dot + 2, flipped);
    // A key of the same type, never registered.
    let unregistered = if key.key.alg() == "ES256" {
        RequestKey::es256()
    } else {
        RequestKey::rs256()
    };
    // The header names an alg of the other key type than the key's.
    let foreign_alg = if key.key.alg().starts_with("ES") {
        "RS256"
    } else {
        "ES256"
    };
    let confused = key.sign_with(&json!({"kid": key.kid, "alg": foreign_alg}), &fresh());
    // HS256 keyed with the client's public key.
    let hmac = {
        let mut h = serde_json::Map::new();
        h.insert("kid".into(), json!(key.kid));
        h.insert("jwk".into(), Value::Null);
        key.key.proof_with(ProofSpec {
            header: h,
            claims: fresh().as_object().unwrap().clone(),
            signing: Signing::Hs256(key.jwk().to_string().into_bytes()),
        })
    };
    let sig = "the signature does not verify";
    let wrong_client = "client_id must be the client";
    let aud = "aud must be the issuer";
    let nested = "may not hold request or request_uri";
    vec![
        (
            "signed by another client's key",
            other_key.sign(&fresh()),
            "no registered key has this kid",
        ),
        (
            "signed by another client's key, no kid",
            other_key.sign_with(&json!({}), &fresh()),
            sig,
        ),
        (
            "signed by an unregistered key with the client's kid",
            unregistered.sign_with(&json!({"kid": key.kid}), &fresh()),
            sig,
        ),
        ("a bad signature", tampered, sig),
        (
            "alg confusion",
            confused,
            "no registered key can verify this alg",
        ),
        (
            "HS256 with the public key",
            hmac,
            "not an accepted signature algorithm",
        ),
        ("unsigned", unsigned(&fresh()), "it is unsigned"),
        (
            "a key in the header",
            key.sign_with(&json!({"kid": key.kid, "jwk": key.key.jwk()}), &fresh()),
            "carries or points at a key",
        ),
        (
            "client_id of another client",
            key.sign(&with(&fresh(), "client_id", json!(other_rp.id()))),
            wrong_client,
        ),
        (
            "no client_id",
            key.sign(&with(&fresh(), "client_id", Value::Null)),
            wrong_client,
        ),
        (
            "iss another client",
            key.sign(&with(&fresh(), "iss", json!(other_rp.id()))),
            "iss must be the client_id",
        ),
        (
            "aud another server",
            key.sign(&with(
                &fresh(),
                "aud",
                json!("https://as.elsewhere.example"),
            )),
            aud,
        ),
        (
            "aud the token endpoint",
            key.sign(&with(
                &fresh(),
                "aud",
                json!(format!("{}/oauth2/token", app.issuer)),
            )),
            aud,
        ),
        ("no aud", key.sign(&with(&fresh(), "aud", Value::Null)), aud),
        (
            "expired",
            key.sign(&with(&fresh(), "exp", json!(now - 10))),
            "it has expired",
        ),
        (
            "no exp",
            key.sign(&with(&fresh(), "exp", Value::Null)),
            "exp is missing",
        ),
        (
            "a lifetime too long",
            key.sign(&with(&fresh(), "exp", json!(now + 3600))),
            "lives longer than the server accepts",
        ),
        (
            "issued in the future",
            key.sign(&with(
                &with(&fresh(), "iat", json!(now + 120)),
                "exp",
                json!(now + 180),
            )),
            "issued in the future",
        ),
        (
            "not valid yet",
            key.sign(&with(&fresh(), "nbf", json!(now + 120))),
            "not valid yet",
        ),
        (
            "a nested request",
            key.sign(&with(
                &fresh(),
                "request",
                json!("eyJhbGciOiJub25lIn0.e30."),
            )),
            nested,
        ),
        (
            "a nested request_uri",
            key.sign(&with(
                &fresh(),
                "request_uri",
                json!("urn:ietf:params:oauth:request_uri:tes_ru_x"),
            )),
            nested,
        ),
        (
            "a foreign typ",
            key.sign_with(&json!({"kid": key.kid, "typ": "dpop+jwt"}), &fresh()),
            "its typ must be",
        ),
        ("not a JWT", "not.a.jwt".to_string(), "not a compact JWS"),
    ]
}

#[actix_web::test]
async fn wrong_request_objects_get_an_error_page_and_no_code() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::es256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let other_key = RequestKey::es256();
    let other = jar_rp(&app, &other_key, json!({})).await;
    let mut b = logged_in(&app, &user).await;
    for (what, jwt, why) in refused_objects(&app, &rp, &key, (&other, &other_key)) {
        let r = b.get(&by_value(rp.id(), &jwt, &[])).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let page = error_page(r, "invalid_request_object").await;
        assert!(page.contains(why), "{what}: {why} in {page}");
        assert!(!page.contains("code="), "{what}");
    }
    // The client's good objects still work.
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    code_for(&app, &mut b, &by_value(rp.id(), &jwt, &[]), &req.state).await;
}

#[actix_web::test]
async fn wrong_request_objects_are_refused_at_the_par_endpoint() {
    let app = spawn_app().await;
    let key = RequestKey::rs256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let other_key = RequestKey::rs256();
    let other = jar_rp(&app, &other_key, json!({})).await;
    for (what, jwt, why) in refused_objects(&app, &rp, &key, (&other, &other_key)) {
        let r = par_call(
            &app,
            &rp,
            &[("client_id", rp.id()), ("request", jwt.as_str())],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
        let body = assert_par_error(r, StatusCode::BAD_REQUEST, "invalid_request_object").await;
        let d = body["error_description"].as_str().unwrap_or_default();
        assert!(d.contains(why), "{what}: {why} in {body}");
    }
}
