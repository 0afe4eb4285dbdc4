//! Server nonces (RFC 9449 §8): demanded by the settings or per client,
//! answered with `use_dpop_nonce` and a `DPoP-Nonce` header.

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::proof::{ProofKey, ProofSpec};
use super::*;
use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, TestApp};

/// A token-endpoint proof now, with `nonce` if any.
fn proof_with_nonce(app: &TestApp, key: &ProofKey, nonce: Option<&str>) -> String {
    let spec = ProofSpec::new("POST", &htu(app, "/oauth2/token"), app.now());
    key.proof_with(match nonce {
        Some(n) => spec.nonce(n),
        None => spec,
    })
}

/// Assert `use_dpop_nonce` with a fresh nonce; that nonce.
async fn use_nonce(r: Response) -> String {
    let nonce = header(&r, "dpop-nonce").expect("a DPoP-Nonce header");
    assert!(!nonce.is_empty());
    assert!(
        nonce
            .bytes()
            .all(|b| b == b'!' || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)),
        "RFC 9449 §8.1 nonce syntax: {nonce:?}"
    );
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    nonce
}

async fn nonce_app() -> TestApp {
    spawn_app_with(|s| s.dpop.require_nonce = true).await
}

#[actix_web::test]
async fn a_server_demanding_nonces_hands_one_out_and_accepts_it() {
    let app = nonce_app().await;
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let nonce = use_nonce(cc(&app, &c, Some(&proof_with_nonce(&app, &key, None))).await).await;
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&nonce)))).await;
    let next = header(&r, "dpop-nonce").expect("a 200 carries a DPoP-Nonce too");
    assert!(!next.is_empty());
    let body = issued(r, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
    // The newest nonce works as well.
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&next)))).await;
    issued(r, "DPoP").await;
}

#[actix_web::test]
async fn a_made_up_nonce_is_refused() {
    let app = nonce_app().await;
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let random = uuid::Uuid::new_v4().to_string();
    for fake in ["made-up", "", random.as_str()] {
        let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(fake)))).await;
        use_nonce(r).await;
    }
    let n = use_nonce(cc(&app, &c, Some(&proof_with_nonce(&app, &key, None))).await).await;
    let mut forged = n.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&forged)))).await;
    use_nonce(r).await;
}

#[actix_web::test]
async fn a_nonce_expires_after_its_lifetime() {
    let app = nonce_app().await;
    let lifetime = tessera::configuration::Settings::default()
        .dpop
        .nonce_lifetime;
    assert_eq!(lifetime, 300);
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let nonce = use_nonce(cc(&app, &c, Some(&proof_with_nonce(&app, &key, None))).await).await;
    app.clock.advance(lifetime - 60);
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&nonce)))).await;
    issued(r, "DPoP").await;
    app.clock.advance(61);
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&nonce)))).await;
    let fresh = use_nonce(r).await;
    assert_ne!(fresh, nonce);
    let r = cc(&app, &c, Some(&proof_with_nonce(&app, &key, Some(&fresh)))).await;
    issued(r, "DPoP").await;
}

#[actix_web::test]
async fn a_client_can_demand_nonces_on_its_own() {
    let app = spawn_app().await;
    let strict = app
        .create_client(json!({"scope": "read", "dpop_require_nonce": true}))
        .await;
    let plain = app.cc_client().await;
    let key = ProofKey::ed25519();
    issued(
        cc(&app, &plain, Some(&proof_with_nonce(&app, &key, None))).await,
        "DPoP",
    )
    .await;
    let r = cc(&app, &strict, Some(&proof_with_nonce(&app, &key, None))).await;
    let nonce = use_nonce(r).await;
    let r = cc(
        &app,
        &strict,
        Some(&proof_with_nonce(&app, &key, Some(&nonce))),
    )
    .await;
    assert!(header(&r, "dpop-nonce").is_some());
    let body = issued(r, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
}

#[actix_web::test]
async fn a_nonce_does_not_excuse_a_bad_proof() {
    let app = nonce_app().await;
    let c = app.cc_client().await;
    let key = ProofKey::es256();
    let nonce = use_nonce(cc(&app, &c, Some(&proof_with_nonce(&app, &key, None))).await).await;
    let spec = ProofSpec::new("GET", &htu(&app, "/oauth2/token"), app.now()).nonce(&nonce);
    let r = cc(&app, &c, Some(&key.proof_with(spec))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    // And a replay of a good proof with a good nonce is still a replay.
    let good = proof_with_nonce(&app, &key, Some(&nonce));
    issued(cc(&app, &c, Some(&good)).await, "DPoP").await;
    let r = cc(&app, &c, Some(&good)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
}
