//! The token endpoint, userinfo and the session API as a relying party
//! calls them.

use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::{logged_in, AuthRequest, Browser, Rp, TestUser};
use crate::helpers::{header, TestApp};

/// `POST /oauth2/token` as `rp`: `none` (client_id in the body) for public
/// clients, `client_secret_basic` otherwise.
pub async fn token_call(app: &TestApp, rp: &Rp, params: &[(&str, &str)]) -> Response {
    token_call_with(app, rp, params, &[]).await
}

/// [`token_call`] with extra request headers (a `DPoP` proof).
pub async fn token_call_with(
    app: &TestApp,
    rp: &Rp,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut params = params.to_vec();
    let mut r = app.http.post(app.url("/oauth2/token"));
    if rp.is_public() {
        params.push(("client_id", rp.id()));
    } else {
        r = r.basic_auth(&rp.client.id, Some(&rp.client.secret));
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.form(&params).send().await.expect("token request")
}

/// Exchange `code` with the request's redirect URI and verifier.
pub async fn exchange(app: &TestApp, rp: &Rp, code: &str, verifier: Option<&str>) -> Response {
    let mut p = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        p.push(("code_verifier", v));
    }
    token_call(app, rp, &p).await
}

pub async fn refresh(app: &TestApp, rp: &Rp, token: &str, scope: Option<&str>) -> Response {
    let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        p.push(("scope", s));
    }
    token_call(app, rp, &p).await
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub body: Value,
}

impl Tokens {
    pub fn refresh(&self) -> &str {
        self.refresh_token.as_deref().expect("a refresh token")
    }
    pub fn id(&self) -> &str {
        self.id_token.as_deref().expect("an ID token")
    }
}

/// Assert a `200` token response; its tokens.
pub async fn tokens(r: Response) -> Tokens {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0), "{body}");
    let s = |k: &str| body[k].as_str().map(str::to_string);
    Tokens {
        access_token: s("access_token").expect("access_token"),
        refresh_token: s("refresh_token"),
        id_token: s("id_token"),
        body,
    }
}

/// Log in, authorize `scope` and exchange the code: everything a client
/// holds after the flow.
pub struct Flow {
    pub browser: Browser,
    pub tokens: Tokens,
}

pub async fn run_flow(app: &TestApp, rp: &Rp, user: &TestUser, scope: &str) -> Flow {
    let mut browser = logged_in(app, user).await;
    let req = AuthRequest::new(rp, scope);
    let code = browser.code(app, &req).await;
    let tokens = tokens(exchange(app, rp, &code, Some(&req.verifier)).await).await;
    Flow { browser, tokens }
}

/// `GET /oauth2/userinfo` with a bearer token.
pub async fn userinfo(app: &TestApp, token: &str) -> Response {
    app.http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
}

/// `GET /sessions/session` with only this session cookie.
pub async fn current_session(app: &TestApp, session: &str) -> Response {
    Browser::with_session(app, session)
        .get("/sessions/session")
        .await
}
