//! Clients that authenticate with a JWT (RFC 7523, OIDC Core §9):
//! `private_key_jwt` and `client_secret_jwt`, the keys they register
//! (`jwks` by value, `jwks_uri`), and what is refused.
//!
//! - `keys` — client keys and JWS made without the server's code.
//! - `jwks_server` — a loopback HTTP server publishing a JWK Set.
//! - `registration` — what a client may register, and what it is shown.
//! - `private_key` — assertions that work, at every endpoint.
//! - `claims` — assertions refused for their claims or a used `jti`.
//! - `forged` — assertions refused for their signature.
//! - `methods` — one method at a time, the one the client registered.
//! - `secret_jwt` — `client_secret_jwt`, secret rotation included.
//! - `jwks_uri` — fetching, caching, rotation, and hostile key servers.
//! - `discovery` — what the metadata says.
//! - `cli` — `tessera client create` with the RFC 7591 flags.

pub mod jwks_server;
pub mod keys;

mod claims;
mod cli;
mod discovery;
mod forged;
mod jwks_uri;
mod methods;
mod private_key;
mod registration;
mod secret_jwt;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_oauth_error, header, TestApp};
use keys::{sign_jwt, ClientKey};

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How every refused assertion's description starts.
pub const REFUSED: &str = "the client assertion is refused: ";

/// Claims of a good assertion by `client_id` for `app`, made now: `aud`
/// the issuer, a minute to live, a fresh `jti`.
pub fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": app.issuer,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// The header a client puts on its assertions.
pub fn header_of(key: &ClientKey) -> Value {
    json!({"alg": key.alg(), "kid": key.kid(), "typ": "JWT"})
}

/// A good assertion by `client_id`, signed by `key`.
pub fn assertion(app: &TestApp, key: &ClientKey, client_id: &str) -> String {
    sign_jwt(key, &header_of(key), &claims(app, client_id))
}

/// `claims` with members set (a `null` removes one).
pub fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            claims.as_object_mut().expect("claims").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

/// An app with a `private_key_jwt` client holding one ES256 key (`k1`).
pub async fn one_client() -> (TestApp, ClientKey, String) {
    let app = crate::helpers::spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = key_client(&app, &[&key], json!({})).await;
    (app, key, id)
}

/// Register a `private_key_jwt` client holding `keys` (by value) and
/// `extra` members, with opaque access tokens; its id.
pub async fn key_client(app: &TestApp, keys: &[&ClientKey], extra: Value) -> String {
    // Opaque tokens are stored, so an issued one can be counted.
    let mut spec = json!({
        "scope": "read write",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": keys::jwks(keys),
        "access_token_format": "opaque",
    });
    for (k, v) in extra.as_object().expect("extra members") {
        spec[k] = v.clone();
    }
    let c = app.create_client(spec).await;
    assert!(
        c.secret.is_empty(),
        "a private_key_jwt client has no secret"
    );
    c.id
}

/// `POST path` with these form parameters (and nothing else).
pub async fn post(app: &TestApp, path: &str, params: &[(&str, &str)]) -> Response {
    app.http
        .post(app.url(path))
        .form(params)
        .send()
        .await
        .expect("request")
}

/// `POST /oauth2/token` (client_credentials) authenticated by `assertion`,
/// with `extra` parameters.
pub async fn token_by(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Response {
    let mut params = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    params.extend_from_slice(extra);
    post(app, "/oauth2/token", &params).await
}

/// Assert a `200` token answer; its body.
pub async fn issued(r: Response) -> Value {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    body
}

/// The access token of a `200` token answer.
pub async fn access_token(r: Response) -> String {
    issued(r).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// How many access tokens the store holds, whichever the backend (JWT
/// access tokens are not stored: the clients that count use opaque ones).
pub fn stored_tokens(app: &TestApp) -> usize {
    app.records()
        .get("access_tokens")
        .map_or(0, |rows| rows.len())
}

/// Assert `401 invalid_client` for an assertion that was checked and
/// refused (the description says so), and that no token was issued;
/// the error body.
pub async fn assert_refused(app: &TestApp, r: Response, tokens_before: usize) -> Value {
    let body = assert_unauthorized(app, r, tokens_before).await;
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(d.starts_with(REFUSED), "{body}");
    body
}

/// Assert `401 invalid_client` and that no token was issued; the body.
pub async fn assert_unauthorized(app: &TestApp, r: Response, tokens_before: usize) -> Value {
    let body = assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(
        stored_tokens(app),
        tokens_before,
        "nothing was issued: {body}"
    );
    body
}

/// Assert `400 invalid_request` and that no token was issued; the body.
pub async fn assert_bad_request(app: &TestApp, r: Response, tokens_before: usize) -> Value {
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(
        stored_tokens(app),
        tokens_before,
        "nothing was issued: {body}"
    );
    body
}

/// One metric's series from `/metrics` (lines without comments).
pub async fn metric_lines(app: &TestApp, name: &str) -> Vec<String> {
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
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .map(str::to_string)
        .collect()
}

/// The introspection answer for `token`, asked by an assertion of
/// `client_id` (which may introspect its own tokens).
pub async fn introspect_by(app: &TestApp, key: &ClientKey, client_id: &str, token: &str) -> Value {
    let a = assertion(app, key, client_id);
    let r = post(
        app,
        "/oauth2/token/introspect",
        &[
            ("token", token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.expect("introspection JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}
