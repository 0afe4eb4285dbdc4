//! The token endpoint's side of RFC 9449: proofs checked as §4.3 says,
//! access tokens bound to the proof's key (§5, §6.1), and discovery.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::proof::{ProofKey, ProofSpec, Signing};
use super::*;
use crate::helpers::{assert_oauth_error, jwt_part, spawn_app, TestApp};

async fn refused(app: &TestApp, proofs: &[&str]) -> Value {
    let c = app.cc_client().await;
    let r = token_call(app, &c, &[("grant_type", "client_credentials")], proofs).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await
}

/// A proof for the token endpoint now, by a fresh ES256 key, from `spec`.
fn bad(app: &TestApp, f: impl FnOnce(ProofSpec) -> ProofSpec) -> String {
    let spec = ProofSpec::new("POST", &htu(app, "/oauth2/token"), app.now());
    ProofKey::es256().proof_with(f(spec))
}

#[actix_web::test]
async fn every_algorithm_binds_a_client_credentials_token() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for key in [
        ProofKey::es256(),
        ProofKey::ed25519(),
        ProofKey::rs256(),
        ProofKey::ps256(),
    ] {
        let body = issued(cc(&app, &c, Some(&token_proof(&app, &key))).await, "DPoP").await;
        let at = member(&body, "access_token");
        assert_eq!(jkt_of(at), json!(key.thumbprint()), "{}", key.alg());
        let v = app.assert_active(&c, at).await;
        assert_eq!(v["token_type"], "DPoP", "{v}");
        assert_eq!(v["cnf"], json!({"jkt": key.thumbprint()}), "{v}");
    }
}

#[actix_web::test]
async fn without_a_proof_the_token_is_a_bearer_token() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let body = issued(cc(&app, &c, None).await, "Bearer").await;
    let at = member(&body, "access_token");
    assert!(jwt_part(at, 1).get("cnf").is_none(), "{}", jwt_part(at, 1));
    let v = app.assert_active(&c, at).await;
    assert!(v.get("cnf").is_none(), "{v}");
    assert_ne!(v["token_type"], "DPoP", "{v}");
}

#[actix_web::test]
async fn opaque_tokens_are_bound_too() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "access_token_format": "opaque"}))
        .await;
    let key = ProofKey::ed25519();
    let body = issued(cc(&app, &c, Some(&token_proof(&app, &key))).await, "DPoP").await;
    let at = member(&body, "access_token");
    assert_ne!(at.split('.').count(), 3, "an opaque token: {at}");
    let v = app.assert_active(&c, at).await;
    assert_eq!(v["token_type"], "DPoP", "{v}");
    assert_eq!(v["cnf"]["jkt"], key.thumbprint(), "{v}");
}

#[actix_web::test]
async fn a_client_that_must_use_dpop_needs_a_proof() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "dpop_bound_access_tokens": true}))
        .await;
    let r = cc(&app, &c, None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let key = ProofKey::es256();
    let body = issued(cc(&app, &c, Some(&token_proof(&app, &key))).await, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
}

#[actix_web::test]
async fn a_proof_must_be_typed_dpop_jwt() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.header("typ", json!("jwt")))]).await;
    refused(&app, &[&bad(&app, |s| s.header("typ", json!("at+jwt")))]).await;
    refused(&app, &[&bad(&app, |s| s.without_header("typ"))]).await;
}

#[actix_web::test]
async fn alg_none_is_refused() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.signing(Signing::None))]).await;
}

#[actix_web::test]
async fn a_symmetric_alg_is_refused() {
    let app = spawn_app().await;
    let hs = |s: ProofSpec| s.signing(Signing::Hs256(b"a shared secret".to_vec()));
    refused(&app, &[&bad(&app, hs)]).await;
    // Even with the HMAC key in the header as an oct JWK.
    let oct = json!({"kty": "oct", "k": proof::b64(b"a shared secret")});
    refused(&app, &[&bad(&app, |s| hs(s).header("jwk", oct))]).await;
}

#[actix_web::test]
async fn a_private_key_in_the_jwk_is_refused() {
    let app = spawn_app().await;
    for key in [ProofKey::es256(), ProofKey::ed25519(), ProofKey::rs256()] {
        let spec = ProofSpec::new("POST", &htu(&app, "/oauth2/token"), app.now());
        let p = key.proof_with(spec.header("jwk", key.private_jwk()));
        refused(&app, &[&p]).await;
    }
}

#[actix_web::test]
async fn a_proof_without_a_jwk_is_refused() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.without_header("jwk"))]).await;
    refused(&app, &[&bad(&app, |s| s.header("jwk", json!("not a key")))]).await;
}

#[actix_web::test]
async fn a_signature_must_verify_with_the_jwk_and_fit_its_alg() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.signing(Signing::Tampered))]).await;
    // Signed by one key, carrying another's JWK.
    let other = ProofKey::es256().jwk();
    refused(&app, &[&bad(&app, |s| s.header("jwk", other))]).await;
    // An EC key under an RSA alg.
    refused(&app, &[&bad(&app, |s| s.header("alg", json!("RS256")))]).await;
    for junk in ["", "a.b", "not-a-jws", "a.b.c.d"] {
        refused(&app, &[junk]).await;
    }
}

