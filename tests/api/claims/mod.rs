//! The `claims` request parameter (OIDC Core §5.5) and the authentication
//! context (`acr_values`, the `acr` claim).
//!
//! - `request` — individually requested claims in the ID token (also
//!   after a refresh) and at userinfo, and only those; unknown claims
//!   ignored; malformed parameters refused; the consent they need; by
//!   PAR and in a request object.
//! - `acr` — `acr` in every ID token; `mfa` asked by `acr_values` or an
//!   essential `acr` claim forces the TOTP step, or ends in
//!   `unmet_authentication_requirements`.

mod acr;
mod request;

use reqwest::StatusCode;
use serde_json::Value;

use crate::flow::*;
use crate::helpers::{jwt_part, TestApp};

/// The claims of an ID token.
pub fn id_claims(t: &Tokens) -> Value {
    jwt_part(t.id(), 1)
}

/// The userinfo answer for `access_token`, asserting `200`.
pub async fn userinfo_json(app: &TestApp, access_token: &str) -> Value {
    let r = userinfo(app, access_token).await;
    let status = r.status();
    let body: Value = r.json().await.expect("userinfo JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A code for `req` from a logged-in browser, exchanged.
pub async fn flow_tokens(app: &TestApp, rp: &Rp, b: &mut Browser, req: &AuthRequest) -> Tokens {
    let code = b.code(app, req).await;
    tokens(exchange(app, rp, &code, Some(&req.verifier)).await).await
}
