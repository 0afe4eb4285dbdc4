//! What the token-exchange tests share: the grant and token-type URNs,
//! services registered with an exchange policy, a user's tokens from the
//! code flow, and the exchange call itself.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, jwt_part, TestApp, TestClient};

pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The audience a user's tokens are issued for, served by service A.
pub const API_A: &str = "https://api-a.example.com";
/// A second audience of the user's tokens that no service answers to.
pub const API_C: &str = "https://api-c.example.com";
/// An audience only reachable through an exchange policy, served by B.
pub const API_B: &str = "https://api-b.example.com";

/// A confidential service: `client_credentials` and token exchange, scope
/// `read write`, answering to `answers_to`, with this exchange `policy`.
pub async fn service(app: &TestApp, answers_to: &[&str], policy: Value) -> TestClient {
    app.create_client(json!({
        "scope": "read write",
        "grant_types": ["client_credentials", "refresh_token", GRANT],
        "introspect_audiences": answers_to,
        "token_exchange": policy,
    }))
    .await
}

/// A confidential first-party relying party whose user tokens name
/// [`API_A`] and [`API_C`] as audiences; it may also use `extra` grants.
pub async fn user_rp(app: &TestApp, extra: &[&str]) -> Rp {
    let mut grants = vec!["authorization_code", "refresh_token"];
    grants.extend_from_slice(extra);
    rp_with(
        app,
        json!({
            "public": false,
            "first_party": true,
            "grant_types": grants,
            "audiences": [API_A, API_C],
        }),
    )
    .await
}

/// Everything one test needs: a user, the relying party, a resource server
/// that may introspect anything, and the user's tokens (scope [`SCOPE`]).
pub struct Setup {
    pub user: TestUser,
    pub rp: Rp,
    pub rs: TestClient,
    pub tokens: Tokens,
}

pub async fn setup(app: &TestApp, rp_grants: &[&str]) -> Setup {
    let user = create_user(app, "alice").await;
    let rp = user_rp(app, rp_grants).await;
    let rs = introspector(app).await;
    let tokens = run_flow(app, &rp, &user, SCOPE).await.tokens;
    Setup {
        user,
        rp,
        rs,
        tokens,
    }
}

/// `POST /oauth2/token` with the token-exchange grant and `params`.
pub async fn exchange_token(
    app: &TestApp,
    client: &TestClient,
    params: &[(&str, &str)],
) -> Response {
    let mut p = vec![("grant_type", GRANT)];
    p.extend_from_slice(params);
    app.token_request(client, &p).await
}

/// Exchange `subject` (an access token) with the caller's own fresh
/// client_credentials token as actor, plus `extra` parameters.
pub async fn delegate(
    app: &TestApp,
    client: &TestClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> Response {
    let actor = app.get_token(client).await;
    let mut p = vec![
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS),
    ];
    p.extend_from_slice(extra);
    exchange_token(app, client, &p).await
}

/// Assert a `200` exchange answer; its body.
pub async fn issued(r: Response) -> Value {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0), "{body}");
    body
}

/// The `access_token` of an answer.
pub fn at(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `{"sub": id, "client_id": id}`: the `act` a client_credentials actor
/// token of `client` yields.
pub fn act_of(client: &TestClient) -> Value {
    json!({"sub": client.id, "client_id": client.id})
}

/// `act` with `inner` nested inside it.
pub fn act_over(client: &TestClient, inner: Value) -> Value {
    let mut a = act_of(client);
    a["act"] = inner;
    a
}

/// An `aud` claim as a sorted list, whether a string or an array.
pub fn auds(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().expect("aud string").to_string())
            .collect(),
        other => panic!("aud {other}"),
    };
    out.sort();
    out
}

/// The claims of a JWT access token.
pub fn claims(token: &str) -> Value {
    jwt_part(token, 1)
}
