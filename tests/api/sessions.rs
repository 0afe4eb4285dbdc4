//! `/sessions/*` (SPEC §3): listing, the JSON shape, one session by id,
//! bearer callers; and the helpers `sessions_lifecycle` shares. Sessions
//! are opened straight through the engine, as a login would.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera_actors::clock::rfc3339;
use tessera_actors::sessions::{Open, Session, UserAgent};
use tessera_actors::tokens::Grant;

use crate::helpers::{assert_api_error, header, spawn_app, TestApp};

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
pub const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
pub const COOKIE: &str = "tessera_session";

/// A user created through the admin API; its id.
pub async fn create_user(app: &TestApp, username: &str) -> uuid::Uuid {
    let r = app
        .admin(
            Method::POST,
            "/admin/users",
            Some(json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "password": "correct horse battery staple",
                "email_verified": true,
            })),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

fn user_agent(ua: &str) -> UserAgent {
    tessera::ua::UaParser::new().unwrap().parse(ua)
}

/// A session opened as a login would open it; the session and its secret.
pub async fn open_session(app: &TestApp, user: uuid::Uuid, ua: &str) -> (Arc<Session>, String) {
    app.engine
        .session_registry
        .send(Open {
            user_id: user,
            amr: vec!["pwd".into()],
            ip: "203.0.113.7".into(),
            user_agent: user_agent(ua),
            application_id: None,
            pending_mfa: false,
            replaces: None,
        })
        .await
        .unwrap()
        .unwrap()
}

/// An access token of `user` whose grant came from session `sid`.
pub async fn user_token(app: &TestApp, user: uuid::Uuid, sid: Option<uuid::Uuid>) -> String {
    let c = app.cc_client().await;
    let client = app.engine.clients.get(&c.id).unwrap();
    let grant = Grant {
        client_id: c.id.clone(),
        sub: user.to_string(),
        username: None,
        scope: "read".into(),
        aud: vec![Arc::from(c.id.as_str())],
        sid,
        ..Default::default()
    };
    tessera_actors::grants::mint_access_token(&app.engine, &client, grant, 0, "authorization_code")
        .await
        .unwrap()
        .0
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    None,
}

pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<&str>,
) -> Response {
    let mut r = app.http.request(method, app.url(path));
    match auth {
        Auth::Cookie(secret) => r = r.header("cookie", format!("{COOKIE}={secret}")),
        Auth::Bearer(token) => r = r.bearer_auth(token),
        Auth::None => {}
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    r.send().await.unwrap()
}

/// `GET path`, asserting `200` and `no-store`; the JSON body.
pub async fn get_ok(app: &TestApp, path: &str, auth: Auth<'_>) -> Value {
    let r = call(app, Method::GET, path, auth, None).await;
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

pub async fn status(app: &TestApp, method: Method, path: &str, auth: Auth<'_>) -> StatusCode {
    call(app, method, path, auth, None).await.status()
}

pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn lists_the_callers_sessions_newest_first_and_marks_the_current_one() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    let (s1, _) = open_session(&app, alice, FIREFOX).await;
    app.clock.advance(10);
    let (s2, secret2) = open_session(&app, alice, IPHONE).await;
    app.clock.advance(10);
    let (s3, _) = open_session(&app, alice, FIREFOX).await;
    let (bob_s, _) = open_session(&app, bob, FIREFOX).await;

    let list = get_ok(&app, "/sessions", Auth::Cookie(&secret2)).await;
    assert_eq!(
        ids(&list),
        [s3.id, s2.id, s1.id].map(|i| i.to_string()),
        "newest first, and only alice's"
    );
    assert!(!ids(&list).contains(&bob_s.id.to_string()));
    let current: Vec<bool> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current, [false, true, false]);

    // The exact shape of SPEC §3.
    let s = &list[1];
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bucket",
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip",
            "last_seen_at",
            "user",
            "user_agent"
        ]
    );
    assert_eq!(s["created_at"], rfc3339(s2.created_at));
    assert_eq!(s["last_seen_at"], rfc3339(s2.last_seen_at));
    assert_eq!(s["expires_at"], rfc3339(s2.created_at + 1800));
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["ip"], "203.0.113.7");
    assert_eq!(s["bucket"], json!({}));
    let ua = &s["user_agent"];
    assert_eq!(ua["ua"], IPHONE);
    assert_eq!(ua["browser"]["name"], "Mobile Safari");
    assert_eq!(ua["browser"]["major"], "17");
    assert!(ua["browser"].as_object().unwrap().contains_key("version"));
    assert_eq!(ua["os"]["name"], "iOS");
    assert_eq!(ua["engine"]["name"], "WebKit");
    assert_eq!(ua["device"]["type"], "mobile");
    assert_eq!(list[0]["user_agent"]["browser"]["name"], "Firefox");
    assert_eq!(list[0]["user_agent"]["engine"]["name"], "Gecko");
    let user = &s["user"];
    assert_eq!(user["id"], alice.to_string());
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["mfa_methods"], json!(["password"]));
    assert!(!s.to_string().contains(&secret2), "never the secret");

    // No credentials at all.
    let r = call(&app, Method::GET, "/sessions", Auth::None, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = call(
        &app,
        Method::GET,
        "/sessions",
        Auth::Cookie("tes_ses_forged"),
        None,
    )
    .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn one_session_by_id_and_never_another_users() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    let (a1, a1_secret) = open_session(&app, alice, FIREFOX).await;
    let (a2, _) = open_session(&app, alice, IPHONE).await;
    let (b1, b1_secret) = open_session(&app, bob, FIREFOX).await;
    let me = Auth::Cookie(&a1_secret);

    let cur = get_ok(&app, "/sessions/session", me).await;
    assert_eq!(cur["id"], a1.id.to_string());
    assert_eq!(cur["current"], true);

    let other = get_ok(&app, &format!("/sessions/session/{}", a2.id), me).await;
    assert_eq!(other["id"], a2.id.to_string());
    assert_eq!(other["current"], false);
    let same = get_ok(&app, &format!("/sessions/session/{}", a1.id), me).await;
    assert_eq!(same["current"], true);

    for path in [
        format!("/sessions/session/{}", b1.id),
        format!("/sessions/session/{}", uuid::Uuid::new_v4()),
        "/sessions/session/not-a-uuid".to_string(),
    ] {
        for m in [Method::GET, Method::DELETE] {
            let r = call(&app, m.clone(), &path, me, None).await;
            assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    // Bob's session survived alice's attempt to end it.
    assert_eq!(
        get_ok(&app, "/sessions/session", Auth::Cookie(&b1_secret)).await["id"],
        b1.id.to_string()
    );
}

#[actix_web::test]
async fn a_bearer_token_of_the_user_works_and_its_session_is_current() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    let (s1, secret1) = open_session(&app, alice, FIREFOX).await;
    let (s2, _) = open_session(&app, alice, IPHONE).await;
    let (b1, _) = open_session(&app, bob, IPHONE).await;
    let token = user_token(&app, alice, Some(s1.id)).await;
    let me = Auth::Bearer(&token);

    let list = get_ok(&app, "/sessions", me).await;
    assert_eq!(ids(&list).len(), 2);
    let current: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], s1.id.to_string());
    assert_eq!(
        get_ok(&app, "/sessions/session", me).await["id"],
        s1.id.to_string()
    );
    get_ok(&app, &format!("/sessions/session/{}", s2.id), me).await;
    assert_eq!(
        status(
            &app,
            Method::GET,
            &format!("/sessions/session/{}", b1.id),
            me
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let r = call(
        &app,
        Method::PUT,
        "/sessions/bucket",
        me,
        Some(r#"{"k":"v"}"#),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let e = get_ok(&app, "/sessions/session/extend", me).await;
    assert_eq!(e["bucket"], json!({"k": "v"}));

    // Ending the token's session by bearer: no cookie to remove.
    let r = call(&app, Method::DELETE, "/sessions/session", me, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(
        status(&app, Method::GET, "/sessions", Auth::Cookie(&secret1)).await,
        StatusCode::UNAUTHORIZED
    );
    // The token still names its user, but it has no current session now.
    assert_eq!(
        ids(&get_ok(&app, "/sessions", me).await),
        [s2.id.to_string()]
    );
    for (m, path) in [
        (Method::GET, "/sessions/session"),
        (Method::DELETE, "/sessions/session"),
        (Method::GET, "/sessions/session/extend"),
        (Method::GET, "/sessions/session/refresh"),
    ] {
        let r = call(&app, m, path, me, None).await;
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = call(&app, Method::PUT, "/sessions/bucket", me, Some("{}")).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // A token from no session at all (e.g. a personal token's grant).
    let sessionless = user_token(&app, alice, None).await;
    let list = get_ok(&app, "/sessions", Auth::Bearer(&sessionless)).await;
    assert_eq!(list[0]["current"], false);
    assert_eq!(
        status(
            &app,
            Method::GET,
            "/sessions/session",
            Auth::Bearer(&sessionless)
        )
        .await,
        StatusCode::NOT_FOUND
    );
    // Garbage tokens are not callers.
    assert_eq!(
        status(&app, Method::GET, "/sessions", Auth::Bearer("garbage")).await,
        StatusCode::UNAUTHORIZED
    );
}
