//! DPoP (RFC 9449).

pub mod proof;

mod bound_refresh;
mod nonce;
mod resource;
mod token;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::flow::{logged_in, token_call_with, AuthRequest, Rp, TestUser};
use crate::helpers::{header, jwt_part, TestApp, TestClient};
use proof::ProofKey;

/// Every algorithm the server accepts for proofs.
pub const ALGS: [&str; 9] = [
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// The `htu` of a path on this server.
pub fn htu(app: &TestApp, path: &str) -> String {
    format!("{}{}", app.issuer, path)
}

/// A proof for `POST /oauth2/token` now.
pub fn token_proof(app: &TestApp, key: &ProofKey) -> String {
    key.proof("POST", &htu(app, "/oauth2/token"), app.now())
}

/// `POST /oauth2/token` with `client_secret_basic` and one `DPoP` header per proof.
pub async fn token_call(
    app: &TestApp,
    client: &TestClient,
    params: &[(&str, &str)],
    proofs: &[&str],
) -> Response {
    let mut r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(params);
    for p in proofs {
        r = r.header("DPoP", *p);
    }
    r.send().await.expect("token request")
}

/// A client_credentials request with an optional proof.
pub async fn cc(app: &TestApp, client: &TestClient, proof: Option<&str>) -> Response {
    let proofs: Vec<&str> = proof.into_iter().collect();
    token_call(
        app,
        client,
        &[("grant_type", "client_credentials")],
        &proofs,
    )
    .await
}

/// `POST /oauth2/token` as `rp` (public: `client_id` in the body), with an
/// optional proof.
pub async fn rp_call(
    app: &TestApp,
    rp: &Rp,
    params: &[(&str, &str)],
    proof: Option<&str>,
) -> Response {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("DPoP", p)).into_iter().collect();
    token_call_with(app, rp, params, &headers).await
}

/// Assert a `200` token response of `token_type`; its body.
pub async fn issued(r: Response, token_type: &str) -> Value {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], token_type, "{body}");
    body
}

/// A string member of a token response.
pub fn member<'a>(body: &'a Value, k: &str) -> &'a str {
    body[k]
        .as_str()
        .unwrap_or_else(|| panic!("no {k} in {body}"))
}

/// The `cnf.jkt` of a JWT access token.
pub fn jkt_of(token: &str) -> Value {
    jwt_part(token, 1)["cnf"]["jkt"].clone()
}

/// A code for `req`, from a browser logged in as `user`.
pub async fn code_for(app: &TestApp, user: &TestUser, req: &AuthRequest) -> String {
    logged_in(app, user).await.code(app, req).await
}

/// Exchange `code` of `req` as `rp`, with an optional proof.
pub async fn exchange(
    app: &TestApp,
    rp: &Rp,
    code: &str,
    req: &AuthRequest,
    proof: Option<&str>,
) -> Response {
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", req.verifier.as_str()),
    ];
    rp_call(app, rp, &params, proof).await
}

/// Refresh as `rp` with an optional proof.
pub async fn refresh(app: &TestApp, rp: &Rp, token: &str, proof: Option<&str>) -> Response {
    let params = [("grant_type", "refresh_token"), ("refresh_token", token)];
    rp_call(app, rp, &params, proof).await
}

/// A request to a resource endpoint with `Authorization: <scheme> <token>`
/// and an optional proof.
pub async fn resource(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: (&str, &str),
    proof: Option<&str>,
) -> Response {
    let mut r = app
        .http
        .request(method, app.url(path))
        .header("authorization", format!("{} {}", auth.0, auth.1));
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.expect("resource request")
}

/// Assert a `401` from a resource endpoint with a `DPoP` challenge naming
/// `error`; the body.
pub async fn assert_dpop_challenge(r: Response, error: &str) -> Value {
    let status = r.status();
    let www = header(&r, "www-authenticate").unwrap_or_default();
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(www.starts_with("DPoP "), "WWW-Authenticate: {www:?}");
    assert!(
        www.contains(&format!("error=\"{error}\"")),
        "WWW-Authenticate: {www:?}"
    );
    if error == "invalid_dpop_proof" {
        let algs = www
            .split("algs=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("algs in {www:?}"));
        assert!(
            algs.split(' ').any(|a| a == "ES256"),
            "WWW-Authenticate: {www:?}"
        );
    }
    body
}
