//! Two nodes on one PostgreSQL database share the logout queue: what one
//! node queued, either may deliver, each row exactly once per success and
//! in order per client. Node a runs in this process, node b is a
//! `tessera serve` process.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::receiver::Receiver;
use super::{logout, quick, rp_to, session_at, verified};
use crate::cluster::{Node, MAX_LAG_MS, NODE_TIMEOUT_MS, POLL_MS};
use crate::flow::create_user;
use crate::helpers::spawn_app_on;
use crate::testdb::{TestBackend, TestDb};

#[actix_web::test]
async fn nodes_sharing_the_queue_deliver_each_token_once_and_in_order() {
    let db = TestDb::create();
    let url = db.url.clone();
    let ms = |v: &str| v.parse::<u64>().unwrap();
    let a = spawn_app_on(TestBackend::Postgres, move |s| {
        quick(s);
        s.store.database_url = Some(url);
        s.issuer = Some("http://tessera.test".into());
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
        s.cluster.poll_interval_ms = ms(POLL_MS);
        s.cluster.max_lag_ms = ms(MAX_LAG_MS);
        s.cluster.node_timeout_ms = ms(NODE_TIMEOUT_MS);
    })
    .await;
    let b = Node::start_full(
        &db.url,
        "node-b",
        "eventual",
        &[
            ("TESSERA_BACKCHANNEL_LOGOUT__RETRY_BASE", "1"),
            ("TESSERA_BACKCHANNEL_LOGOUT__RETRY_MAX", "2"),
        ],
    );
    b.wait_ready().await;

    let mut r = Receiver::down();
    let rp = rp_to(&a, &r, true).await;
    let user = create_user(&a, "bcl-cluster").await;
    let mut sids = Vec::new();
    for _ in 0..4 {
        let (mut browser, sid) = session_at(&a, &user, &[&rp]).await;
        logout(&mut browser).await;
        sids.push(sid);
    }
    // Node b reads the shared queue now and then: let it see the rows
    // (and fail on them too) before the receiver comes up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(r.tokens().is_empty());
    r.up();
    let start = Instant::now();
    while r.tokens().len() < 4 && start.elapsed() < Duration::from_secs(30) {
        // Node a's clock runs at about twice the wall's: both nodes retry.
        a.clock.advance(1);
        a.engine.logouts.do_send(tessera_actors::logout::Tick);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Then nothing more arrives: no row was sent by both nodes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = verified(&a, &r, &rp, 4).await;
    let mut jtis: Vec<&Value> = got.iter().map(|c| &c["jti"]).collect();
    jtis.sort_by_key(|j| j.to_string());
    jtis.dedup();
    assert_eq!(jtis.len(), 4, "{}", b.log());
    let order: Vec<String> = got
        .iter()
        .map(|c| c["sid"].as_str().expect("sid").to_string())
        .collect();
    assert_eq!(order, sids, "{}", b.log());
    assert!(super::deliveries(&a).await.is_empty());
}
