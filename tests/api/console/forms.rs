//! Every console form refuses a post without its session's token, and
//! every console page refuses to be framed and to be stored.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::*;
use crate::helpers::{header, spawn_app};

/// Every `action` of a `method="post"` form in `html`.
fn post_actions(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in html.split("<form").skip(1) {
        let tag = part.split('>').next().unwrap_or_default();
        if !tag.contains("method=\"post\"") {
            continue;
        }
        if let Some(at) = tag.find("action=\"") {
            let action = tag[at + 8..].split('"').next().unwrap_or_default();
            out.push(action.replace("&amp;", "&"));
        }
    }
    out
}

/// Every console link (`href="/admin/console..."`) in `html`.
fn console_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|p| p.split('"').next())
        .filter(|h| h.starts_with("/admin/console"))
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}

/// What the console could change, read through the JSON API and the
/// engine's views.
async fn snapshot(app: &TestApp) -> (Value, Value, Value, usize, Vec<String>) {
    let json = |path: &'static str| async move {
        app.admin(Method::GET, path, None)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    (
        json("/admin/clients").await,
        json("/admin/users").await,
        json("/admin/entities").await,
        app.engine.sessions.len(),
        app.jwks_kids().await,
    )
}

/// A server with something on every page: a client, a user with a
/// session, an entity.
async fn populated() -> (TestApp, Console) {
    let app = spawn_app().await;
    app.create_client(serde_json::json!({"client_id": "svc", "scope": "read"}))
        .await;
    let _ = logged_in_user(&app, "ada").await;
    let r = app
        .admin(
            Method::POST,
            "/admin/entities",
            Some(serde_json::json!({"name": "ops-team"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let c = sign_in(&app).await;
    (app, c)
}

#[actix_web::test]
async fn every_console_form_is_refused_without_its_token_and_changes_nothing() {
    let (app, c) = populated().await;
    // Crawl the console from the overview, collecting each form's action.
    let mut seen = BTreeSet::new();
    let mut queue = vec!["/admin/console".to_string()];
    let mut actions = BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) || seen.len() > 60 {
            continue;
        }
        let r = get(&app, &path, Some(&c.cookie)).await;
        if r.status() != StatusCode::OK {
            continue;
        }
        assert_eq!(
            header(&r, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            header(&r, "x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        let csp = header(&r, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let html = r.text().await.unwrap();
        for a in post_actions(&html) {
            actions.insert(a);
        }
        for l in console_links(&html) {
            if !l.contains("signout") {
                queue.push(l);
            }
        }
    }
    for expected in [
        "/admin/console/signout",
        "/admin/console/keys/rotate",
        "/admin/console/clients",
        "/admin/console/clients/svc",
        "/admin/console/clients/svc/secret",
        "/admin/console/clients/svc/delete",
    ] {
        assert!(actions.contains(expected), "{expected} in {actions:?}");
    }
    let before = snapshot(&app).await;
    for action in &actions {
        for form in [
            vec![("name", "x")],
            vec![("csrf", "forged-token"), ("name", "x")],
        ] {
            let r = post(&app, action, Some(&c.cookie), &form).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} {form:?}");
        }
        // Without the console cookie, even with the right token.
        let r = post(&app, action, None, &[("csrf", c.csrf.as_str())]).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{action} without the cookie"
        );
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    // The session survived the refused sign-out.
    assert_eq!(
        get(&app, "/admin/console", Some(&c.cookie)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn console_pages_refuse_framing_and_carry_a_fresh_script_nonce() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let mut nonces = BTreeSet::new();
    for path in [
        "/admin/console",
        "/admin/console/keys",
        "/admin/console",
        "/admin/console/signin",
    ] {
        let r = get(&app, path, Some(&c.cookie)).await;
        let r = if r.status() == StatusCode::SEE_OTHER {
            // A signed-in visit to the sign-in page goes to the overview.
            get(&app, "/admin/console", Some(&c.cookie)).await
        } else {
            r
        };
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&r, "x-frame-options").as_deref(), Some("DENY"));
        let csp = header(&r, "content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self'"));
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|n| n.split('\'').next())
            .expect("a script nonce")
            .to_string();
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(!html.contains("<script src"), "no external scripts");
        nonces.insert(nonce);
    }
    assert_eq!(nonces.len(), 4, "a nonce per page");
    // The sign-in page is framed by no one either.
    let r = get(&app, "/admin/console/signin", None).await;
    assert_eq!(header(&r, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
}
