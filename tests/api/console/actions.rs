//! Console actions change state through the admin operations: what they
//! do is seen through the JSON API, the JWKS and introspection, and each
//! leaves an audit record that says `via=console`.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::signin::audit;
use super::*;
use crate::helpers::{header, spawn_app, TestClient};

async fn user_json(app: &TestApp, id: uuid::Uuid) -> Value {
    app.admin(Method::GET, &format!("/admin/users/{id}"), None)
        .await
        .json()
        .await
        .unwrap()
}

fn secret_in(html: &str) -> String {
    let at = html
        .find("id=\"client-secret\">")
        .expect("the secret is shown");
    html[at + 19..].split('<').next().unwrap().to_string()
}

#[actix_web::test]
async fn a_client_created_in_the_console_is_the_api_s_client_and_works() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let r = post(
        &app,
        "/admin/console/clients",
        Some(&c.cookie),
        &[
            ("csrf", c.csrf.as_str()),
            ("client_id", "reports"),
            ("name", "Reports"),
            ("scope", "read write"),
            ("grant_types", "client_credentials"),
            (
                "audiences",
                "https://api.example.com\nhttps://other.example.com",
            ),
            ("access_token_format", "opaque"),
            ("dpop_bound_access_tokens", ""),
            ("require_pushed_authorization_requests", "on"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    let secret = secret_in(&html);
    let v: Value = app
        .admin(Method::GET, "/admin/clients/reports", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], "Reports");
    assert_eq!(v["scope"], "read write");
    assert_eq!(v["access_token_format"], "opaque");
    assert_eq!(v["require_pushed_authorization_requests"], true);
    assert_eq!(v["dpop_bound_access_tokens"], false);
    assert_eq!(
        v["audiences"],
        serde_json::json!(["https://api.example.com", "https://other.example.com"])
    );
    // The secret shown once is the client's.
    let client = TestClient {
        id: "reports".into(),
        secret,
    };
    let token = app.get_token(&client).await;
    app.assert_active(&client, &token).await;

    // An invalid field is refused with the API's message, nothing saved.
    let r = post(
        &app,
        "/admin/console/clients",
        Some(&c.cookie),
        &[
            ("csrf", c.csrf.as_str()),
            ("client_id", "bad id!"),
            ("grant_types", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("client_id"));
    assert_eq!(app.listed_clients().await.len(), 1);

    // Edit: the form posts every field back.
    let r = post(
        &app,
        "/admin/console/clients/reports",
        Some(&c.cookie),
        &[
            ("csrf", c.csrf.as_str()),
            ("name", "Reports v2"),
            ("scope", "read"),
            ("grant_types", "client_credentials"),
            ("access_token_format", "jwt"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = app
        .admin(Method::GET, "/admin/clients/reports", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], "Reports v2");
    assert_eq!(v["access_token_format"], "jwt");

    // Rotate the secret: the new one is shown once and the old one dies.
    let r = post(
        &app,
        "/admin/console/clients/reports/secret",
        Some(&c.cookie),
        &[("csrf", c.csrf.as_str())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = secret_in(&r.text().await.unwrap());
    assert_ne!(fresh, client.secret);
    let old = app
        .token_request(&client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);

    // Delete.
    let r = post(
        &app,
        "/admin/console/clients/reports/delete",
        Some(&c.cookie),
        &[("csrf", c.csrf.as_str())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.admin(Method::GET, "/admin/clients/reports", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let records = audit(&app).await;
    for action in ["create", "update", "rotate", "delete"] {
        assert!(
            records.iter().any(|a| a["via"] == "console"
                && a["actor"] == "admin-token"
                && a["action"].as_str().unwrap_or_default().contains(action)
                && a["outcome"] == "ok"),
            "{action}: {records:?}"
        );
    }
}

#[actix_web::test]
async fn rotating_keys_in_the_console_publishes_a_new_kid() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let before = app.jwks_kids().await;
    let r = post(
        &app,
        "/admin/console/keys/rotate",
        Some(&c.cookie),
        &[("csrf", c.csrf.as_str())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/admin/console/keys?done=rotated")
    );
    let after = app.jwks_kids().await;
    assert!(
        after.iter().any(|k| !before.contains(k)),
        "{before:?} → {after:?}"
    );
    let html = get(&app, "/admin/console/keys", Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    for kid in &after {
        assert!(html.contains(kid.as_str()), "{kid} listed");
    }
    assert!(audit(&app)
        .await
        .iter()
        .any(|a| a["via"] == "console"
            && a["action"].as_str().unwrap_or_default().contains("rotate")));
}

#[actix_web::test]
async fn a_token_revoked_in_the_console_is_inactive_and_a_grant_takes_its_tokens() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let client = app.cc_client().await;
    let token = app.get_token(&client).await;
    // The lookup shows it as introspection does.
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &token)
        .finish();
    let html = get(&app, &format!("/admin/console/tokens?{q}"), Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"token-state\">active"), "{html}");
    assert!(html.contains(&client.id));
    let r = post(
        &app,
        "/admin/console/tokens/revoke",
        Some(&c.cookie),
        &[
            ("csrf", c.csrf.as_str()),
            ("what", "token"),
            ("token", token.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.assert_inactive(&client, &token).await;
    let html = get(&app, &format!("/admin/console/tokens?{q}"), Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("id=\"token-state\">active"));

    let records = audit(&app).await;
    assert!(records
        .iter()
        .any(|a| a["action"] == "token.revoke" && a["via"] == "console" && a["outcome"] == "ok"));
}

#[actix_web::test]
async fn revoking_a_grant_in_the_console_kills_every_token_of_it() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let uid = crate::personal_tokens::user_with_scope(&app, "ada", "read").await;
    let secret = crate::personal_tokens::cookie(&app, uid).await;
    let t = crate::personal_tokens::personal(&app, crate::sessions::Auth::Cookie(&secret), "read")
        .await;
    let token = t["token"].as_str().expect("token").to_string();
    let rs = crate::flow::introspector(&app).await;
    app.assert_active(&rs, &token).await;
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &token)
        .finish();
    let html = get(&app, &format!("/admin/console/tokens?{q}"), Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    let at = html
        .find("name=\"grant\" value=\"")
        .expect("the token's grant is offered");
    let grant = html[at + 20..].split('"').next().unwrap().to_string();
    let r = post(
        &app,
        "/admin/console/tokens/revoke",
        Some(&c.cookie),
        &[
            ("csrf", c.csrf.as_str()),
            ("what", "grant"),
            ("grant", grant.as_str()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/admin/console/tokens?done=grant_revoked")
    );
    app.assert_inactive(&rs, &token).await;
    assert!(audit(&app)
        .await
        .iter()
        .any(|a| a["action"] == "grant.revoke" && a["via"] == "console" && a["outcome"] == "ok"));
}

#[actix_web::test]
async fn user_actions_in_the_console_go_through_the_operations() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let (id, session) = logged_in_user(&app, "ada").await;
    let (_, other) = {
        let r = app
            .http
            .post(app.url("/auth/login"))
            .json(&serde_json::json!({"login": "ada", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        ((), cookie_pair(&r, "tessera_session").unwrap())
    };
    let account = |cookie: String| {
        let app = &app;
        async move { get(app, "/account", Some(&cookie)).await.status() }
    };
    assert_eq!(account(session.clone()).await, StatusCode::OK);
    let page = get(&app, &format!("/admin/console/users/{id}"), Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Live sessions"));
    // End one session: that browser is signed out, the other is not.
    let sid = app
        .engine
        .sessions
        .by_cookie(session.split_once('=').unwrap().1)
        .unwrap()
        .id
        .to_string();
    assert!(page.contains(&sid), "the session is listed");
    let act = |path: String, extra: Vec<(&'static str, String)>| {
        let (app, c) = (&app, &c);
        async move {
            let mut form: Vec<(&str, &str)> = vec![("csrf", c.csrf.as_str())];
            form.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            post(app, &path, Some(&c.cookie), &form).await
        }
    };
    let r = act(
        format!("/admin/console/users/{id}/end-session"),
        vec![("session", sid)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(account(session.clone()).await, StatusCode::SEE_OTHER);
    assert_eq!(account(other.clone()).await, StatusCode::OK);
    // End all: the other browser lands on the login page too.
    let r = act(format!("/admin/console/users/{id}/sessions"), vec![]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = get(&app, "/account", Some(&other)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(header(&r, "location").unwrap().starts_with("/auth/login"));
    // Grant and revoke the admin role: the JSON API sees it.
    act(format!("/admin/console/users/{id}/grant-admin"), vec![]).await;
    assert_eq!(
        user_json(&app, id).await["roles"],
        serde_json::json!(["admin"])
    );
    act(format!("/admin/console/users/{id}/revoke-admin"), vec![]).await;
    assert!(user_json(&app, id).await["roles"]
        .as_array()
        .is_none_or(|a| a.is_empty()));
    // Disable, then enable.
    act(format!("/admin/console/users/{id}/disable"), vec![]).await;
    let v = user_json(&app, id).await;
    assert_eq!(v["status"], "disabled", "{v}");
    act(format!("/admin/console/users/{id}/enable"), vec![]).await;
    let v = user_json(&app, id).await;
    assert_eq!(v["status"], "active", "{v}");
    let records = audit(&app).await;
    for action in [
        "session.end",
        "user.sessions.end",
        "user.roles.set",
        "user.update",
    ] {
        assert!(
            records
                .iter()
                .any(|a| a["action"] == action && a["via"] == "console" && a["outcome"] == "ok"),
            "{action}: {records:?}"
        );
    }
}
