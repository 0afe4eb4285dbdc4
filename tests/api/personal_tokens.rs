//! Personal tokens, `/api/users/token` (SPEC §4): made within the caller's
//! scope, listed without secrets, deleted with every access token minted
//! from them, ended by a password change, and kept across a `kill -9`.
//! Also the helpers `api_oauth_tokens` shares.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera_actors::clock::rfc3339;

use crate::flow::{introspector, userinfo};
use crate::helpers::{assert_api_error, header, http_client, spawn_app, TestApp, ACCOUNT_CLIENT};
use crate::process::{Server, ADMIN_TOKEN};
use crate::sessions::{call, open_session, user_token, Auth, FIREFOX};

/// The default `accounts.personal_token_ttl`.
const PERSONAL_TTL: i64 = 90 * 86_400;

/// A user created through the admin API with `scope`; its id.
pub async fn user_with_scope(app: &TestApp, username: &str, scope: &str) -> uuid::Uuid {
    let r = app
        .admin(
            Method::POST,
            "/admin/users",
            Some(json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "password": "correct horse battery staple",
                "email_verified": true,
                "scope": scope,
            })),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

/// A session cookie secret of `user`.
pub async fn cookie(app: &TestApp, user: uuid::Uuid) -> String {
    open_session(app, user, FIREFOX).await.1
}

/// `PUT /api/users/token` with a JSON body.
pub async fn put_token(app: &TestApp, auth: Auth<'_>, body: &Value) -> Response {
    call(
        app,
        Method::PUT,
        "/api/users/token",
        auth,
        Some(&body.to_string()),
    )
    .await
}

