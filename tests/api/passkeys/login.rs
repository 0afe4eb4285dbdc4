//! Passwordless sign-in and the passkey as a second factor, inside
//! authorization requests; `amr` and `acr` of the ID tokens.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::claims::{flow_tokens, id_claims};
use crate::flow::{
    create_user, enable_totp, exchange, first_party_rp, logged_in, redirect, tokens, AuthRequest,
    Browser, TestUser,
};
use crate::helpers::{header, spawn_app};

fn amr(id: &Value) -> Vec<String> {
    id["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .map(|m| m.as_str().unwrap_or_default().to_string())
        .collect()
}

/// A user with `key` registered (through a password session).
async fn with_passkey(app: &TestApp, name: &str, key: &mut SoftKey) -> TestUser {
    let user = create_user(app, name).await;
    let mut b = logged_in(app, &user).await;
    register(app, &mut b, key, "Key").await;
    user
}

/// `req` from a browser without a session: the login page's `return_to`.
async fn to_login(b: &mut Browser, req: &AuthRequest) -> String {
    let r = b.get(&req.path()).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert_eq!(loc.base, "/auth/login", "{}", loc.raw);
    loc.param("return_to").to_string()
}

/// Back to the authorization request: its code, exchanged.
async fn finish_flow(
    app: &TestApp,
    rp: &crate::flow::Rp,
    b: &mut Browser,
    back: &str,
    req: &AuthRequest,
) -> Value {
    let r = b.get(back).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert!(loc.get("error").is_none(), "{}", loc.raw);
    assert_eq!(loc.get("state"), Some(req.state.as_str()));
    let t = tokens(exchange(app, rp, loc.param("code"), Some(&req.verifier)).await).await;
    id_claims(&t)
}

#[actix_web::test]
async fn a_passkey_signs_in_without_a_password_inside_an_authorization_request() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    let user = with_passkey(&app, "alice", &mut key).await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, "openid").set("acr_values", "mfa");
    let mut b = Browser::new(&app);
    let back = to_login(&mut b, &req).await;

    // Conditional UI options: no credentials named, the browser offers
    // what it has for this relying party.
    let (_, start) = start_login(&mut b).await;
    assert_eq!(start["options"]["mediation"], "conditional");
    assert_eq!(start["options"]["publicKey"]["rpId"], RP_ID);
    assert!(start["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(|a| a.is_empty()));

    let r = passwordless(&mut b, &mut key, Some(&back)).await;
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["mode"], "authentication");
    assert_eq!(body["email"], user.email);
    assert_eq!(body["redirect"], back.as_str());
    assert!(b.session().is_some());

    let id = finish_flow(&app, &rp, &mut b, &back, &req).await;
    assert_eq!(id["sub"], user.id.to_string());
    assert_eq!(id["acr"], "mfa", "a user-verified passkey is two factors");
    assert_eq!(amr(&id), vec!["hwk", "user"], "{id}");

    // The passkey's use was recorded: counter and time.
    let stored = app.engine.users.get(&user.id).unwrap();
    assert_eq!(stored.passkeys[0].counter, 1);
    assert!(stored.passkeys[0].last_used_at.is_some());
    // And again: the counter grows.
    let mut b2 = Browser::new(&app);
    json_of(passwordless(&mut b2, &mut key, None).await, StatusCode::OK).await;
    assert_eq!(
        app.engine.users.get(&user.id).unwrap().passkeys[0].counter,
        2
    );
}

#[actix_web::test]
async fn a_synced_passkey_is_swk() {
    let app = spawn_app().await;
    let mut key = soft_key(&app).synced();
    with_passkey(&app, "bob", &mut key).await;
    let rp = first_party_rp(&app).await;
    let mut b = Browser::new(&app);
    json_of(passwordless(&mut b, &mut key, None).await, StatusCode::OK).await;
    let t = flow_tokens(&app, &rp, &mut b, &AuthRequest::new(&rp, "openid")).await;
    let id = id_claims(&t);
    assert_eq!(amr(&id), vec!["swk", "user"], "{id}");
    assert_eq!(id["acr"], "mfa");
}

#[actix_web::test]
async fn a_passkey_is_the_second_factor_of_a_user_without_totp() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    let user = with_passkey(&app, "carol", &mut key).await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, "openid").set("acr_values", "mfa");
    let mut b = Browser::new(&app);
    let back = to_login(&mut b, &req).await;

    // The password alone is not a session.
    let csrf = login_csrf(&mut b).await;
    let r = b
        .post_form(
            "/auth/login",
            &[
                ("login", user.username.as_str()),
                ("password", user.password.as_str()),
                ("csrf", csrf.as_str()),
                ("return_to", back.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("Use a passkey") && html.contains("data-passkey-mfa"));
    assert!(
        !html.contains(r#"name="code""#),
        "no TOTP form without TOTP"
    );
    let r = b.get(&back).await;
    assert_eq!(
        redirect(&r, StatusCode::FOUND).base,
        "/auth/login",
        "still pending"
    );

    let mut b = Browser::new(&app);
    let r = password_then_passkey(&mut b, &user, &mut key, Some(&back)).await;
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["redirect"], back.as_str());
    let id = finish_flow(&app, &rp, &mut b, &back, &req).await;
    assert_eq!(amr(&id), vec!["pwd", "hwk", "user"], "{id}");
    assert_eq!(id["acr"], "mfa");

    // No pending login: the second factor has nothing to finish.
    let mut fresh = Browser::new(&app);
    let csrf = login_csrf(&mut fresh).await;
    let r = fresh
        .post_json("/auth/passkey/mfa/start", &json!({"csrf": csrf}))
        .await;
    crate::helpers::assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn a_user_with_totp_and_a_passkey_may_use_either() {
    let app = spawn_app().await;
    let mut key = soft_key(&app);
    let user = with_passkey(&app, "dave", &mut key).await;
    enable_totp(&app, &user).await;
    let mut b = Browser::new(&app);
    let csrf = login_csrf(&mut b).await;
    let r = b
        .post_form(
            "/auth/login",
            &[
                ("login", user.username.as_str()),
                ("password", user.password.as_str()),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"name="code""#) && html.contains("Use a passkey"));

    let mut b = Browser::new(&app);
    json_of(
        password_then_passkey(&mut b, &user, &mut key, None).await,
        StatusCode::OK,
    )
    .await;
    let rp = first_party_rp(&app).await;
    let t = flow_tokens(
        &app,
        &rp,
        &mut b,
        &AuthRequest::new(&rp, "openid").set("acr_values", "mfa"),
    )
    .await;
    assert_eq!(amr(&id_claims(&t)), vec!["pwd", "hwk", "user"]);
}

#[actix_web::test]
async fn a_password_session_asked_for_mfa_logs_in_again_with_the_passkey() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = first_party_rp(&app).await;
    // Signed in with the password before any passkey existed.
    let mut b = logged_in(&app, &user).await;
    let mut key = soft_key(&app);
    register(&app, &mut b, &mut key, "Key").await;
    let t = flow_tokens(&app, &rp, &mut b, &AuthRequest::new(&rp, "openid")).await;
    assert_eq!(id_claims(&t)["acr"], "pwd");
    // mfa asked: back to the login, which the passkey satisfies.
    let req = AuthRequest::new(&rp, "openid").set("acr_values", "mfa");
    let back = to_login(&mut b, &req).await;
    let body = json_of(
        passwordless(&mut b, &mut key, Some(&back)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["redirect"], back.as_str());
    let id = finish_flow(&app, &rp, &mut b, &back, &req).await;
    assert_eq!(id["acr"], "mfa");
}
