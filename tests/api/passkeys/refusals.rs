//! What a passkey endpoint refuses: a replayed or foreign challenge, an
//! expired ceremony, another user's credential, a counter that went back
//! (a clone signal, counted), and malformed bodies. Nothing signs in.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::flow::{create_user, logged_in, Browser, TestUser};
use crate::helpers::{assert_api_error, spawn_app};

/// A user with `key` registered, and the session that registered it.
async fn with_passkey(app: &TestApp, name: &str, key: &mut SoftKey) -> (TestUser, Browser) {
    let user = create_user(app, name).await;
    let mut b = logged_in(app, &user).await;
    register(app, &mut b, key, "Key").await;
    (user, b)
}

async fn finish(
    b: &mut Browser,
    csrf: &str,
    ceremony: &Value,
    credential: &Value,
) -> reqwest::Response {
    b.post_json(
        "/auth/passkey/finish",
        &json!({"csrf": csrf, "ceremony": ceremony, "credential": credential}),
    )
    .await
}

#[actix_web::test]
async fn a_challenge_is_used_once_and_only_for_its_ceremony() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    with_passkey(&app, "alice", &mut key).await;
    let mut b = Browser::new(&app);

    // A replay of a finished ceremony.
    let (csrf, start) = start_login(&mut b).await;
    let cred = key.assert(&start["options"]);
    json_of(
        finish(&mut b, &csrf, &start["ceremony"], &cred).await,
        StatusCode::OK,
    )
    .await;
    let mut other = Browser::new(&app);
    let csrf2 = login_csrf(&mut other).await;
    let r = finish(&mut other, &csrf2, &start["ceremony"], &cred).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
    assert!(other.session().is_none());

    // An assertion over another ceremony's challenge.
    let (csrf, a) = start_login(&mut other).await;
    let (_, b_start) = start_login(&mut Browser::new(&app)).await;
    let wrong = key.assert(&b_start["options"]);
    let r = finish(&mut other, &csrf, &a["ceremony"], &wrong).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    // The failed ceremony is spent too.
    let right = key.assert(&a["options"]);
    let r = finish(&mut other, &csrf, &a["ceremony"], &right).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
    // A made-up challenge, and a made-up ceremony.
    let (csrf, c) = start_login(&mut other).await;
    let forged = key.assert_challenge("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let r = finish(&mut other, &csrf, &c["ceremony"], &forged).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    let (csrf, c) = start_login(&mut other).await;
    let cred = key.assert(&c["options"]);
    let r = finish(&mut other, &csrf, &json!("not-a-ceremony"), &cred).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;

    // An expired ceremony.
    let (csrf, d) = start_login(&mut other).await;
    app.clock.advance(301);
    let cred = key.assert(&d["options"]);
    let r = finish(&mut other, &csrf, &d["ceremony"], &cred).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
    assert!(other.session().is_none());
}

#[actix_web::test]
async fn a_registration_ceremony_belongs_to_its_session() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    let mut a = logged_in(&app, &alice).await;
    let mut b = logged_in(&app, &bob).await;
    let start = json_of(
        start_registration(&app, &mut a, "Key").await,
        StatusCode::OK,
    )
    .await;
    let cred = soft_key(&app).register(&start["options"]);
    // Bob's session cannot finish Alice's registration.
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": cred}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
    assert!(app.engine.users.get(&bob.id).unwrap().passkeys.is_empty());
    assert!(app.engine.users.get(&alice.id).unwrap().passkeys.is_empty());
    // A credential for another origin does not register.
    let start = json_of(
        start_registration(&app, &mut a, "Key").await,
        StatusCode::OK,
    )
    .await;
    let mut elsewhere = SoftKey::new("http://localhost:1", RP_ID);
    let cred = elsewhere.register(&start["options"]);
    let csrf = session_csrf(&app, &a);
    let r = a
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": cred}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_passkey").await;
    assert!(app.engine.users.get(&alice.id).unwrap().passkeys.is_empty());
}

