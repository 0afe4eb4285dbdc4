//! Passkeys on a cluster behind a balancer: a ceremony started on one node
//! finishes on another, once in the whole cluster, and a passkey added
//! through one node signs in through the other. Node a runs in this
//! process, node b is a `tessera serve` process; both over one database
//! and one public URL.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::cluster::{eventually, Node, MAX_LAG_MS, NODE_TIMEOUT_MS, POLL_MS};
use crate::flow::{create_user, logged_in, Browser, CSRF_COOKIE, SESSION_COOKIE};
use crate::helpers::{assert_api_error, http_client, spawn_app_on};
use crate::testdb::{TestBackend, TestDb};

const PUBLIC: &str = "http://tessera.test";

/// `POST path` on node b with `cookies`, as JSON.
async fn post_b(b: &Node, path: &str, cookies: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let cookie = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    http_client()
        .post(b.url(path))
        .header("cookie", cookie)
        .json(body)
        .send()
        .await
        .expect("a request to node b")
}

#[actix_web::test]
async fn ceremonies_cross_nodes_once_and_passkeys_follow_the_user() {
    let db = TestDb::create();
    let url = db.url.clone();
    let ms = |v: &str| v.parse::<u64>().unwrap();
    let a = spawn_app_on(TestBackend::Postgres, move |s| {
        s.store.database_url = Some(url);
        s.issuer = Some(PUBLIC.into());
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
        s.cluster.poll_interval_ms = ms(POLL_MS);
        s.cluster.max_lag_ms = ms(MAX_LAG_MS);
        s.cluster.node_timeout_ms = ms(NODE_TIMEOUT_MS);
    })
    .await;
    let b = Node::start_full(&db.url, "node-b", "eventual", &[("TESSERA_ISSUER", PUBLIC)]);
    b.wait_ready().await;
    let user = create_user(&a, "alice").await;
    let mut browser = logged_in(&a, &user).await;
    let session = browser.session().expect("a session");
    eventually("node b knows the session", || async {
        http_client()
            .get(b.url("/sessions/session"))
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;

    // Registration: options from node a, the credential to node b.
    let mut key = SoftKey::new(PUBLIC, "tessera.test");
    let start = json_of(
        start_registration(&a, &mut browser, "Laptop").await,
        StatusCode::OK,
    )
    .await;
    let credential = key.register(&start["options"]);
    let csrf = session_csrf(&a, &browser);
    let r = post_b(
        &b,
        "/account/passkeys/register/finish",
        &[(SESSION_COOKIE, &session)],
        &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential}),
    )
    .await;
    json_of(r, StatusCode::CREATED).await;
    eventually("node a sees the passkey", || async {
        a.engine
            .users
            .get(&user.id)
            .is_some_and(|u| u.passkeys.len() == 1)
    })
    .await;

    // Sign-in: started on node a, finished on node b, replayed on a.
    let mut anon = Browser::new(&a);
    let (csrf, start) = start_login(&mut anon).await;
    let credential = key.assert(&start["options"]);
    let body = json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential});
    let r = post_b(&b, "/auth/passkey/finish", &[(CSRF_COOKIE, &csrf)], &body).await;
    let signed_in = crate::flow::session_cookie_set(&r).is_some();
    json_of(r, StatusCode::OK).await;
    assert!(signed_in, "node b opened a session");
    let r = anon.post_json("/auth/passkey/finish", &body).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
    // The counter node b recorded reaches node a.
    eventually("node a sees the new counter", || async {
        a.engine
            .users
            .get(&user.id)
            .is_some_and(|u| u.passkeys[0].counter == 1)
    })
    .await;
    json_of(
        passwordless(&mut Browser::new(&a), &mut key, None).await,
        StatusCode::OK,
    )
    .await;
}
