//! The mail-driven account flows (SPEC §2 and §4, SECURITY.md "Accounts"),
//! followed end to end through the mails a real SMTP sink receives:
//! registration by code, `/api/oauth/register` with its verification link,
//! password reset by link; codes and links single use, expiring, voided by
//! newer ones and by wrong tries, built from the configured public URL; no
//! account enumeration; rate limits.

mod reset;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::flow::{create_user, introspector, userinfo, Browser, PASSWORD};
use crate::helpers::{assert_api_error, header, spawn_app_with, TestApp, ACCOUNT_CLIENT};
use crate::smtp_sink::{spawn_app_with_mail, SmtpSink};

const PUBLIC: &str = "https://id.example.test";
const LANDING: &str = "https://app.example.test/verified";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app() -> (TestApp, SmtpSink) {
    spawn_app_with_mail(|s| {
        s.accounts.public_url = Some(PUBLIC.into());
        s.accounts.email_verified_redirect = Some(LANDING.into());
    })
    .await
}

async fn post(app: &TestApp, path: &str, body: Value) -> Response {
    app.http
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn json_of(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let body: Value = r.json().await.expect("JSON body");
    assert_eq!(got, status, "{body}");
    body
}

/// `POST /registration`, asserting the usual answer.
async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Value {
    let r = post(
        app,
        "/registration",
        json!({"username": username, "email": email, "password": password}),
    )
    .await;
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["data"]["mode"], "registration", "{body}");
    assert_eq!(body["data"]["email"], email, "{body}");
    assert_eq!(body["data"]["applicationId"], ACCOUNT_CLIENT, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

async fn callback(app: &TestApp, email: &str, code: &str) -> Response {
    post(
        app,
        "/registration/callback",
        json!({"email": email, "code": code}),
    )
    .await
}

fn another_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn login_status(app: &TestApp, login: &str, password: &str) -> StatusCode {
    Browser::new(app).login_json(login, password).await.status()
}

/// `GET` a link from a mail against the test server (its path and query).
async fn follow(app: &TestApp, link: &str) -> Response {
    let path = link
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{link} is not under {PUBLIC}"));
    app.http.get(app.url(path)).send().await.expect("GET link")
}

async fn refresh_status(app: &TestApp, refresh_token: &str) -> StatusCode {
    app.http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", ACCOUNT_CLIENT),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

async fn user_json(app: &TestApp, id: &str) -> Value {
    let r = app
        .admin(reqwest::Method::GET, &format!("/admin/users/{id}"), None)
        .await;
    json_of(r, StatusCode::OK).await
}

// ---- /registration ---------------------------------------------------------

#[actix_web::test]
async fn a_mailed_code_activates_a_registration_and_its_tokens_work() {
    let (app, sink) = app().await;
    register(&app, "newbie", "newbie@example.com", PASSWORD).await;
    // Pending: cannot log in yet.
    assert_eq!(
        login_status(&app, "newbie", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let m = sink.mail_to("newbie@example.com").await;
    assert_eq!(m.subject(), "Your registration code");
    assert!(m.html().unwrap().contains(&m.code()));
    let code = m.code();

    let r = callback(&app, "newbie@example.com", &code).await;
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["data"]["mode"], "registration");
    assert_eq!(body["data"]["applicationId"], ACCOUNT_CLIENT);
    assert_eq!(body["data"]["email"], "newbie@example.com");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();

    let info = json_of(userinfo(&app, access).await, StatusCode::OK).await;
    assert_eq!(info["email"], "newbie@example.com", "{info}");
    assert_eq!(info["email_verified"], true, "{info}");
    let rs = introspector(&app).await;
    let v = app.assert_active(&rs, access).await;
    assert_eq!(v["username"], "newbie");
    app.assert_active(&rs, refresh).await;
    assert_eq!(refresh_status(&app, refresh).await, StatusCode::OK);
    assert_eq!(login_status(&app, "newbie", PASSWORD).await, StatusCode::OK);

    // Single use.
    let r = callback(&app, "newbie@example.com", &code).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
}

#[actix_web::test]
async fn a_registration_code_expires() {
    let (app, sink) = app().await;
    register(&app, "slowpoke", "slowpoke@example.com", PASSWORD).await;
    let code = sink.mail_to("slowpoke@example.com").await.code();
    app.clock.advance(600);
    let r = callback(&app, "slowpoke@example.com", &code).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    assert_eq!(
        login_status(&app, "slowpoke", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn five_wrong_codes_void_the_code() {
    let (app, sink) = app().await;
    register(&app, "guesser", "guesser@example.com", PASSWORD).await;
    let code = sink.mail_to("guesser@example.com").await.code();
    let wrong = another_code(&code);
    for _ in 0..5 {
        let r = callback(&app, "guesser@example.com", &wrong).await;
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    }
    let r = callback(&app, "guesser@example.com", &code).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    // Four wrong tries leave the code usable.
    register(&app, "guesser", "guesser@example.com", PASSWORD).await;
    let code = sink.mail_to("guesser@example.com").await.code();
    for _ in 0..4 {
        let r = callback(&app, "guesser@example.com", &another_code(&code)).await;
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    }
    json_of(
        callback(&app, "guesser@example.com", &code).await,
        StatusCode::OK,
    )
    .await;
}

#[actix_web::test]
async fn registering_again_sends_a_new_code_that_voids_the_old() {
    let (app, sink) = app().await;
    register(&app, "twice", "twice@example.com", "first password").await;
    let old = sink.mail_to("twice@example.com").await.code();
    register(&app, "twice2", "twice@example.com", "second password").await;
    let new = sink.mail_to("twice@example.com").await.code();
    if old != new {
        let r = callback(&app, "twice@example.com", &old).await;
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_code").await;
    }
    json_of(
        callback(&app, "twice@example.com", &new).await,
        StatusCode::OK,
    )
    .await;
    // The newest registration's username and password won.
    assert_eq!(
        login_status(&app, "twice2", "second password").await,
        StatusCode::OK
    );
    assert_eq!(
        login_status(&app, "twice@example.com", "first password").await,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn registering_a_taken_address_answers_alike_and_only_tells_the_owner() {
    let (app, sink) = app().await;
    let owner = create_user(&app, "owner").await;
    let fresh = register(&app, "fresh", "fresh@example.com", PASSWORD).await;
    let taken = register(&app, "intruder", &owner.email, PASSWORD).await;
    assert_eq!(
        fresh.to_string().replace("fresh@example.com", "X"),
        taken.to_string().replace(&owner.email, "X")
    );
    let m = sink.mail_to(&owner.email).await;
    assert_eq!(m.subject(), "You already have an account");
    assert!(
        !m.text().lines().any(|l| {
            let l = l.trim();
            l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit())
        }),
        "no code for an existing account"
    );
    // The owner's account is untouched.
    assert_eq!(
        login_status(&app, &owner.username, PASSWORD).await,
        StatusCode::OK
    );
    assert!(app.engine.users.by_login("intruder").is_none());
    // A taken username is 409 whatever the address, known or not.
    for email in [owner.email.as_str(), "someone-else@example.com"] {
        let r = post(
            &app,
            "/registration",
            json!({"username": "owner", "email": email, "password": PASSWORD}),
        )
        .await;
        assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    }
}

#[actix_web::test]
async fn registration_input_is_checked_and_named() {
    let (app, _sink) = app().await;
    let r = post(&app, "/registration", json!({"username": "x1234"})).await;
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );
    let r = post(
        &app,
        "/registration",
        json!({"username": "okname", "email": "not-an-address", "password": PASSWORD}),
    )
    .await;
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert!(body["message"].as_str().unwrap().starts_with("email"));
    let r = post(
        &app,
        "/registration",
        json!({"username": "okname", "email": "ok@example.com", "password": "short"}),
    )
    .await;
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert!(body["message"].as_str().unwrap().starts_with("password"));
    let r = app
        .http
        .post(app.url("/registration?applicationId=nope"))
        .json(&json!({"username": "okname", "email": "ok@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "unknown_application").await;
    // Form bodies work too.
    let r = app
        .http
        .post(app.url("/registration"))
        .form(&[
            ("username", "formuser"),
            ("email", "formuser@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    json_of(r, StatusCode::OK).await;
}

#[actix_web::test]
async fn registration_for_a_named_client_issues_tokens_to_it() {
    let (app, sink) = app().await;
    let client = app
        .create_client(json!({"public": true, "first_party": true, "grant_types": ["refresh_token"], "scope": "openid email"}))
        .await;
    let r = app
        .http
        .post(app.url(&format!("/registration?applicationId={}", client.id)))
        .json(&json!({"username": "appuser", "email": "appuser@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["data"]["applicationId"], client.id.as_str());
    let code = sink.mail_to("appuser@example.com").await.code();
    let body = json_of(
        callback(&app, "appuser@example.com", &code).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"]["applicationId"], client.id.as_str());
    let rs = introspector(&app).await;
    let v = app
        .assert_active(&rs, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(v["client_id"], client.id.as_str(), "{v}");
}

#[actix_web::test]
async fn registration_disabled_is_403_everywhere() {
    let app = spawn_app_with(|s| s.accounts.registration_enabled = false).await;
    for (path, body) in [
        (
            "/registration",
            json!({"username": "nope1", "email": "nope1@example.com", "password": PASSWORD}),
        ),
        (
            "/registration/callback",
            json!({"email": "nope1@example.com", "code": "123456"}),
        ),
        (
            "/api/oauth/register",
            json!({"username": "nope2", "email": "nope2@example.com", "password": PASSWORD, "accept_terms": 1}),
        ),
    ] {
        let r = post(&app, path, body).await;
        assert_api_error(r, StatusCode::FORBIDDEN, "registration_disabled").await;
    }
    assert!(app.engine.users.is_empty());
}

// ---- /api/oauth/register and e-mail verification ---------------------------

async fn api_register(app: &TestApp, username: &str, email: &str) -> Value {
    let r = post(
        app,
        "/api/oauth/register",
        json!({"username": username, "email": email, "password": PASSWORD,
               "role": "developer", "company": "Example Ltd", "accept_terms": 1}),
    )
    .await;
    json_of(r, StatusCode::OK).await
}

#[actix_web::test]
async fn api_register_creates_an_active_account_and_mails_a_verification_link() {
    let (app, sink) = app().await;
    for terms in [json!(null), json!(0), json!("yes")] {
        let r = post(
            &app,
            "/api/oauth/register",
            json!({"username": "dev", "email": "dev@example.com", "password": PASSWORD, "accept_terms": terms}),
        )
        .await;
        let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("accept_terms"));
    }
    let body = api_register(&app, "dev", "dev@example.com").await;
    let user = &body["user"];
    assert_eq!(user["username"], "dev");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "developer");
    assert_eq!(user["company"], "Example Ltd");
    assert_eq!(user["status"], "active");
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("tes_rt_"));
    json_of(userinfo(&app, access).await, StatusCode::OK).await;
    assert_eq!(login_status(&app, "dev", PASSWORD).await, StatusCode::OK);

    for (u, e) in [("dev", "other@example.com"), ("other", "DEV@example.com")] {
        let r = post(
            &app,
            "/api/oauth/register",
            json!({"username": u, "email": e, "password": PASSWORD, "accept_terms": 1}),
        )
        .await;
        assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    }

    let m = sink.mail_to("dev@example.com").await;
    assert_eq!(m.subject(), "Confirm your e-mail address");
    let link = m.link(&format!("{PUBLIC}/api/oauth/valid_email/"));
    assert!(m.html().unwrap().contains(&link));
    let r = follow(&app, &link).await;
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&r, "location").as_deref(), Some(LANDING));
    let id = user["id"].as_str().unwrap();
    assert_eq!(user_json(&app, id).await["email_verified"], true);
    // Single use.
    let r = follow(&app, &link).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    let r = app
        .http
        .get(app.url("/api/oauth/valid_email/tes_ve_garbage"))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
}

/// `POST /api/oauth/send_email_link` (with a foreign `Host` header); the
/// link it mails.
async fn send_link(app: &TestApp, sink: &SmtpSink, access: &str) -> String {
    let r = app
        .http
        .post(app.url("/api/oauth/send_email_link"))
        .bearer_auth(access)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    json_of(r, StatusCode::OK).await;
    sink.mail_to("verifier@example.com").await.link("https://")
}

#[actix_web::test]
async fn send_email_link_mails_the_caller_and_a_newer_link_voids_the_older() {
    let (app, sink) = app().await;
    let body = api_register(&app, "verifier", "verifier@example.com").await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let id = body["user"]["id"].as_str().unwrap().to_string();
    let first = sink
        .mail_to("verifier@example.com")
        .await
        .link(&format!("{PUBLIC}/api/oauth/valid_email/"));

    let r = app
        .http
        .post(app.url("/api/oauth/send_email_link"))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let second = send_link(&app, &sink, &access).await;
    assert!(
        second.starts_with(&format!("{PUBLIC}/api/oauth/valid_email/tes_ve_")),
        "built from configuration, not from the Host header: {second}"
    );
    assert_ne!(first, second);
    let r = follow(&app, &first).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;

    // Links expire.
    let third = send_link(&app, &sink, &access).await;
    app.clock.advance(600);
    let r = follow(&app, &third).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    assert_eq!(user_json(&app, &id).await["email_verified"], false);

    let fourth = send_link(&app, &sink, &access).await;
    let r = follow(&app, &fourth).await;
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(user_json(&app, &id).await["email_verified"], true);
    // Verified: nothing more to send.
    let r = app
        .http
        .post(app.url("/api/oauth/send_email_link"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let body = json_of(r, StatusCode::OK).await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("already verified"));
}

// ---- password reset ------------------------------------------------------------