#[actix_web::test]
async fn another_users_credential_is_refused() {
    let app = spawn_app().await;
    let mut alice_key = soft_key(&app);
    let mut bob_key = soft_key(&app);
    let (alice, _) = with_passkey(&app, "alice", &mut alice_key).await;
    let (_bob, mut bob_browser) = with_passkey(&app, "bob", &mut bob_key).await;

    // Bob's credential claiming to be Alice's (her user handle).
    bob_key.user_handle = alice.id.as_bytes().to_vec();
    let mut b = Browser::new(&app);
    let r = passwordless(&mut b, &mut bob_key, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    assert!(b.session().is_none());

    // Bob's passkey as Alice's second factor.
    let mut b = Browser::new(&app);
    let csrf = login_csrf(&mut b).await;
    let r = b.login_json(&alice.username, &alice.password).await;
    assert_eq!(json_of(r, StatusCode::OK).await["mode"], "mfa");
    let r = b
        .post_json("/auth/passkey/mfa/start", &json!({"csrf": csrf}))
        .await;
    let start = json_of(r, StatusCode::OK).await;
    let allowed: Vec<&str> = start["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .expect("allowCredentials")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(allowed, vec![alice_key.id().as_str()]);
    let cred = bob_key.assert(&start["options"]);
    let r = b
        .post_json(
            "/auth/passkey/mfa/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": cred}),
        )
        .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    let r = b.get("/account/passkeys").await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Alice's credential registered again, by Bob: refused.
    let start = json_of(
        start_registration(&app, &mut bob_browser, "Stolen").await,
        StatusCode::OK,
    )
    .await;
    let cred = alice_key.register(&start["options"]);
    let csrf = session_csrf(&app, &bob_browser);
    let r = bob_browser
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": cred}),
        )
        .await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
}

#[actix_web::test]
async fn a_counter_that_goes_back_is_refused_and_counted() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    let (user, _) = with_passkey(&app, "carol", &mut key).await;
    let series = r#"tessera_passkey_clone_signals_total{reason="counter"}"#;
    let before = metric(&app, series).await;

    key.counter = 5;
    json_of(
        passwordless(&mut Browser::new(&app), &mut key, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.engine.users.get(&user.id).unwrap().passkeys[0].counter,
        5
    );
    // A clone whose counter is behind the stored one.
    key.counter = 3;
    let mut b = Browser::new(&app);
    let r = passwordless(&mut b, &mut key, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    assert!(b.session().is_none());
    // As a second factor too.
    key.counter = 5;
    let r = password_then_passkey(&mut Browser::new(&app), &user, &mut key, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    let after = metric(&app, series).await;
    assert!(after >= before + 2.0, "{before} -> {after}");
    assert_eq!(
        app.engine.users.get(&user.id).unwrap().passkeys[0].counter,
        5,
        "the stored counter did not move back"
    );
    // The genuine authenticator, ahead, still works.
    key.counter = 6;
    json_of(
        passwordless(&mut Browser::new(&app), &mut key, None).await,
        StatusCode::OK,
    )
    .await;
}

#[actix_web::test]
async fn a_passkey_without_user_verification_is_refused() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    with_passkey(&app, "dave", &mut key).await;
    key.user_verified = false;
    let r = passwordless(&mut Browser::new(&app), &mut key, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
}

#[actix_web::test]
async fn malformed_bodies_get_clear_400s_and_change_nothing() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    let (user, mut s) = with_passkey(&app, "erin", &mut key).await;
    let mut b = Browser::new(&app);
    let (csrf, start) = start_login(&mut b).await;

    // Not JSON.
    let r = app
        .http
        .post(app.url("/auth/passkey/finish"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");
    // Broken JSON.
    let r = app
        .http
        .post(app.url("/auth/passkey/finish"))
        .header("content-type", "application/json")
        .body("{\"ceremony\": ")
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    // Fields missing or of the wrong type.
    for body in [
        json!({"csrf": csrf}),
        json!({"csrf": csrf, "ceremony": 7, "credential": {}}),
        json!([1, 2]),
    ] {
        let r = b.post_json("/auth/passkey/finish", &body).await;
        let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    // A credential that is not a WebAuthn credential.
    for credential in [
        json!("a string"),
        json!({"id": "x"}),
        json!({"id": "x", "rawId": "!!", "type": "public-key", "response": {}}),
    ] {
        let r = b
            .post_json(
                "/auth/passkey/finish",
                &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential}),
            )
            .await;
        let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_credential").await;
        assert!(
            e["message"].as_str().unwrap().starts_with("credential"),
            "{e}"
        );
    }
    // The ceremony was not spent by the malformed tries.
    let cred = key.assert(&start["options"]);
    let r = b
        .post_json(
            "/auth/passkey/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": cred}),
        )
        .await;
    json_of(r, StatusCode::OK).await;

    // Without the login page's CSRF token.
    let mut c = Browser::new(&app);
    let r = c.post_json("/auth/passkey/start", &json!({})).await;
    assert_api_error(r, StatusCode::FORBIDDEN, "csrf_token_invalid").await;
    // The registration side.
    let csrf = session_csrf(&app, &s);
    let r = s
        .post_json("/account/passkeys/register/start", &json!({"csrf": csrf}))
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = s
        .post_json(
            "/account/passkeys/register/start",
            &json!({"csrf": csrf, "name": "a\u{0}b"}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    let start = json_of(
        start_registration(&app, &mut s, "Key 2").await,
        StatusCode::OK,
    )
    .await;
    let r = s
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": {"id": 1}}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_credential").await;
    assert_eq!(app.engine.users.get(&user.id).unwrap().passkeys.len(), 1);
}