/// A new personal token with `scope`, asserting `200`; the answer.
pub async fn personal(app: &TestApp, auth: Auth<'_>, scope: &str) -> Value {
    let r = put_token(app, auth, &json!({ "scope": scope })).await;
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `GET /api/users/token`, asserting `200`; the list.
pub async fn list(app: &TestApp, auth: Auth<'_>) -> Vec<Value> {
    let r = call(app, Method::GET, "/api/users/token", auth, None).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

pub fn list_ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// `POST /api/oauth/token` with a JSON body.
pub async fn exchange_as(app: &TestApp, client_id: &str, refresh_token: &str) -> Response {
    app.http
        .post(app.url("/api/oauth/token"))
        .json(&json!({
            "client_id": client_id,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }))
        .send()
        .await
        .unwrap()
}

/// Exchange a personal token for an access token, asserting `200`; the answer.
pub async fn exchange(app: &TestApp, refresh_token: &str) -> Value {
    let r = exchange_as(app, ACCOUNT_CLIENT, refresh_token).await;
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn access(app: &TestApp, refresh_token: &str) -> String {
    exchange(app, refresh_token).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn secret(v: &Value) -> &str {
    v["token"].as_str().unwrap()
}

#[actix_web::test]
async fn a_cookie_caller_gets_tokens_within_its_scope_plus_the_standard_ones() {
    let app = spawn_app().await;
    let alice = user_with_scope(&app, "alice", "read write").await;
    let c = cookie(&app, alice).await;

    let t = personal(&app, Auth::Cookie(&c), "read openid").await;
    let mut keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "expires_at", "id", "scope", "token"]);
    assert!(secret(&t).starts_with("tes_pat_"), "{t}");
    assert!(secret(&t).len() >= "tes_pat_".len() + 43, "256 bits");
    assert_eq!(t["scope"], "read openid");
    uuid::Uuid::parse_str(t["id"].as_str().unwrap()).expect("a UUID id");
    assert_eq!(t["created_at"], rfc3339(app.now()));
    assert_eq!(t["expires_at"], rfc3339(app.now() + PERSONAL_TTL));

    // An array of scopes, and a form body, work too.
    let t = put_token(
        &app,
        Auth::Cookie(&c),
        &json!({"scope": ["write", "email"]}),
    )
    .await;
    assert_eq!(t.status(), StatusCode::OK);
    assert_eq!(t.json::<Value>().await.unwrap()["scope"], "write email");
    let r = app
        .http
        .put(app.url("/api/users/token"))
        .header("cookie", format!("tessera_session={c}"))
        .form(&[("scope", "offline_access profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Wider than the user's scope plus the standard ones: refused.
    let r = put_token(&app, Auth::Cookie(&c), &json!({"scope": "read admin"})).await;
    assert_api_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(list(&app, Auth::Cookie(&c)).await.len(), 3, "nothing made");

    // Malformed bodies name the field.
    let r = put_token(&app, Auth::Cookie(&c), &json!({})).await;
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(
        body["message"].as_str().unwrap().contains("scope"),
        "{body}"
    );
    let r = put_token(&app, Auth::Cookie(&c), &json!({"scope": ""})).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let r = put_token(&app, Auth::Cookie(&c), &json!({"scope": "read \"x\""})).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let r = put_token(&app, Auth::Cookie(&c), &json!({"scope": 7})).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;

    // No caller at all.
    let r = put_token(&app, Auth::None, &json!({"scope": "read"})).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn a_bearer_caller_is_bounded_by_its_tokens_scope() {
    let app = spawn_app().await;
    let alice = user_with_scope(&app, "alice", "read write").await;
    // A token of alice's with scope `read` (from another client).
    let bearer = user_token(&app, alice, None).await;
    let t = personal(&app, Auth::Bearer(&bearer), "read").await;
    assert_eq!(t["scope"], "read");
    // `write` is alice's, `openid` is standard, but this token has neither.
    for wider in ["read write", "openid"] {
        let r = put_token(&app, Auth::Bearer(&bearer), &json!({ "scope": wider })).await;
        assert_api_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    // A token minted from that personal token carries only `read` too.
    let derived = access(&app, secret(&t)).await;
    let r = put_token(
        &app,
        Auth::Bearer(&derived),
        &json!({"scope": "read write"}),
    )
    .await;
    assert_api_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[actix_web::test]
async fn the_list_holds_the_callers_live_tokens_newest_first_and_no_secret() {
    let app = spawn_app().await;
    let alice = user_with_scope(&app, "alice", "read write").await;
    let bob = user_with_scope(&app, "bob", "read").await;
    let (ca, cb) = (cookie(&app, alice).await, cookie(&app, bob).await);
    assert!(list(&app, Auth::Cookie(&ca)).await.is_empty());

    let first = personal(&app, Auth::Cookie(&ca), "read").await;
    app.clock.advance(5);
    let second = personal(&app, Auth::Cookie(&ca), "write openid").await;
    personal(&app, Auth::Cookie(&cb), "read").await;

    let r = call(
        &app,
        Method::GET,
        "/api/users/token",
        Auth::Cookie(&ca),
        None,
    )
    .await;
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let text = r.text().await.unwrap();
    assert!(!text.contains(secret(&first)) && !text.contains(secret(&second)));
    assert!(!text.contains("tes_pat_"), "no secret in the list: {text}");
    let l: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        list_ids(&l),
        [&second["id"], &first["id"]].map(|v| v.as_str().unwrap().to_string()),
        "newest first, only alice's"
    );
    let mut keys: Vec<&str> = l[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "expires_at", "id", "scope"]);
    assert_eq!(l[0]["scope"], "write openid");
    assert_eq!(l[0]["created_at"], second["created_at"]);
    assert_eq!(l[0]["expires_at"], second["expires_at"]);
    assert_eq!(list(&app, Auth::Cookie(&cb)).await.len(), 1);

    // An expired token leaves the list.
    app.clock.advance(PERSONAL_TTL - 5);
    let ca = cookie(&app, alice).await;
    assert_eq!(
        list_ids(&list(&app, Auth::Cookie(&ca)).await),
        [second["id"].as_str().unwrap()]
    );
}

#[actix_web::test]
async fn deleting_a_token_kills_it_and_every_access_token_minted_from_it() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let c = cookie(&app, alice).await;
    let doomed = personal(&app, Auth::Cookie(&c), "openid read").await;
    let kept = personal(&app, Auth::Cookie(&c), "read").await;
    let a1 = access(&app, secret(&doomed)).await;
    let a2 = access(&app, secret(&doomed)).await;
    let k1 = access(&app, secret(&kept)).await;
    for t in [secret(&doomed), a1.as_str(), a2.as_str()] {
        app.assert_active(&rs, t).await;
    }
    assert_eq!(userinfo(&app, &a1).await.status(), StatusCode::OK);

    // Deleted with a bearer token minted from the other one.
    let path = format!("/api/users/token/{}", doomed["id"].as_str().unwrap());
    let r = call(&app, Method::DELETE, &path, Auth::Bearer(&k1), None).await;
    let status = r.status();
    let remaining: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{remaining}");
    assert_eq!(
        list_ids(remaining.as_array().unwrap()),
        [kept["id"].as_str().unwrap()],
        "the remaining list"
    );
    for t in [secret(&doomed), a1.as_str(), a2.as_str()] {
        app.assert_inactive(&rs, t).await;
    }
    assert_eq!(userinfo(&app, &a1).await.status(), StatusCode::UNAUTHORIZED);
    let r = exchange_as(&app, ACCOUNT_CLIENT, secret(&doomed)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The other token and what came from it are untouched.
    app.assert_active(&rs, secret(&kept)).await;
    app.assert_active(&rs, &k1).await;

    // Gone now: a second delete is a 404.
    let r = call(&app, Method::DELETE, &path, Auth::Cookie(&c), None).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn unknown_and_other_users_tokens_are_not_found() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let bob = user_with_scope(&app, "bob", "read").await;
    let (ca, cb) = (cookie(&app, alice).await, cookie(&app, bob).await);
    let t = personal(&app, Auth::Cookie(&ca), "read").await;
    let theirs = format!("/api/users/token/{}", t["id"].as_str().unwrap());
    let r = call(&app, Method::DELETE, &theirs, Auth::Cookie(&cb), None).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    for path in [
        format!("/api/users/token/{}", uuid::Uuid::new_v4()),
        "/api/users/token/not-a-uuid".to_string(),
    ] {
        let r = call(&app, Method::DELETE, &path, Auth::Cookie(&ca), None).await;
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    app.assert_active(&rs, secret(&t)).await;
    assert_eq!(list(&app, Auth::Cookie(&ca)).await.len(), 1);
    let r = call(&app, Method::DELETE, &theirs, Auth::None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_password_change_ends_personal_tokens() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let c = cookie(&app, alice).await;
    let t = personal(&app, Auth::Cookie(&c), "read").await;
    let a = access(&app, secret(&t)).await;
    app.clock.advance(3);

    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/users/{alice}/password"),
            Some(json!({"password": "a brand new password"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    app.assert_inactive(&rs, secret(&t)).await;
    app.assert_inactive(&rs, &a).await;
    let r = exchange_as(&app, ACCOUNT_CLIENT, secret(&t)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let fresh = cookie(&app, alice).await;
    assert!(list(&app, Auth::Cookie(&fresh)).await.is_empty());
}

// ---- across a crash ---------------------------------------------------------

async fn admin_post(http: &reqwest::Client, s: &Server, path: &str, body: Value) -> Value {
    let r = http
        .post(s.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn remote_exchange(http: &reqwest::Client, s: &Server, token: &str) -> Response {
    http.post(s.url("/api/oauth/token"))
        .json(&json!({"client_id": ACCOUNT_CLIENT, "refresh_token": token, "grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap()
}

async fn remote_introspect(
    http: &reqwest::Client,
    s: &Server,
    rs: &(String, String),
    token: &str,
) -> Value {
    http.post(s.url("/oauth2/token/introspect"))
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_personal_token_and_its_deletion_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = http_client();

    let s = Server::start(&data, &dir.path().join("run1.log"));
    let rs = admin_post(&http, &s, "/admin/clients", json!({"introspect_any": true})).await;
    let rs = (
        rs["client_id"].as_str().unwrap().to_string(),
        rs["client_secret"].as_str().unwrap().to_string(),
    );
    admin_post(
        &http,
        &s,
        "/admin/users",
        json!({"username": "dora", "email": "dora@example.com",
               "password": "correct horse battery staple", "email_verified": true}),
    )
    .await;
    let r = http
        .post(s.url("/auth/login"))
        .json(&json!({"login": "dora", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("tessera_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let put = |scope: &'static str| {
        http.put(s.url("/api/users/token"))
            .header("cookie", &cookie)
            .json(&json!({ "scope": scope }))
            .send()
    };
    let kept: Value = put("openid profile").await.unwrap().json().await.unwrap();
    let doomed: Value = put("openid").await.unwrap().json().await.unwrap();
    let r = remote_exchange(&http, &s, secret(&kept)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let minted: Value = r.json().await.unwrap();
    let bearer = minted["access_token"].as_str().unwrap().to_string();
    let r = http
        .delete(s.url(&format!(
            "/api/users/token/{}",
            doomed["id"].as_str().unwrap()
        )))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Crash the moment the deletion is answered.
    s.kill();

    let s = Server::start(&data, &dir.path().join("run2.log"));
    let r = remote_exchange(&http, &s, secret(&doomed)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the deletion survived");
    let r = remote_exchange(&http, &s, secret(&kept)).await;
    assert_eq!(r.status(), StatusCode::OK, "the personal token survived");
    let v = remote_introspect(&http, &s, &rs, secret(&kept)).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_origin"], "personal_token", "{v}");
    // An access token minted before the crash is still known for what it is.
    let v = remote_introspect(&http, &s, &rs, &bearer).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_origin"], "personal_token", "{v}");
    let l: Value = http
        .get(s.url("/api/users/token"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l[0]["id"], kept["id"]);
    s.kill();
}
