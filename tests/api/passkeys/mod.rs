//! Passkeys (WebAuthn), driven by a software authenticator
//! ([`authenticator::SoftKey`]) over the real HTTP endpoints:
//!
//! - `account` — adding (a recent login only), listing, renaming and
//!   removing passkeys; the account pages and their policy.
//! - `login` — passwordless sign-in, a passkey as the second factor, both
//!   inside an authorization request; `amr` and `acr` in the ID token.
//! - `refusals` — replayed, foreign and expired challenges, another user's
//!   credential, a counter that went back (counted as a clone signal),
//!   malformed bodies.
//! - `admin` — an administrator lists and removes a user's passkeys; the
//!   password and the reset flow still work afterwards. A configured
//!   relying party.
//! - `cluster` — a ceremony started on one node finishes on another,
//!   once; passkeys and their counters follow the user record.

mod account;
mod admin;
mod authenticator;
mod cluster;
mod login;
mod refusals;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

pub use authenticator::SoftKey;

use crate::flow::{Browser, TestUser, CSRF_COOKIE};
use crate::helpers::TestApp;

/// The relying party id a server on 127.0.0.1 derives.
pub const RP_ID: &str = "localhost";

/// The origin a server on 127.0.0.1 expects its pages on.
pub fn origin(app: &TestApp) -> String {
    format!("http://localhost:{}", app.port)
}

/// A new software passkey for `app`.
pub fn soft_key(app: &TestApp) -> SoftKey {
    SoftKey::new(&origin(app), RP_ID)
}

/// The session-bound CSRF token of `b`'s signed-in pages.
pub fn session_csrf(app: &TestApp, b: &Browser) -> String {
    let cookie = b.session().expect("a session cookie");
    let s = app
        .engine
        .sessions
        .by_cookie(&cookie)
        .expect("a live session");
    tessera::extract::csrf::session_csrf(&s)
}

/// The login page's CSRF token (its cookie is set on `b`).
pub async fn login_csrf(b: &mut Browser) -> String {
    let r = b.get("/auth/login").await;
    assert_eq!(r.status(), StatusCode::OK);
    b.cookies
        .get(CSRF_COOKIE)
        .cloned()
        .expect("the login page sets its CSRF cookie")
}

/// The JSON body of `r`, asserting its status.
pub async fn json_of(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.expect("a body");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    assert_eq!(got, status, "{body}");
    body
}

/// `POST /account/passkeys/register/start`.
pub async fn start_registration(app: &TestApp, b: &mut Browser, name: &str) -> Response {
    let csrf = session_csrf(app, b);
    b.post_json(
        "/account/passkeys/register/start",
        &json!({"csrf": csrf, "name": name}),
    )
    .await
}

/// Register `key` as `name` for the signed-in `b`; the passkey's view.
pub async fn register(app: &TestApp, b: &mut Browser, key: &mut SoftKey, name: &str) -> Value {
    let start = json_of(start_registration(app, b, name).await, StatusCode::OK).await;
    let credential = key.register(&start["options"]);
    let csrf = session_csrf(app, b);
    let r = b
        .post_json(
            "/account/passkeys/register/finish",
            &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential}),
        )
        .await;
    json_of(r, StatusCode::CREATED).await
}

/// `POST /auth/passkey/start` from the login page of `b`.
pub async fn start_login(b: &mut Browser) -> (String, Value) {
    let csrf = login_csrf(b).await;
    let r = b
        .post_json("/auth/passkey/start", &json!({"csrf": csrf}))
        .await;
    (csrf, json_of(r, StatusCode::OK).await)
}

/// A passwordless sign-in with `key`: the finish answer.
pub async fn passwordless(b: &mut Browser, key: &mut SoftKey, return_to: Option<&str>) -> Response {
    let (csrf, start) = start_login(b).await;
    let credential = key.assert(&start["options"]);
    b.post_json(
        "/auth/passkey/finish",
        &json!({
            "csrf": csrf,
            "ceremony": start["ceremony"],
            "credential": credential,
            "return_to": return_to,
        }),
    )
    .await
}

/// Password, then `key` as the second factor: the finish answer.
pub async fn password_then_passkey(
    b: &mut Browser,
    user: &TestUser,
    key: &mut SoftKey,
    return_to: Option<&str>,
) -> Response {
    let csrf = login_csrf(b).await;
    let r = b.login_json(&user.username, &user.password).await;
    let body = json_of(r, StatusCode::OK).await;
    assert_eq!(body["mode"], "mfa", "{body}");
    let r = b
        .post_json("/auth/passkey/mfa/start", &json!({"csrf": csrf}))
        .await;
    let start = json_of(r, StatusCode::OK).await;
    let credential = key.assert(&start["options"]);
    b.post_json(
        "/auth/passkey/mfa/finish",
        &json!({
            "csrf": csrf,
            "ceremony": start["ceremony"],
            "credential": credential,
            "return_to": return_to,
        }),
    )
    .await
}

/// The value of a counter series in `/metrics` (0 when absent).
pub async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
