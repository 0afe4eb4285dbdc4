//! Bound access tokens where they are used (RFC 9449 §7): the `DPoP`
//! scheme with a proof carrying `ath`, at userinfo, the session API and the
//! personal-token API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::proof::{ProofKey, ProofSpec, Signing};
use super::*;
use crate::flow::{create_user, first_party_rp, SCOPE};
use crate::helpers::{spawn_app, TestApp};

/// A user's access token (scope with `openid`), bound to `key` when given.
async fn user_token(app: &TestApp, key: Option<&ProofKey>) -> (TestUser, String) {
    let user = create_user(app, &format!("u{}", uuid::Uuid::new_v4().simple())).await;
    let rp = first_party_rp(app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let code = code_for(app, &user, &req).await;
    let proof = key.map(|k| token_proof(app, k));
    let r = exchange(app, &rp, &code, &req, proof.as_deref()).await;
    let body = issued(r, if key.is_some() { "DPoP" } else { "Bearer" }).await;
    (user, member(&body, "access_token").to_string())
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `GET /oauth2/userinfo` with `Authorization: <scheme> <token>` and an
/// optional proof.
async fn userinfo(app: &TestApp, auth: (&str, &str), proof: Option<&str>) -> reqwest::Response {
    resource(app, Method::GET, "/oauth2/userinfo", auth, proof).await
}

fn userinfo_proof(app: &TestApp, key: &ProofKey, token: &str) -> String {
    key.proof_for("GET", &htu(app, "/oauth2/userinfo"), app.now(), token)
}

#[actix_web::test]
async fn userinfo_takes_a_bound_token_with_its_proof() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let (user, at) = user_token(&app, Some(&key)).await;
    let dpop = ("DPoP", at.as_str());
    let p = userinfo_proof(&app, &key, &at);
    let r = resource(&app, Method::GET, "/oauth2/userinfo", dpop, Some(&p)).await;
    assert_eq!(ok_json(r).await["sub"], user.id.to_string());

    let p = key.proof_for("POST", &htu(&app, "/oauth2/userinfo"), app.now(), &at);
    let r = resource(&app, Method::POST, "/oauth2/userinfo", dpop, Some(&p)).await;
    assert_eq!(ok_json(r).await["sub"], user.id.to_string());

    // The query is no part of htu.
    let p = userinfo_proof(&app, &key, &at);
    let r = resource(&app, Method::GET, "/oauth2/userinfo?x=1", dpop, Some(&p)).await;
    assert_eq!(ok_json(r).await["sub"], user.id.to_string());
}

#[actix_web::test]
async fn a_bound_token_is_no_bearer_token() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let (_, at) = user_token(&app, Some(&key)).await;
    let r = userinfo(&app, ("Bearer", &at), None).await;
    let body = assert_dpop_challenge(r, "invalid_token").await;
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    // Not even with a good proof alongside.
    let p = userinfo_proof(&app, &key, &at);
    let r = userinfo(&app, ("Bearer", &at), Some(&p)).await;
    assert_dpop_challenge(r, "invalid_token").await;
}

#[actix_web::test]
async fn a_bad_proof_at_userinfo_is_refused() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let (user, at) = user_token(&app, Some(&key)).await;
    let url = htu(&app, "/oauth2/userinfo");
    let now = app.now();
    let spec = || ProofSpec::new("GET", &url, now).ath(&at);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no proof", None),
        ("no ath", Some(key.proof("GET", &url, now))),
        (
            "wrong ath",
            Some(key.proof_for("GET", &url, now, "another token")),
        ),
        (
            "another key",
            Some(ProofKey::es256().proof_for("GET", &url, now, &at)),
        ),
        ("wrong htm", Some(key.proof_for("POST", &url, now, &at))),
        (
            "wrong htu",
            Some(key.proof_for("GET", &htu(&app, "/oauth2/token"), now, &at)),
        ),
        ("stale", Some(key.proof_for("GET", &url, now - 600, &at))),
        ("future", Some(key.proof_for("GET", &url, now + 600, &at))),
        (
            "bad signature",
            Some(key.proof_with(spec().signing(Signing::Tampered))),
        ),
        (
            "alg none",
            Some(key.proof_with(spec().signing(Signing::None))),
        ),
        (
            "typ",
            Some(key.proof_with(spec().header("typ", json!("jwt")))),
        ),
        ("no jti", Some(key.proof_with(spec().without_claim("jti")))),
        ("garbage", Some("x.y.z".to_string())),
    ];
    for (case, proof) in cases {
        let r = resource(
            &app,
            Method::GET,
            "/oauth2/userinfo",
            ("DPoP", &at),
            proof.as_deref(),
        )
        .await;
        let body = assert_dpop_challenge(r, "invalid_dpop_proof").await;
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
        assert!(body["error_description"].is_string(), "{case}: {body}");
    }
    // Two proofs at once.
    let (a, b) = (
        userinfo_proof(&app, &key, &at),
        userinfo_proof(&app, &key, &at),
    );
    let r = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .header("authorization", format!("DPoP {at}"))
        .header("DPoP", &a)
        .header("DPoP", &b)
        .send()
        .await
        .unwrap();
    assert_dpop_challenge(r, "invalid_dpop_proof").await;
    // None of that hurt the token.
    let p = userinfo_proof(&app, &key, &at);
    let r = userinfo(&app, ("DPoP", &at), Some(&p)).await;
    assert_eq!(ok_json(r).await["sub"], user.id.to_string());
}