#[actix_web::test]
async fn htm_must_be_the_requests_method() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.claim("htm", json!("GET")))]).await;
    refused(&app, &[&bad(&app, |s| s.claim("htm", json!("post")))]).await;
    refused(&app, &[&bad(&app, |s| s.without_claim("htm"))]).await;
}

#[actix_web::test]
async fn htu_must_be_the_token_endpoint() {
    let app = spawn_app().await;
    for wrong in [
        htu(&app, "/oauth2/userinfo"),
        htu(&app, "/oauth2/token/introspect"),
        "https://elsewhere.example/oauth2/token".to_string(),
        format!("http://localhost:{}/oauth2/token", app.port),
    ] {
        refused(&app, &[&bad(&app, |s| s.claim("htu", json!(wrong)))]).await;
    }
    refused(&app, &[&bad(&app, |s| s.without_claim("htu"))]).await;
}

#[actix_web::test]
async fn htu_query_and_fragment_are_ignored() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let base = htu(&app, "/oauth2/token");
    for u in [
        format!("{base}?x=1"),
        format!("{base}#frag"),
        format!("{base}?a=b&c=d#e"),
        base.replacen("http://", "HTTP://", 1),
    ] {
        let key = ProofKey::es256();
        let p = key.proof("POST", &u, app.now());
        let body = issued(cc(&app, &c, Some(&p)).await, "DPoP").await;
        assert_eq!(
            jkt_of(member(&body, "access_token")),
            json!(key.thumbprint())
        );
    }
}

#[actix_web::test]
async fn iat_must_be_within_the_window() {
    let app = spawn_app().await;
    let now = app.now();
    refused(&app, &[&bad(&app, |s| s.claim("iat", json!(now - 61)))]).await;
    refused(&app, &[&bad(&app, |s| s.claim("iat", json!(now - 3600)))]).await;
    refused(&app, &[&bad(&app, |s| s.claim("iat", json!(now + 6)))]).await;
    refused(&app, &[&bad(&app, |s| s.claim("iat", json!(now + 3600)))]).await;
    refused(&app, &[&bad(&app, |s| s.without_claim("iat"))]).await;
    let iat_str = json!(now.to_string());
    refused(&app, &[&bad(&app, |s| s.claim("iat", iat_str))]).await;
    // The edges of the window are inside.
    let c = app.cc_client().await;
    for iat in [now - 60, now + 5] {
        let p = bad(&app, |s| s.claim("iat", json!(iat)));
        issued(cc(&app, &c, Some(&p)).await, "DPoP").await;
    }
}

#[actix_web::test]
async fn the_window_follows_the_servers_clock() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let early = token_proof(&app, &key);
    app.clock.advance(120);
    let r = cc(&app, &c, Some(&early)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    issued(cc(&app, &c, Some(&token_proof(&app, &key))).await, "DPoP").await;
}

#[actix_web::test]
async fn jti_is_required_and_bounded() {
    let app = spawn_app().await;
    refused(&app, &[&bad(&app, |s| s.without_claim("jti"))]).await;
    refused(&app, &[&bad(&app, |s| s.jti(""))]).await;
    refused(&app, &[&bad(&app, |s| s.claim("jti", json!(42)))]).await;
    refused(&app, &[&bad(&app, |s| s.jti(&"j".repeat(257)))]).await;
    let c = app.cc_client().await;
    let p = bad(&app, |s| {
        s.jti(&format!("{}{}", uuid::Uuid::new_v4(), "j".repeat(220)))
    });
    issued(cc(&app, &c, Some(&p)).await, "DPoP").await;
}

#[actix_web::test]
async fn a_replayed_proof_is_refused() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let p = token_proof(&app, &key);
    issued(cc(&app, &c, Some(&p)).await, "DPoP").await;
    let r = cc(&app, &c, Some(&p)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    // Another client replaying it fares no better.
    let thief = app.cc_client().await;
    let r = cc(&app, &thief, Some(&p)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    // Another proof reusing the jti is a replay too.
    let jti = proof::part(&p, 1)["jti"].as_str().unwrap().to_string();
    let spec = ProofSpec::new("POST", &htu(&app, "/oauth2/token"), app.now() - 1).jti(&jti);
    let r = cc(&app, &c, Some(&key.proof_with(spec))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    // A fresh proof of the same key is fine.
    issued(cc(&app, &c, Some(&token_proof(&app, &key))).await, "DPoP").await;
}

#[actix_web::test]
async fn two_dpop_headers_are_refused() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let (a, b) = (token_proof(&app, &key), token_proof(&app, &key));
    refused(&app, &[&a, &b]).await;
    refused(&app, &[&a, &a]).await;
}

#[actix_web::test]
async fn discovery_advertises_the_proof_algorithms() {
    let app = spawn_app().await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut got: Vec<&str> = d["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap_or_else(|| panic!("dpop_signing_alg_values_supported in {d}"))
        .iter()
        .map(|a| a.as_str().expect("alg"))
        .collect();
    got.sort_unstable();
    let mut want = ALGS.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(!got.contains(&"none") && !got.iter().any(|a| a.starts_with("HS")));
}
