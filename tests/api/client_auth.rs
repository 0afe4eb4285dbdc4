//! Client authentication at the token endpoint (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, and what is refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const CC: &str = "grant_type=client_credentials";

async fn with_authorization(app: &TestApp, value: &str, body: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .header("authorization", value)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn assert_invalid_client(r: reqwest::Response) {
    let www = header(&r, "www-authenticate").unwrap_or_default();
    assert!(www.starts_with("Basic"), "WWW-Authenticate: {www:?}");
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_web::test]
async fn unknown_client_and_wrong_secret_are_401_invalid_client_with_basic_challenge() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    // Basic.
    assert_invalid_client(with_authorization(&app, &basic("nobody", "secret"), CC).await).await;
    assert_invalid_client(with_authorization(&app, &basic(&c.id, "tes_cs_wrong"), CC).await).await;
    assert_invalid_client(with_authorization(&app, &basic(&c.id, ""), CC).await).await;
    let mut near = c.secret.clone();
    near.pop();
    assert_invalid_client(with_authorization(&app, &basic(&c.id, &near), CC).await).await;
    // Post.
    let r = app
        .post_form(
            "/oauth2/token",
            &format!("{CC}&client_id=nobody&client_secret=x"),
            None,
        )
        .await;
    assert_invalid_client(r).await;
    let r = app
        .post_form(
            "/oauth2/token",
            &format!("{CC}&client_id={}&client_secret=wrong", c.id),
            None,
        )
        .await;
    assert_invalid_client(r).await;
    // A confidential client naming itself without a secret.
    let r = app
        .post_form("/oauth2/token", &format!("{CC}&client_id={}", c.id), None)
        .await;
    assert_invalid_client(r).await;
    // No credentials at all.
    let r = app.post_form("/oauth2/token", CC, None).await;
    assert_invalid_client(r).await;
    // The right credentials work (the failures above were about the credentials).
    assert_eq!(
        with_authorization(&app, &basic(&c.id, &c.secret), CC)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn two_authentication_methods_at_once_are_invalid_request() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    // Basic plus client_secret in the body (even the right one).
    let body = format!("{CC}&client_secret={}", c.secret);
    let r = with_authorization(&app, &basic(&c.id, &c.secret), &body).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let body = format!("{CC}&clientSecret={}", c.secret);
    let r = with_authorization(&app, &basic(&c.id, &c.secret), &body).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Body client_id different from the Basic one.
    let other = app.cc_client().await;
    let body = format!("{CC}&client_id={}", other.id);
    let r = with_authorization(&app, &basic(&c.id, &c.secret), &body).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;

    // The same client_id in both places is fine.
    let body = format!("{CC}&client_id={}", c.id);
    let r = with_authorization(&app, &basic(&c.id, &c.secret), &body).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_broken_basic_header_is_invalid_request() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let no_colon = format!("Basic {}", STANDARD.encode(&c.id));
    let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x']));
    let bad_percent_utf8 = basic("%ff%fe", "x");
    for value in [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic ====",
        no_colon.as_str(),
        not_utf8.as_str(),
        bad_percent_utf8.as_str(),
    ] {
        let r = with_authorization(&app, value, CC).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[actix_web::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    // Every byte percent-encoded, as some client libraries do.
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let r = with_authorization(&app, &basic(&enc(&c.id), &enc(&c.secret)), CC).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // Only the reserved-looking ones encoded (`_` and `-`), lowercase hex.
    let partial = |s: &str| s.replace('_', "%5f").replace('-', "%2d");
    let r = with_authorization(&app, &basic(&partial(&c.id), &partial(&c.secret)), CC).await;
    assert_eq!(r.status(), StatusCode::OK);

    // A chosen id with `~` and `.`: unencoded and encoded both work.
    let dotted = app
        .create_client(json!({"client_id": "svc.orders~v2"}))
        .await;
    for id in ["svc.orders~v2", "svc%2Eorders%7Ev2"] {
        let r = with_authorization(&app, &basic(id, &dotted.secret), CC).await;
        assert_eq!(r.status(), StatusCode::OK, "{id}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            jwt_part(v["access_token"].as_str().unwrap(), 1)["client_id"],
            "svc.orders~v2"
        );
    }
    // Decoding is not a way around the secret.
    let r = with_authorization(&app, &basic(&enc(&c.id), &enc("wrong")), CC).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_web::test]
async fn the_basic_scheme_name_is_case_insensitive() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let v = basic(&c.id, &c.secret).replacen("Basic", "bAsIc", 1);
    assert_eq!(
        with_authorization(&app, &v, CC).await.status(),
        StatusCode::OK
    );
}
