//! Users: search, roles, TOTP reset, and their browser sessions.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{assert_api_record, one_record};
use crate::flow::{create_user, enable_totp, logged_in, Browser};
use crate::helpers::{spawn_app, TestApp};

async fn call(
    app: &TestApp,
    method: Method,
    path: impl AsRef<str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = app.admin(method, path.as_ref(), body).await;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn usernames(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn users_are_searched_by_username_or_email() {
    let app = spawn_app().await;
    create_user(&app, "alice-ops").await;
    create_user(&app, "bob-ops").await;
    create_user(&app, "carol").await;
    let (s, all) = call(&app, Method::GET, "/admin/users", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(usernames(&all).len(), 3);
    let (_, found) = call(&app, Method::GET, "/admin/users?q=OPS", None).await;
    assert_eq!(usernames(&found), vec!["alice-ops", "bob-ops"]);
    let (_, found) = call(&app, Method::GET, "/admin/users?q=carol%40example", None).await;
    assert_eq!(usernames(&found), vec!["carol"]);
    let (_, found) = call(&app, Method::GET, "/admin/users?q=zzz", None).await;
    assert!(usernames(&found).is_empty());
    // Clients search the same way, by id or name.
    app.create_client(json!({"client_id": "billing-api", "name": "Billing"}))
        .await;
    let (_, found) = call(&app, Method::GET, "/admin/clients?q=BILL", None).await;
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["billing-api"]);
}

#[actix_web::test]
async fn the_admin_role_is_set_and_cleared() {
    let app = spawn_app().await;
    let u = create_user(&app, "promoted").await;
    let path = format!("/admin/users/{}/roles", u.id);
    let ((s, body), rec) = one_record(&app, || {
        call(
            &app,
            Method::PUT,
            &path,
            Some(json!({"roles": ["admin", "admin"]})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["admin"]));
    assert_api_record(&rec, "user.roles.set", Some(&u.id.to_string()), "ok");
    assert_eq!(rec["detail"], "roles: admin");
    assert!(app.engine.users.get(&u.id).unwrap().is_admin());
    let ((s, body), rec) = one_record(&app, || {
        call(&app, Method::PUT, &path, Some(json!({"roles": []})))
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["roles"], json!([]));
    assert_eq!(rec["detail"], "roles: none");
    assert!(!app.engine.users.get(&u.id).unwrap().is_admin());
    // Unknown user.
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::PUT,
            "/admin/users/00000000-0000-0000-0000-000000000000/roles",
            Some(json!({"roles": ["admin"]})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(rec["outcome"], "refused");
}

#[actix_web::test]
async fn a_users_totp_is_reset() {
    let app = spawn_app().await;
    let u = create_user(&app, "lost-phone").await;
    enable_totp(&app, &u).await;
    assert!(app.engine.users.get(&u.id).unwrap().totp_enabled());
    let path = format!("/admin/users/{}/totp", u.id);
    let ((s, body), rec) = one_record(&app, || call(&app, Method::DELETE, &path, None)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["mfa_methods"], json!(["password"]));
    assert_api_record(&rec, "user.totp.reset", Some(&u.id.to_string()), "ok");
    assert!(app.engine.users.get(&u.id).unwrap().totp.is_none());
    // The password alone signs in now.
    let mut b = Browser::new(&app);
    let r = b.login_json(&u.username, &u.password).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mode"], "authentication", "{body}");
    // Again: nothing to reset.
    let ((s, _), rec) = one_record(&app, || call(&app, Method::DELETE, &path, None)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_api_record(&rec, "user.totp.reset", Some(&u.id.to_string()), "refused");
}

#[actix_web::test]
async fn a_users_sessions_are_listed_and_ended() {
    let app = spawn_app().await;
    let u = create_user(&app, "roamer").await;
    let other = create_user(&app, "stayer").await;
    let mut one = logged_in(&app, &u).await;
    let mut two = logged_in(&app, &u).await;
    let mut theirs = logged_in(&app, &other).await;
    let list_path = format!("/admin/users/{}/sessions", u.id);
    let (s, list) = call(&app, Method::GET, &list_path, None).await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    for sess in &list {
        assert_eq!(sess["user_id"], u.id.to_string());
        assert_eq!(sess["ip"], "127.0.0.1");
        assert_eq!(sess["amr"], json!(["pwd"]));
        assert_eq!(sess["state"], "active");
        for f in ["created_at", "last_seen_at", "expires_at"] {
            assert!(sess[f].as_str().is_some(), "{f}: {sess}");
        }
        assert!(sess["user_agent"].is_string());
        assert_eq!(sess["clients"], json!([]));
    }
    // The second browser's session is one of them.
    let me = two
        .get("/sessions/session")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let newest = me["id"].as_str().unwrap().to_string();
    assert!(list.iter().any(|s| s["id"] == newest.as_str()));

    // End one: that browser is signed out, the other is not.
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::DELETE,
            format!("/admin/sessions/{newest}"),
            None,
        )
    })
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_api_record(&rec, "session.end", Some(&newest), "ok");
    assert_eq!(
        two.get("/sessions/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(one.get("/sessions/session").await.status(), StatusCode::OK);
    // An ended or unknown session: refused.
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::DELETE,
            format!("/admin/sessions/{newest}"),
            None,
        )
    })
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(rec["outcome"], "refused");

    // End all of them: every browser of the user is signed out, no other.
    let ((s, body), rec) = one_record(&app, || call(&app, Method::DELETE, &list_path, None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["ended"], 1);
    assert_api_record(&rec, "user.sessions.end", Some(&u.id.to_string()), "ok");
    assert_eq!(rec["detail"], "1 session(s) ended");
    assert_eq!(
        one.get("/sessions/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        theirs.get("/sessions/session").await.status(),
        StatusCode::OK
    );
    let (_, list) = call(&app, Method::GET, &list_path, None).await;
    assert!(list.as_array().unwrap().is_empty());
    let (s, _) = call(&app, Method::GET, "/admin/users/nope/sessions", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
