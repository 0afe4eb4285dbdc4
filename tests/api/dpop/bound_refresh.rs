//! Codes and refresh tokens and their keys (RFC 9449 §5, §10): a public
//! client's refresh token is bound to the key of the proof it was issued
//! with; a confidential client's is not; `dpop_jkt` binds a code.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::proof::ProofKey;
use super::*;
use crate::flow::{confidential_rp, create_user, introspector, public_rp, SCOPE};
use crate::helpers::{assert_api_error, assert_oauth_error, spawn_app, TestApp};

/// A code flow of `rp` for a new user, exchanged with a proof of `key`.
async fn bound_flow(app: &TestApp, rp: &Rp, key: &ProofKey) -> Value {
    let user = create_user(app, &format!("u{}", uuid::Uuid::new_v4().simple())).await;
    let req = AuthRequest::new(rp, SCOPE);
    let code = code_for(app, &user, &req).await;
    let r = exchange(app, rp, &code, &req, Some(&token_proof(app, key))).await;
    let body = issued(r, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
    assert!(body["refresh_token"].is_string(), "{body}");
    body
}

#[actix_web::test]
async fn a_public_clients_refresh_token_needs_its_key() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let rs = introspector(&app).await;
    let key = ProofKey::es256();
    let t = bound_flow(&app, &rp, &key).await;
    let rt = member(&t, "refresh_token");

    let r = refresh(&app, &rp, rt, None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let other = ProofKey::es256();
    let r = refresh(&app, &rp, rt, Some(&token_proof(&app, &other))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = refresh(
        &app,
        &rp,
        rt,
        Some(&token_proof(&app, &ProofKey::ed25519())),
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Those attempts used nothing up and revoked nothing.
    app.assert_active(&rs, member(&t, "access_token")).await;
    app.assert_active(&rs, rt).await;
    let n = issued(
        refresh(&app, &rp, rt, Some(&token_proof(&app, &key))).await,
        "DPoP",
    )
    .await;
    assert_eq!(jkt_of(member(&n, "access_token")), json!(key.thumbprint()));
    let v = app.assert_active(&rs, member(&n, "access_token")).await;
    assert_eq!(v["token_type"], "DPoP", "{v}");
    assert_eq!(v["cnf"]["jkt"], key.thumbprint(), "{v}");

    // The rotated refresh token keeps the binding.
    let next = member(&n, "refresh_token");
    let r = refresh(&app, &rp, next, Some(&token_proof(&app, &other))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let m = issued(
        refresh(&app, &rp, next, Some(&token_proof(&app, &key))).await,
        "DPoP",
    )
    .await;
    assert_eq!(jkt_of(member(&m, "access_token")), json!(key.thumbprint()));
}

#[actix_web::test]
async fn a_public_clients_refresh_with_a_bad_proof_is_a_proof_error() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let key = ProofKey::rs256();
    let t = bound_flow(&app, &rp, &key).await;
    let rt = member(&t, "refresh_token");
    let stale = key.proof("POST", &htu(&app, "/oauth2/token"), app.now() - 600);
    let r = refresh(&app, &rp, rt, Some(&stale)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    issued(
        refresh(&app, &rp, rt, Some(&token_proof(&app, &key))).await,
        "DPoP",
    )
    .await;
}

async fn first_party_refresh(app: &TestApp, rp: &Rp, rt: &str, proof: Option<&str>) -> Response {
    let mut r = app.http.post(app.url("/api/oauth/token")).form(&[
        ("grant_type", "refresh_token"),
        ("client_id", rp.id()),
        ("refresh_token", rt),
    ]);
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.expect("token request")
}

#[actix_web::test]
async fn the_first_party_token_endpoint_keeps_the_binding() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let rs = introspector(&app).await;
    let key = ProofKey::es256();
    let t = bound_flow(&app, &rp, &key).await;
    let rt = member(&t, "refresh_token");

    let r = first_party_refresh(&app, &rp, rt, None).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let wrong_key = ProofKey::es256().proof("POST", &htu(&app, "/api/oauth/token"), app.now());
    let r = first_party_refresh(&app, &rp, rt, Some(&wrong_key)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // A proof for /oauth2/token is not one for /api/oauth/token.
    let r = first_party_refresh(&app, &rp, rt, Some(&token_proof(&app, &key))).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;

    let p = key.proof("POST", &htu(&app, "/api/oauth/token"), app.now());
    let r = first_party_refresh(&app, &rp, rt, Some(&p)).await;
    let status = r.status();
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let v = app.assert_active(&rs, member(&body, "access_token")).await;
    assert_eq!(v["cnf"]["jkt"], key.thumbprint(), "{v}");
}

#[actix_web::test]
async fn a_confidential_clients_refresh_token_is_not_bound() {
    let app = spawn_app().await;
    let rp = confidential_rp(&app).await;
    let rs = introspector(&app).await;
    let key = ProofKey::es256();
    let t = bound_flow(&app, &rp, &key).await;
    let rt = member(&t, "refresh_token");

    // Another key's proof: a token bound to that key.
    let other = ProofKey::ps256();
    let n = issued(
        refresh(&app, &rp, rt, Some(&token_proof(&app, &other))).await,
        "DPoP",
    )
    .await;
    assert_eq!(
        jkt_of(member(&n, "access_token")),
        json!(other.thumbprint())
    );
    let v = app.assert_active(&rs, member(&n, "access_token")).await;
    assert_eq!(v["cnf"]["jkt"], other.thumbprint(), "{v}");

    // No proof: a Bearer token.
    let next = member(&n, "refresh_token");
    let b = issued(refresh(&app, &rp, next, None).await, "Bearer").await;
    let at = member(&b, "access_token");
    assert!(jkt_of(at).is_null(), "{}", crate::helpers::jwt_part(at, 1));
    let v = app.assert_active(&rs, at).await;
    assert!(v.get("cnf").is_none(), "{v}");
}

#[actix_web::test]
async fn dpop_jkt_binds_the_code_to_a_key() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let user = create_user(&app, "jkt").await;
    let key = ProofKey::ed25519();
    let other = ProofKey::es256();
    let bound_req = || AuthRequest::new(&rp, SCOPE).set("dpop_jkt", &key.thumbprint());

    let req = bound_req();
    let code = code_for(&app, &user, &req).await;
    let r = exchange(&app, &rp, &code, &req, None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let req = bound_req();
    let code = code_for(&app, &user, &req).await;
    let r = exchange(&app, &rp, &code, &req, Some(&token_proof(&app, &other))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let req = bound_req();
    let code = code_for(&app, &user, &req).await;
    let r = exchange(&app, &rp, &code, &req, Some(&token_proof(&app, &key))).await;
    let body = issued(r, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
}

#[actix_web::test]
async fn dpop_jkt_binds_a_confidential_clients_code_too() {
    let app = spawn_app().await;
    let rp = confidential_rp(&app).await;
    let user = create_user(&app, "jkt2").await;
    let key = ProofKey::es256();
    let req = AuthRequest::new(&rp, SCOPE).set("dpop_jkt", &key.thumbprint());
    let code = code_for(&app, &user, &req).await;
    let other = ProofKey::es256();
    let r = exchange(&app, &rp, &code, &req, Some(&token_proof(&app, &other))).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let req = AuthRequest::new(&rp, SCOPE).set("dpop_jkt", &key.thumbprint());
    let code = code_for(&app, &user, &req).await;
    let r = exchange(&app, &rp, &code, &req, Some(&token_proof(&app, &key))).await;
    let body = issued(r, "DPoP").await;
    assert_eq!(
        jkt_of(member(&body, "access_token")),
        json!(key.thumbprint())
    );
}
