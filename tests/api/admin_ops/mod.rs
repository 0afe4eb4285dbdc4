//! The admin operations the console shares with the JSON API, and the
//! audit log every one of them writes.
//!
//! - `audit_log` — one record per action (done or refused), none without
//!   the admin token, listing with cursor and filters, retention, restarts.
//! - `users` — search, roles, TOTP reset, sessions of a user.
//! - `tokens` — look a token up, revoke a token or a grant.
//! - `background` — the mail queue, logout deliveries, the cluster view.
//! - `cli` — `tessera user role grant|revoke`, locally and through a server.

mod audit_log;
mod background;
mod cli;
mod tokens;
mod users;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

/// Every audit record, newest first.
pub async fn audit(app: &TestApp) -> Vec<Value> {
    let r = app.admin(Method::GET, "/admin/audit?limit=500", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("audit JSON");
    page["records"].as_array().expect("records").clone()
}

/// Run `action`; assert it added exactly one audit record, and answer it.
pub async fn one_record<F, Fut, T>(app: &TestApp, action: F) -> (T, Value)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let before = audit(app).await;
    let out = action().await;
    let after = audit(app).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "exactly one new record: {after:#?}"
    );
    // Newest first: the new one leads, the rest are unchanged.
    assert_eq!(&after[1..], &before[..]);
    (out, after[0].clone())
}

/// Assert a record's fields for an admin-token call from loopback.
pub fn assert_api_record(rec: &Value, action: &str, target: Option<&str>, outcome: &str) {
    assert_eq!(rec["action"], action, "{rec}");
    assert_eq!(rec["outcome"], outcome, "{rec}");
    assert_eq!(rec["actor"], "admin-token", "{rec}");
    assert_eq!(rec["via"], "api", "{rec}");
    assert_eq!(rec["ip"], "127.0.0.1", "{rec}");
    match target {
        Some(t) => assert_eq!(rec["target"], t, "{rec}"),
        None => assert!(rec.get("target").is_none(), "{rec}"),
    }
    assert!(rec["node"].as_str().is_some_and(|n| !n.is_empty()), "{rec}");
    assert_eq!(rec["id"].as_str().map(str::len), Some(32), "{rec}");
    assert!(
        tessera_actors::clock::parse_rfc3339(rec["time"].as_str().unwrap_or_default()).is_some(),
        "{rec}"
    );
    if outcome == "refused" {
        assert!(
            rec["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{rec}"
        );
    }
}
