//! Initial access tokens (RFC 7591 §3): issued by the admin API and the
//! CLI, spent one registration at a time, dead when used up, expired or
//! revoked.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::configuration::RegistrationMode;

use super::*;
use crate::helpers::spawn_app_with;

async fn token_app() -> TestApp {
    spawn_app_with(|s| s.registration.mode = RegistrationMode::InitialToken).await
}

#[actix_web::test]
async fn a_token_is_spent_one_registration_at_a_time() {
    let app = token_app().await;
    let t = initial_token(
        &app,
        json!({"uses": 2, "expires_in": 600, "note": "for the CI"}),
    )
    .await;
    let token = t["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("tes_iat_"));
    assert_eq!(t["uses_left"], 2);
    for _ in 0..2 {
        registered(register_call(&app, &loopback_metadata(), Some(&token)).await).await;
    }
    let r = register_call(&app, &loopback_metadata(), Some(&token)).await;
    refused(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.listed_clients().await.len(), 2);
    // Used up: gone from the list.
    let list: Value = app
        .admin(Method::GET, "/admin/registration-tokens", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[actix_web::test]
async fn a_token_expires() {
    let app = token_app().await;
    let t = initial_token(&app, json!({"uses": 5, "expires_in": 60})).await;
    let token = t["token"].as_str().unwrap();
    registered(register_call(&app, &loopback_metadata(), Some(token)).await).await;
    app.clock.advance(61);
    refused(
        register_call(&app, &loopback_metadata(), Some(token)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

#[actix_web::test]
async fn a_refused_registration_spends_no_use() {
    let app = token_app().await;
    let t = initial_token(&app, json!({"uses": 1})).await;
    let token = t["token"].as_str().unwrap();
    let bad =
        json!({"redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"});
    refused(
        register_call(&app, &bad, Some(token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_redirect_uri",
    )
    .await;
    registered(register_call(&app, &loopback_metadata(), Some(token)).await).await;
}

#[actix_web::test]
async fn racing_registrations_spend_a_token_once() {
    let app = token_app().await;
    let t = initial_token(&app, json!({"uses": 3})).await;
    let token = t["token"].as_str().unwrap().to_string();
    let meta = loopback_metadata();
    let calls = (0..12).map(|_| register_call(&app, &meta, Some(&token)));
    let answers = futures_util::future::join_all(calls).await;
    let won = answers
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let lost = answers
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((won, lost), (3, 9));
    assert_eq!(app.listed_clients().await.len(), 3);
}

#[actix_web::test]
async fn tokens_are_listed_and_revoked() {
    let app = token_app().await;
    let a = initial_token(&app, json!({"uses": 3, "note": "team a"})).await;
    let b = initial_token(&app, json!({})).await;
    assert_eq!(b["uses"], 1, "one use by default");
    let list: Vec<Value> = app
        .admin(Method::GET, "/admin/registration-tokens", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter().all(|t| t.get("token").is_none()),
        "never shown again"
    );
    let listed_a = list
        .iter()
        .find(|t| t["id"] == a["id"])
        .expect("a is listed");
    assert_eq!(listed_a["note"], "team a");
    assert_eq!(listed_a["uses_left"], 3);
    let r = app
        .admin(
            Method::DELETE,
            &format!("/admin/registration-tokens/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(
        register_call(&app, &loopback_metadata(), a["token"].as_str()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    registered(register_call(&app, &loopback_metadata(), b["token"].as_str()).await).await;
    let r = app
        .admin(
            Method::DELETE,
            "/admin/registration-tokens/not-a-uuid",
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .admin(
            Method::DELETE,
            &format!("/admin/registration-tokens/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_admin_api_checks_what_it_is_given() {
    let app = token_app().await;
    for bad in [
        json!({"uses": 0}),
        json!({"expires_in": 0}),
        json!({"expires_in": 400 * 86400}),
        json!({"note": "x".repeat(201)}),
    ] {
        let r = app
            .admin(
                Method::POST,
                "/admin/registration-tokens",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = app
        .admin(
            Method::POST,
            "/admin/registration-tokens",
            Some(json!({"extra": 1})),
        )
        .await;
    assert!(r.status().is_client_error());
    // Without the admin token.
    let r = app
        .http
        .post(app.url("/admin/registration-tokens"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A registration access token is not an initial access token.
    let t = initial_token(&app, json!({})).await;
    let body =
        registered(register_call(&app, &loopback_metadata(), t["token"].as_str()).await).await;
    refused(
        register_call(
            &app,
            &loopback_metadata(),
            body["registration_access_token"].as_str(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

#[actix_web::test]
async fn the_store_keeps_what_is_left() {
    // What is left is kept in the store, by the token's SHA-256 only.
    let app = token_app().await;
    let t = initial_token(&app, json!({"uses": 2})).await;
    let token = t["token"].as_str().unwrap();
    registered(register_call(&app, &loopback_metadata(), Some(token)).await).await;
    let list = app
        .engine
        .directory
        .send(tessera_actors::directory::ListInitialTokens)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].uses_left, 1);
    assert_eq!(
        list[0].hash,
        tessera_actors::secret::sha256(token.as_bytes())
    );
}
