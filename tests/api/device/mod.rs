//! The device authorization grant (RFC 8628): the device side over HTTP,
//! the user side by driving the `/device` pages with a cookie-holding
//! browser.
//!
//! - here — the whole flow, the verification page, every polling error,
//!   `slow_down`, brute-force limits, codes used twice, racing polls.
//! - `cluster` — a grant started and polled on one node, approved on
//!   another.

mod cluster;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";

/// A public device client (`openid profile email read`, refresh tokens).
pub async fn device_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({"grant_types": [DEVICE_GRANT, "refresh_token"]})).await
}

/// `POST /oauth2/device_authorization` as `rp` (public: `client_id` in
/// the body; confidential: Basic).
pub async fn device_call(app: &TestApp, rp: &Rp, params: &[(&str, &str)]) -> Response {
    let mut params = params.to_vec();
    let mut r = app.http.post(app.url("/oauth2/device_authorization"));
    if rp.is_public() {
        params.push(("client_id", rp.id()));
    } else {
        r = r.basic_auth(&rp.client.id, Some(&rp.client.secret));
    }
    r.form(&params).send().await.expect("device authorization")
}

/// A started device authorization: its `200` body.
pub async fn start(app: &TestApp, rp: &Rp, scope: &str) -> Value {
    let r = device_call(app, rp, &[("scope", scope)]).await;
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("device authorization JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Poll the token endpoint with `device_code`: status and body.
pub async fn poll(app: &TestApp, rp: &Rp, device_code: &str) -> (StatusCode, Value) {
    let r = token_call(
        app,
        rp,
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
    )
    .await;
    let status = r.status();
    (status, r.json().await.expect("token JSON"))
}

/// Assert a poll answers `400` with `error`.
pub async fn poll_error(app: &TestApp, rp: &Rp, device_code: &str, error: &str) -> Value {
    let (status, body) = poll(app, rp, device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], error, "{body}");
    body
}

pub fn code_of(started: &Value) -> (String, String) {
    (
        started["device_code"].as_str().expect("device_code").into(),
        started["user_code"].as_str().expect("user_code").into(),
    )
}

/// The code form's CSRF token (`GET /device`, signed in).
pub async fn code_form_csrf(browser: &mut Browser, base: &str) -> String {
    let r = browser.get(&format!("{base}/device")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    hidden(&html, "csrf").expect("the code form carries a csrf field")
}

/// Enter `user_code` on the page at `base` (`""`: the test app's own).
pub async fn enter_at(browser: &mut Browser, base: &str, user_code: &str) -> Response {
    let csrf = code_form_csrf(browser, base).await;
    browser
        .post_form(
            &format!("{base}/device"),
            &[("user_code", user_code), ("csrf", csrf.as_str())],
        )
        .await
}

pub async fn enter(browser: &mut Browser, user_code: &str) -> Response {
    enter_at(browser, "", user_code).await
}

/// Answer the confirmation page `html` with `allow` or `deny`.
pub async fn answer_at(browser: &mut Browser, base: &str, html: &str, decision: &str) -> Response {
    let mut pairs = hidden_inputs(html);
    assert!(pairs.iter().any(|(n, _)| n == "csrf"), "{html}");
    pairs.push(("consent".into(), decision.into()));
    browser.post_form(&format!("{base}/device"), &pairs).await
}

/// Enter `user_code` and answer `decision`; the final page.
pub async fn decide(browser: &mut Browser, user_code: &str, decision: &str) -> String {
    let r = enter(browser, user_code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("is asking for permission"), "{html}");
    let r = answer_at(browser, "", &html, decision).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[actix_web::test]
async fn a_device_gets_tokens_once_after_the_user_approves() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;

    let started = start(&app, &rp, "openid profile read").await;
    let (device_code, user_code) = code_of(&started);
    assert!(device_code.starts_with("tes_dc_"), "{started}");
    assert_eq!(user_code.len(), 9, "{started}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| ALPHABET.contains(c)));
    assert_eq!(
        started["verification_uri"],
        format!("{}/device", app.issuer)
    );
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", app.issuer)
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);

    poll_error(&app, &rp, &device_code, "authorization_pending").await;

    // The user opens verification_uri_complete: login first, then back.
    let mut browser = Browser::new(&app);
    let complete = format!("/device?user_code={user_code}");
    let r = browser.get(&complete).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = header(&r, "location").unwrap();
    assert_eq!(
        to,
        format!(
            "/auth/login?{}",
            encode(&[("return_to", complete.as_str())])
        )
    );
    browser.login(&user).await;
    let r = browser.get(&complete).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"value="{user_code}""#)),
        "pre-filled: {html}"
    );
    let csrf = hidden(&html, "csrf").unwrap();
    let r = browser
        .post_form(
            "/device",
            &[("user_code", user_code.as_str()), ("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains(rp.id()), "the client is named: {html}");
    assert!(html.contains(&user_code), "the code to check: {html}");
    assert!(html.contains("<code>read</code>"), "the scopes: {html}");
    // Still pending until the user answers.
    app.clock.advance(5);
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    let r = answer_at(&mut browser, "", &html, "allow").await;
    assert_eq!(r.status(), StatusCode::OK);
    let done = r.text().await.unwrap();
    assert!(done.contains("Device connected"), "{done}");

    app.clock.advance(5);
    let (status, body) = poll(&app, &rp, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile read");
    assert!(body["refresh_token"].is_string(), "{body}");
    let id_token = body["id_token"].as_str().expect("an ID token");
    let claims = jwt::decode_claims(id_token);
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["aud"], rp.id());
    assert!(claims["sid"].is_string(), "{claims}");
    let r = userinfo(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["preferred_username"], "alice");
    // The refresh token works like the code flow's.
    let r = refresh(&app, &rp, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Used: the device code gives nothing twice, the user code neither.
    app.clock.advance(5);
    poll_error(&app, &rp, &device_code, "invalid_grant").await;
    let r = enter(&mut browser, &user_code).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("already used"));
}

/// The claims of a JWT, unverified (the suite checks signatures elsewhere).
mod jwt {
    pub fn decode_claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("a JWT");
        let bytes = tessera_actors::secret::b64url_decode(payload).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON claims")
    }
}

#[actix_web::test]
async fn a_device_without_openid_gets_no_id_token_and_without_refresh_no_refresh_token() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp_with(&app, json!({"grant_types": [DEVICE_GRANT]})).await;
    let (device_code, user_code) = code_of(&start(&app, &rp, "read").await);
    let mut browser = logged_in(&app, &user).await;
    decide(&mut browser, &user_code, "allow").await;
    let (status, body) = poll(&app, &rp, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("id_token").is_none_or(Value::is_null), "{body}");
    assert!(
        body.get("refresh_token").is_none_or(Value::is_null),
        "{body}"
    );
}

#[actix_web::test]
async fn the_request_is_checked_like_other_grants() {
    let app = spawn_app().await;
    let rp = device_rp(&app).await;
    // Not a device client.
    let code_rp = public_rp(&app).await;
    let r = device_call(&app, &code_rp, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    // A scope beyond the client's.
    let r = device_call(&app, &rp, &[("scope", "openid admin")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope", "{body}");
    // An unregistered resource.
    let r = device_call(&app, &rp, &[("resource", "https://api.example.com")]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_target", "{body}");
    // An unknown client; a confidential client without its secret.
    let r = app
        .http
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let tv = rp_with(
        &app,
        json!({"public": false, "grant_types": [DEVICE_GRANT]}),
    )
    .await;
    let r = app
        .http
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", tv.id())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // With its secret (Basic) it works, and no scope means all of it.
    let started = start(&app, &tv, "").await;
    assert!(started["device_code"].is_string());
    let started = device_call(&app, &tv, &[]).await;
    assert_eq!(started.status(), StatusCode::OK);
}

#[actix_web::test]
async fn every_polling_error() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let other = device_rp(&app).await;
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);

    // No device_code; an unknown one; another client's.
    let r = token_call(&app, &rp, &[("grant_type", DEVICE_GRANT)]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    poll_error(&app, &rp, "tes_dc_nothing", "invalid_grant").await;
    poll_error(&app, &other, &device_code, "invalid_grant").await;
    // A client without the grant.
    let code_rp = public_rp(&app).await;
    poll_error(&app, &code_rp, &device_code, "unauthorized_client").await;
    // Pending; then the user denies: access_denied, for good.
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    let mut browser = logged_in(&app, &user).await;
    let page = decide(&mut browser, &user_code, "deny").await;
    assert!(page.contains("denied"), "{page}");
    app.clock.advance(5);
    poll_error(&app, &rp, &device_code, "access_denied").await;
    app.clock.advance(5);
    poll_error(&app, &rp, &device_code, "access_denied").await;

    // Another one expires unanswered.
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);
    app.clock.advance(601);
    poll_error(&app, &rp, &device_code, "expired_token").await;
    let r = enter(&mut browser, &user_code).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("expired"));
}

#[actix_web::test]
async fn polling_too_fast_slows_the_device_down_for_good() {
    let app = spawn_app().await;
    let rp = device_rp(&app).await;
    let (device_code, _) = code_of(&start(&app, &rp, "openid").await);
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    let body = poll_error(&app, &rp, &device_code, "slow_down").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds"),
        "{body}"
    );
    // 6 s later is faster than the grown 10 s: 15 now.
    app.clock.advance(6);
    let body = poll_error(&app, &rp, &device_code, "slow_down").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("15 seconds"),
        "{body}"
    );
    // At the grown interval: pending; sooner again: 20.
    app.clock.advance(15);
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    app.clock.advance(14);
    let body = poll_error(&app, &rp, &device_code, "slow_down").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("20 seconds"),
        "{body}"
    );
    app.clock.advance(20);
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
}

