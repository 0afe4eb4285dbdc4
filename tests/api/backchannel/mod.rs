//! OIDC Back-Channel Logout 1.0: clients with real loopback receivers that
//! check each logout token's signature and claims on their own.
//!
//! - `receiver` — the loopback endpoint and the token checks.
//! - `triggers` — what ends a session: RP-initiated logout, the sessions
//!   API, an admin disabling the user, the expiry sweep.
//! - `delivery` — the queue: a receiver down then up, a slow one, dead
//!   letters, per-client order, metrics.
//! - `crash` — `kill -9` of the real binary with deliveries queued.
//! - `cluster` — two nodes sharing the queue over PostgreSQL.

mod cluster;
mod crash;
mod delivery;
mod receiver;
mod triggers;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::configuration::Settings;
use tessera_actors::logout::{Delivery, ListDeliveries};

use crate::flow::{exchange, logged_in, rp_with, tokens, AuthRequest, Browser, Rp, TestUser};
use crate::helpers::{jwt_part, spawn_app_with, TestApp};
use receiver::Receiver;

/// Settings of every test here: quick retries.
pub fn quick(s: &mut Settings) {
    s.backchannel_logout.retry_base = 1;
    s.backchannel_logout.retry_max = 4;
    s.backchannel_logout.timeout_ms = 2000;
}

pub async fn app() -> TestApp {
    spawn_app_with(quick).await
}

/// A first-party code-flow client whose back-channel logout endpoint is
/// `r`.
pub async fn rp_to(app: &TestApp, r: &Receiver, session_required: bool) -> Rp {
    rp_with(
        app,
        json!({
            "first_party": true,
            "backchannel_logout_uri": r.uri(),
            "backchannel_logout_session_required": session_required,
        }),
    )
    .await
}

/// Authorize `rp` in the browser's session and exchange the code: the
/// ID token's claims (its `sid` names the session).
pub async fn sign_in_at(app: &TestApp, browser: &mut Browser, rp: &Rp) -> Value {
    let req = AuthRequest::new(rp, "openid profile");
    let code = browser.code(app, &req).await;
    let t = tokens(exchange(app, rp, &code, Some(&req.verifier)).await).await;
    jwt_part(t.id(), 1)
}

/// A browser of `user` signed in at each of `rps`; the `sid` of its ID
/// tokens.
pub async fn session_at(app: &TestApp, user: &TestUser, rps: &[&Rp]) -> (Browser, String) {
    let mut b = logged_in(app, user).await;
    let mut sid = None;
    for rp in rps {
        let claims = sign_in_at(app, &mut b, rp).await;
        let s = claims["sid"]
            .as_str()
            .expect("sid in the ID token")
            .to_string();
        if let Some(prev) = &sid {
            assert_eq!(prev, &s, "one session, one sid");
        }
        sid = Some(s);
    }
    (b, sid.unwrap_or_default())
}

/// RP-initiated logout as an API caller: `200` at once.
pub async fn logout(browser: &mut Browser) -> Duration {
    let started = std::time::Instant::now();
    let r = browser.get("/auth/logout").await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::OK, "logout");
    took
}

/// Verify every token `r` got for `rp` and answer their claims.
pub async fn verified(app: &TestApp, r: &Receiver, rp: &Rp, n: usize) -> Vec<Value> {
    let got = r.wait_for(n, Duration::from_secs(15)).await;
    assert_eq!(got.len(), n, "{} logout tokens for {}", n, rp.id());
    assert!(r.malformed().is_empty(), "{:?}", r.malformed());
    let jwks = app.jwks().await;
    got.iter()
        .map(|t| {
            let c = receiver::verify_logout_token(t, &jwks, &app.issuer, rp.id());
            assert_eq!(c["aud"], json!(rp.id()));
            c
        })
        .collect()
}

/// Nothing arrives at `r` for a while.
pub async fn stays_quiet(r: &Receiver) {
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(r.tokens().is_empty(), "unexpected logout tokens");
}

pub async fn deliveries(app: &TestApp) -> Vec<Delivery> {
    app.engine
        .logouts
        .send(ListDeliveries)
        .await
        .expect("logout queue mailbox")
        .expect("list")
}

/// Wait until the queue holds nothing waiting (dead letters may stay).
pub async fn drained(app: &TestApp) {
    let start = std::time::Instant::now();
    loop {
        let ds = deliveries(app).await;
        if ds
            .iter()
            .all(|d| d.state == tessera_actors::logout::DeliveryState::Dead)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "deliveries still queued: {ds:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A request with the browser's session cookie, as a browser sends it
/// (`Accept: text/html`).
pub async fn as_browser(
    app: &TestApp,
    browser: &Browser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .header("accept", "text/html")
        .header(
            "cookie",
            format!(
                "{}={}",
                crate::flow::SESSION_COOKIE,
                browser.session().expect("a session")
            ),
        )
        .send()
        .await
        .expect("request")
}