#[actix_web::test]
async fn a_replayed_proof_at_userinfo_is_refused() {
    let app = spawn_app().await;
    let key = ProofKey::ed25519();
    let (_, at) = user_token(&app, Some(&key)).await;
    let p = userinfo_proof(&app, &key, &at);
    let r = userinfo(&app, ("DPoP", &at), Some(&p)).await;
    ok_json(r).await;
    let r = userinfo(&app, ("DPoP", &at), Some(&p)).await;
    assert_dpop_challenge(r, "invalid_dpop_proof").await;
}

#[actix_web::test]
async fn an_unbound_token_with_the_dpop_scheme_is_refused() {
    let app = spawn_app().await;
    let key = ProofKey::es256();
    let (user, at) = user_token(&app, None).await;
    assert!(jkt_of(&at).is_null());
    let p = userinfo_proof(&app, &key, &at);
    let r = userinfo(&app, ("DPoP", &at), Some(&p)).await;
    let status = r.status();
    let www = header(&r, "www-authenticate").unwrap_or_default();
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(www.contains("error=\"invalid_token\""), "{www:?}");
    assert_eq!(body["error"], "invalid_token", "{body}");
    let r = userinfo(&app, ("Bearer", &at), None).await;
    assert_eq!(ok_json(r).await["sub"], user.id.to_string());
}

#[actix_web::test]
async fn the_session_api_takes_a_bound_token_with_its_proof() {
    let app = spawn_app().await;
    let key = ProofKey::rs256();
    let (_, at) = user_token(&app, Some(&key)).await;
    let dpop = ("DPoP", at.as_str());
    let p = key.proof_for("GET", &htu(&app, "/sessions"), app.now(), &at);
    let list = ok_json(resource(&app, Method::GET, "/sessions", dpop, Some(&p)).await).await;
    let sessions = list.as_array().expect("a list");
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(sessions[0]["current"], true, "{list}");
    let p = key.proof_for("GET", &htu(&app, "/sessions/session"), app.now(), &at);
    let s = ok_json(resource(&app, Method::GET, "/sessions/session", dpop, Some(&p)).await).await;
    assert_eq!(s["id"], sessions[0]["id"]);

    let r = resource(&app, Method::GET, "/sessions", ("Bearer", &at), None).await;
    assert_dpop_challenge(r, "invalid_token").await;
    for (case, p) in [
        ("no proof", None),
        (
            "no ath",
            Some(key.proof("GET", &htu(&app, "/sessions"), app.now())),
        ),
        (
            "wrong htu",
            Some(key.proof_for("GET", &htu(&app, "/sessions/session"), app.now(), &at)),
        ),
        (
            "wrong htm",
            Some(key.proof_for("DELETE", &htu(&app, "/sessions"), app.now(), &at)),
        ),
        (
            "another key",
            Some(ProofKey::es256().proof_for("GET", &htu(&app, "/sessions"), app.now(), &at)),
        ),
    ] {
        let r = resource(&app, Method::GET, "/sessions", dpop, p.as_deref()).await;
        let body = assert_dpop_challenge(r, "invalid_dpop_proof").await;
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
    }
}

#[actix_web::test]
async fn the_personal_token_api_takes_a_bound_token_with_its_proof() {
    let app = spawn_app().await;
    let key = ProofKey::ps256();
    let (_, at) = user_token(&app, Some(&key)).await;
    let dpop = ("DPoP", at.as_str());
    let url = htu(&app, "/api/users/token");
    let p = key.proof_for("GET", &url, app.now(), &at);
    let list = ok_json(resource(&app, Method::GET, "/api/users/token", dpop, Some(&p)).await).await;
    assert_eq!(list, json!([]));
    // The same proof again is a replay.
    let r = resource(&app, Method::GET, "/api/users/token", dpop, Some(&p)).await;
    let body = assert_dpop_challenge(r, "invalid_dpop_proof").await;
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let wrong = key.proof_for("GET", &url, app.now(), &format!("{at}x"));
    let r = resource(&app, Method::GET, "/api/users/token", dpop, Some(&wrong)).await;
    assert_dpop_challenge(r, "invalid_dpop_proof").await;
    let r = resource(&app, Method::GET, "/api/users/token", ("Bearer", &at), None).await;
    assert_dpop_challenge(r, "invalid_token").await;
}