#[actix_web::test]
async fn codes_are_entered_without_regard_to_case_dashes_and_spaces() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let mut browser = logged_in(&app, &user).await;
    let shapes: [fn(&str) -> String; 4] = [
        |c: &str| c.to_lowercase(),
        |c: &str| c.replace('-', ""),
        |c: &str| c.replace('-', " ").to_lowercase(),
        |c: &str| format!(" {} ", c.replace('-', "").to_lowercase()),
    ];
    for shape in shapes {
        let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);
        let typed = shape(&user_code);
        let r = enter(&mut browser, &typed).await;
        assert_eq!(r.status(), StatusCode::OK, "{typed}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&user_code), "{typed}: {html}");
        let r = answer_at(&mut browser, "", &html, "allow").await;
        assert_eq!(r.status(), StatusCode::OK);
        let (status, body) = poll(&app, &rp, &device_code).await;
        assert_eq!(status, StatusCode::OK, "{typed}: {body}");
    }
    // Not the shape of a code at all: said so, and not counted.
    let r = enter(&mut browser, "12345").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("8 letters"));
}

#[actix_web::test]
async fn the_page_needs_a_session_and_its_csrf_token() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);
    // Signed out, a POST goes to the login page too, and nothing happens.
    let mut anonymous = Browser::new(&app);
    let r = anonymous
        .post_form(
            "/device",
            &[("user_code", user_code.as_str()), ("consent", "allow")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(header(&r, "location")
        .unwrap()
        .starts_with("/auth/login?return_to="));
    // Signed in without the page's token: 403, nothing approved.
    let mut browser = logged_in(&app, &user).await;
    for csrf in ["", "forged"] {
        let r = browser
            .post_form(
                "/device",
                &[
                    ("user_code", user_code.as_str()),
                    ("csrf", csrf),
                    ("consent", "allow"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
    // Another user's page token does not work either.
    let bob = create_user(&app, "bob").await;
    let mut other = logged_in(&app, &bob).await;
    let csrf = code_form_csrf(&mut other, "").await;
    let r = browser
        .post_form(
            "/device",
            &[
                ("user_code", user_code.as_str()),
                ("csrf", csrf.as_str()),
                ("consent", "allow"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.clock.advance(5);
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
}

/// A user code that exists nowhere (never drawn by the server: it only
/// draws from the alphabet, and this test's grants are few).
fn wrong_code(n: usize) -> String {
    let a: Vec<char> = ALPHABET.chars().collect();
    let pick = |i: usize| a[i % a.len()];
    format!(
        "{}{}{}{}-{}{}{}{}",
        pick(n),
        pick(n / 20),
        pick(n / 400),
        'B',
        'B',
        'B',
        'B',
        pick(n + 7)
    )
}

#[actix_web::test]
async fn wrong_codes_are_limited_per_session_and_per_ip() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);
    let mut browser = logged_in(&app, &user).await;
    let mut n = 0;
    // Per session: 5 allowed, the 6th locks.
    for _ in 0..6 {
        n += 1;
        let r = enter(&mut browser, &wrong_code(n)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("not right"));
    }
    let r = enter(&mut browser, &wrong_code(99)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&r, "retry-after").is_some());
    assert!(r.text().await.unwrap().contains("Too many wrong codes"));
    // Locked: even the right code waits.
    let r = enter(&mut browser, &user_code).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // A new session from the same address: the IP allows 10 in all.
    let mut second = logged_in(&app, &user).await;
    for _ in 0..5 {
        n += 1;
        let r = enter(&mut second, &wrong_code(n)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "wrong code {n}");
    }
    let r = enter(&mut second, &wrong_code(99)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let mut third = logged_in(&app, &user).await;
    let r = enter(&mut third, &user_code).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the IP is locked"
    );
    // Nothing was approved by any of it.
    poll_error(&app, &rp, &device_code, "authorization_pending").await;
}

#[actix_web::test]
async fn a_lock_ends_and_the_right_code_then_works() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let mut browser = logged_in(&app, &user).await;
    for n in 1..=6 {
        let r = enter(&mut browser, &wrong_code(n)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = enter(&mut browser, &wrong_code(50)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!(secs > 0 && secs <= 30, "{secs}");
    app.clock.advance(secs + 1);
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid").await);
    decide(&mut browser, &user_code, "allow").await;
    let (status, body) = poll(&app, &rp, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn of_racing_polls_exactly_one_gets_the_tokens() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = device_rp(&app).await;
    let (device_code, user_code) = code_of(&start(&app, &rp, "openid read").await);
    let mut browser = logged_in(&app, &user).await;
    decide(&mut browser, &user_code, "allow").await;
    let polls = (0..8).map(|_| poll(&app, &rp, &device_code));
    let answers = futures_util::future::join_all(polls).await;
    let won: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

#[actix_web::test]
async fn discovery_advertises_the_endpoint_and_the_grant() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{}/oauth2/device_authorization", app.issuer)
    );
    assert!(doc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(DEVICE_GRANT)));
    // And the admin API lists the grant back.
    let rp = device_rp(&app).await;
    let c: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}", rp.id()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        c["grant_types"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT)),
        "{c}"
    );
}

#[actix_web::test]
async fn expired_grants_are_forgotten_in_time() {
    let app = spawn_app().await;
    let rp = device_rp(&app).await;
    let (device_code, _) = code_of(&start(&app, &rp, "openid").await);
    app.clock.advance(601);
    poll_error(&app, &rp, &device_code, "expired_token").await;
    // Long after: swept from the database, or pruned from memory when the
    // next grant starts.
    app.clock.advance(7200);
    match &app.pg {
        Some(pg) => {
            let gone = pg.sweep_expired(app.now() - 3600).expect("sweep");
            assert!(gone >= 1, "the expired grant's row is deleted");
        }
        None => {
            start(&app, &rp, "openid").await;
        }
    }
    poll_error(&app, &rp, &device_code, "invalid_grant").await;
}
