//! A device authorization in a cluster: started and polled on node a,
//! approved on node b. Node a runs in this process, node b is a
//! `tessera serve` process; both over one database.

use reqwest::StatusCode;

use super::{answer_at, code_of, device_rp, enter_at, poll, poll_error, start};
use crate::cluster::{eventually, Node, MAX_LAG_MS, NODE_TIMEOUT_MS, POLL_MS};
use crate::flow::*;
use crate::helpers::{http_client, spawn_app_on, TestApp};
use crate::testdb::{TestBackend, TestDb};

async fn two(db: &TestDb) -> (TestApp, Node) {
    let url = db.url.clone();
    let ms = |v: &str| v.parse::<u64>().unwrap();
    let a = spawn_app_on(TestBackend::Postgres, move |s| {
        s.store.database_url = Some(url);
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
        s.cluster.poll_interval_ms = ms(POLL_MS);
        s.cluster.max_lag_ms = ms(MAX_LAG_MS);
        s.cluster.node_timeout_ms = ms(NODE_TIMEOUT_MS);
    })
    .await;
    let b = Node::start(db, "node-b", "eventual");
    b.wait_ready().await;
    (a, b)
}

#[actix_web::test]
async fn approved_on_one_node_polled_on_another() {
    let db = TestDb::create();
    let (a, b) = two(&db).await;
    let user = create_user(&a, "alice").await;
    let rp = device_rp(&a).await;
    let started = start(&a, &rp, "openid read").await;
    let (device_code, user_code) = code_of(&started);
    poll_error(&a, &rp, &device_code, "authorization_pending").await;

    // The user signs in on node a; node b learns the session.
    let mut browser = logged_in(&a, &user).await;
    let session = browser.session().expect("a session");
    eventually("node b knows the session and the client", || async {
        http_client()
            .get(b.url("/sessions/session"))
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let base = b.url("");
    // Node b reads the grant from the database; the client it names
    // reaches it over the change feed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let html = loop {
        let r = enter_at(&mut browser, &base, &user_code).await;
        let status = r.status();
        let html = r.text().await.unwrap();
        if status == StatusCode::OK {
            break html;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node b answered {status}: {html}\n{}",
            b.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(html.contains(rp.id()), "{html}");
    let r = answer_at(&mut browser, &base, &html, "allow").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", b.log());

    a.clock.advance(5);
    let (status, body) = poll(&a, &rp, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["id_token"].is_string());
    a.clock.advance(5);
    poll_error(&a, &rp, &device_code, "invalid_grant").await;
}
