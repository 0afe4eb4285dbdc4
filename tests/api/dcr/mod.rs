//! Dynamic client registration (RFC 7591) and its management (RFC 7592).
//!
//! - `register` — `POST /oauth2/register` in each `[registration] mode`,
//!   the answer's fields, discovery, the open mode's per-address limit.
//! - `metadata` — every way the metadata can be refused, each naming its
//!   field; what a self-registered client may never be.
//! - `manage` — `GET`/`PUT`/`DELETE` on `registration_client_uri`: token
//!   misuse (none, wrong, another client's, rotated away), replacement.
//! - `initial` — initial access tokens: the admin API and the CLI, uses
//!   running out (also racing), expiry, revocation.
//! - `flow` — a loopback public client registers itself, then runs the
//!   code flow with PKCE (the MCP pattern); the consent page every time.

mod flow;
mod initial;
mod manage;
mod metadata;
mod register;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera::configuration::{RegistrationMode, Settings};

use crate::helpers::{header, spawn_app_with, TestApp};

/// A server whose registration is open.
pub async fn open_app() -> TestApp {
    spawn_app_with(open).await
}

pub fn open(s: &mut Settings) {
    s.registration.mode = RegistrationMode::Open;
    // Tests of the metadata send many requests from one address; the
    // limit itself has a test of its own.
    s.registration.open_per_hour = 10_000;
}

/// What an MCP-style desktop tool sends: a public loopback client.
pub fn loopback_metadata() -> Value {
    json!({
        "client_name": "Desktop Assistant",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile offline_access",
    })
}

/// `POST /oauth2/register` with `body` as JSON, and `bearer` if given.
pub async fn register_call(app: &TestApp, body: &Value, bearer: Option<&str>) -> Response {
    let mut r = app.http.post(app.url("/oauth2/register")).json(body);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("registration request")
}

/// Register, asserting `201`; the client information response.
pub async fn register(app: &TestApp, body: &Value) -> Value {
    registered(register_call(app, body, None).await).await
}

/// Assert a `201` client information response; its body.
pub async fn registered(r: Response) -> Value {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("registration JSON");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Assert an RFC 7591 §3.2.2 error; its description.
pub async fn refused(r: Response, status: StatusCode, code: &str) -> String {
    let got = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    body["error_description"]
        .as_str()
        .expect("error_description")
        .to_string()
}

/// A request to a registration's URI with its registration access token.
pub async fn manage_call(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut r = app.http.request(method, uri);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    r.send().await.expect("registration management request")
}

/// The admin API's `POST /admin/registration-tokens`; the answer.
pub async fn initial_token(app: &TestApp, spec: Value) -> Value {
    let r = app
        .admin(Method::POST, "/admin/registration-tokens", Some(spec))
        .await;
    let status = r.status();
    let body: Value = r.json().await.expect("initial token JSON");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}
