//! An administrator lists and removes a user's passkeys; the user is left
//! with the password and the reset flow, as before any passkey. Also: the
//! relying party follows the configured public URL.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::flow::{create_user, logged_in, Browser};
use crate::helpers::assert_api_error;
use crate::smtp_sink::spawn_app_with_mail;

const PUBLIC: &str = "https://id.example.test";
const NEW_PASSWORD: &str = "a brand new passphrase";

#[actix_web::test]
async fn an_admin_removes_passkeys_and_the_password_and_reset_still_work() {
    let (app, sink) = spawn_app_with_mail(|s| {
        s.accounts.public_url = Some(PUBLIC.into());
    })
    .await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    // The relying party is the public URL's host, and so is the origin.
    let mut laptop = SoftKey::new(PUBLIC, "id.example.test");
    let mut phone = SoftKey::new(PUBLIC, "id.example.test");
    register(&app, &mut b, &mut laptop, "Laptop").await;
    register(&app, &mut b, &mut phone, "Phone").await;
    let mut anon = Browser::new(&app);
    json_of(
        passwordless(&mut anon, &mut laptop, None).await,
        StatusCode::OK,
    )
    .await;
    // The password alone is no longer a session.
    let r = Browser::new(&app)
        .login_json(&user.username, &user.password)
        .await;
    assert_eq!(json_of(r, StatusCode::OK).await["mode"], "mfa");

    let path = format!("/admin/users/{}/passkeys", user.id);
    let list = json_of(app.admin(Method::GET, &path, None).await, StatusCode::OK).await;
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], laptop.id());
    assert_eq!(list[0]["name"], "Laptop");
    assert!(list[0]["last_used_at"].is_string());
    assert!(list[1].get("last_used_at").is_none());
    // The admin token is needed; unknown users and passkeys are 404.
    let r = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for p in [
        "/admin/users/not-a-uuid/passkeys".to_string(),
        format!("/admin/users/{}/passkeys", uuid::Uuid::new_v4()),
    ] {
        let r = app.admin(Method::GET, &p, None).await;
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = app
        .admin(Method::DELETE, &format!("{path}/nosuchcredential"), None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // One, then the rest.
    let r = app
        .admin(Method::DELETE, &format!("{path}/{}", laptop.id()), None)
        .await;
    let done = json_of(r, StatusCode::OK).await;
    assert_eq!(done, json!({"removed": 1, "remaining": 1}));
    let r = passwordless(&mut Browser::new(&app), &mut laptop, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;
    let done = json_of(app.admin(Method::DELETE, &path, None).await, StatusCode::OK).await;
    assert_eq!(done, json!({"removed": 1, "remaining": 0}));
    let done = json_of(app.admin(Method::DELETE, &path, None).await, StatusCode::OK).await;
    assert_eq!(done, json!({"removed": 0, "remaining": 0}));
    assert!(app.engine.users.get(&user.id).unwrap().passkeys.is_empty());
    let r = passwordless(&mut Browser::new(&app), &mut phone, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "passkey_refused").await;

    // The password signs in again by itself.
    let r = Browser::new(&app)
        .login_json(&user.username, &user.password)
        .await;
    assert_eq!(json_of(r, StatusCode::OK).await["mode"], "authentication");

    // And the reset flow still recovers the account.
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password"))
        .json(&json!({"email": user.email}))
        .send()
        .await
        .unwrap();
    json_of(r, StatusCode::OK).await;
    let m = sink.mail_to(&user.email).await;
    let link = m.link("https://");
    let token = link.split("token=").nth(1).expect("a token").to_string();
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password/confirm"))
        .json(&json!({"token": token, "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    json_of(r, StatusCode::OK).await;
    let r = Browser::new(&app)
        .login_json(&user.username, NEW_PASSWORD)
        .await;
    let body: Value = json_of(r, StatusCode::OK).await;
    assert_eq!(body["mode"], "authentication");
}

#[actix_web::test]
async fn the_relying_party_can_be_configured() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.passkeys.rp_id = Some("example.test".into());
        s.passkeys.origins = vec!["https://login.example.test".into()];
    })
    .await;
    let user = create_user(&app, "bob").await;
    let mut b = logged_in(&app, &user).await;
    let start = json_of(
        start_registration(&app, &mut b, "Key").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(start["options"]["publicKey"]["rp"]["id"], "example.test");
    // The default origin (localhost) is not one of the configured ones.
    let wrong = SoftKey::new(&origin(&app), "example.test").register(&start["options"]);
    let csrf = session_csrf(&app, &b);
    let r = b
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": wrong}),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_passkey").await;
    let mut key = SoftKey::new("https://login.example.test", "example.test");
    register(&app, &mut b, &mut key, "Key").await;
    json_of(
        passwordless(&mut Browser::new(&app), &mut key, None).await,
        StatusCode::OK,
    )
    .await;
}
