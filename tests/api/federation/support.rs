//! The two servers of these tests (`up` the provider of `down`) and the
//! browser steps of a federated login.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tessera::federation::{ClaimMapping, ProviderSettings};

use crate::flow::{encode, redirect, Browser, Redirect, TestUser};
use crate::helpers::{header, spawn_app, spawn_app_with, TestApp, TestClient};

pub(super) const PROVIDER: &str = "up";

pub(super) fn provider(issuer: &str, client: &TestClient) -> ProviderSettings {
    ProviderSettings {
        issuer: issuer.to_string(),
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        scopes: "openid email profile".into(),
        claims: ClaimMapping::default(),
        leeway_seconds: 30,
        allow_insecure_http: true,
        cache_seconds: 3600,
    }
}

pub(super) struct Pair {
    pub(super) up: TestApp,
    pub(super) down: TestApp,
}

/// An upstream tessera with a confidential client whose redirect URI is
/// the downstream's callback (loopback: any port), and a downstream that
/// knows it as provider `up`.
pub(super) async fn pair() -> Pair {
    let up = spawn_app().await;
    let client = up
        .create_client(json!({
            "public": false,
            "grant_types": ["authorization_code"],
            "redirect_uris": ["http://127.0.0.1/auth/oidc/login"],
            "scope": "openid email profile",
        }))
        .await;
    let settings = provider(&up.issuer, &client);
    let down = spawn_app_with(|s| {
        s.federation
            .providers
            .insert(PROVIDER.into(), settings.clone());
    })
    .await;
    Pair { up, down }
}

/// `GET /auth/openid` on `down`; the parsed redirect to the provider.
pub(super) async fn start(down: &mut Browser, return_to: Option<&str>) -> Redirect {
    let mut q = vec![("client_id", PROVIDER)];
    if let Some(r) = return_to {
        q.push(("redirect_uri", r));
    }
    let r = down.get(&format!("/auth/openid?{}", encode(&q))).await;
    assert_eq!(
        header(&r, "cache-control").as_deref(),
        Some("no-store"),
        "no caching of a redirect carrying state"
    );
    redirect(&r, StatusCode::FOUND)
}

/// Run the provider side: log in there if needed, consent, and answer the
/// redirect back to `down` (not yet followed).
pub(super) async fn at_provider(
    p: &Pair,
    up: &mut Browser,
    user: &TestUser,
    to: &Redirect,
) -> Redirect {
    if up.session().is_none() {
        up.login(user).await;
    }
    let r = up.get(&to.raw).await;
    let r = if r.status() == StatusCode::OK {
        let html = r.text().await.expect("consent page");
        up.consent(&html, "allow").await
    } else {
        r
    };
    let back = redirect(&r, r.status());
    assert_eq!(back.base, p.down.url("/auth/oidc/login"), "{}", back.raw);
    back
}

/// The whole round trip; the downstream callback's answer.
pub(super) async fn federated_login(
    p: &Pair,
    down: &mut Browser,
    up: &mut Browser,
    user: &TestUser,
    return_to: Option<&str>,
) -> Response {
    let to = start(down, return_to).await;
    let back = at_provider(p, up, user, &to).await;
    down.get(&back.raw).await
}

pub(super) async fn current_user(app: &TestApp, session: &str) -> Value {
    let r = Browser::with_session(app, session)
        .get("/sessions/session")
        .await;
    let status = r.status();
    let body: Value = r.json().await.expect("session JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(super) fn session_user_id(body: &Value) -> String {
    body["user"]["id"]
        .as_str()
        .or_else(|| body["data"]["user"]["id"].as_str())
        .unwrap_or_else(|| panic!("a user id in {body}"))
        .to_string()
}
