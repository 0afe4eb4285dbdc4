//! `kill -9` of the real binary while logout tokens wait for a receiver
//! that is down: after the restart every one of them arrives, in order.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::receiver::{verify_logout_token, Receiver};
use crate::helpers::{suite_backend, TestBackend, TestDb};
use crate::process::{Server, ADMIN_TOKEN};

const ISSUER: &str = "http://tessera.test";
const REDIRECT: &str = "https://rp.example.com/cb";
const PASSWORD: &str = "correct horse battery staple";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}

async fn admin_post(s: &Server, path: &str, body: Value) -> Value {
    let r = http()
        .post(s.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("admin POST");
    assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    r.json().await.expect("JSON")
}

fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == "tessera_session" && !val.trim().is_empty())
                .then(|| val.trim().to_string())
        })
        .expect("a session cookie")
}

/// Log in, get a code for `client`, log out: the session's id.
async fn sign_in_and_out(s: &Server, client: &str, user: &str) -> String {
    let h = http();
    let r = h
        .post(s.url("/auth/login"))
        .json(&json!({"login": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = format!("tessera_session={}", session_cookie(&r));
    let (_, challenge) = crate::flow::pkce_pair();
    let query = crate::flow::encode(&[
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let r = h
        .get(s.url(&format!("/oauth2/authorize?{query}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(loc.contains("code="), "{loc}");
    let me: Value = h
        .get(s.url("/sessions/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("session JSON");
    let r = h
        .get(s.url("/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::OK);
    me["id"].as_str().expect("session id").to_string()
}

#[actix_web::test]
async fn queued_logout_tokens_survive_kill_9_and_arrive_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let db = (suite_backend() == TestBackend::Postgres).then(TestDb::create);
    let mut env: Vec<(&str, &str)> = vec![
        ("TESSERA_BACKCHANNEL_LOGOUT__RETRY_BASE", "1"),
        ("TESSERA_BACKCHANNEL_LOGOUT__RETRY_MAX", "2"),
    ];
    if let Some(db) = &db {
        env.push(("TESSERA_STORE__BACKEND", "postgres"));
        env.push(("TESSERA_STORE__DATABASE_URL", db.url.as_str()));
    }
    let mut receiver = Receiver::down();
    let server = Server::start_with_env(&data, &dir.path().join("run0.log"), &env);
    let client = admin_post(
        &server,
        "/admin/clients",
        json!({
            "public": true,
            "first_party": true,
            "grant_types": ["authorization_code"],
            "redirect_uris": [REDIRECT],
            "scope": "openid",
            "backchannel_logout_uri": receiver.uri(),
            "backchannel_logout_session_required": true,
        }),
    )
    .await["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    admin_post(
        &server,
        "/admin/users",
        json!({
            "username": "bcl-crash",
            "email": "bcl-crash@example.com",
            "password": PASSWORD,
            "email_verified": true,
        }),
    )
    .await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(sign_in_and_out(&server, &client, "bcl-crash").await);
    }
    // Every logout was answered: its tokens are durable. Kill at once.
    server.kill();
    assert!(receiver.tokens().is_empty());

    receiver.up();
    let server = Server::start_with_env(&data, &dir.path().join("run1.log"), &env);
    let got = receiver.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        3,
        "{}",
        std::fs::read_to_string(dir.path().join("run1.log")).unwrap_or_default()
    );
    let jwks: Value = http()
        .get(server.url("/oauth2/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks JSON");
    let order: Vec<String> = got
        .iter()
        .map(|t| {
            let c = verify_logout_token(t, &jwks, ISSUER, &client);
            c["sid"].as_str().expect("sid").to_string()
        })
        .collect();
    assert_eq!(order, sids);
    // Nothing more (each once).
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.tokens().len(), 3);
}
