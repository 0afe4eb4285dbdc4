//! Revoke on one node, introspect on the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{quantile, Node, Three};
use crate::helpers::{http_client, TestClient};

/// One introspection a watcher made.
pub struct Seen {
    pub token: usize,
    pub sent: Instant,
    /// `None`: the node answered 503.
    pub active: Option<bool>,
}

/// Introspect `tokens` round-robin on `node` until `stop`, recording each
/// answer with when it was asked (bounded: 60 s).
pub async fn watch(
    node: &Node,
    client: &TestClient,
    tokens: &[String],
    stop: &AtomicBool,
    seen: &Mutex<Vec<Seen>>,
) {
    let http = http_client();
    let until = Instant::now() + Duration::from_secs(60);
    let mut i = 0usize;
    while !stop.load(Ordering::Acquire) && Instant::now() < until {
        let token = i % tokens.len();
        let sent = Instant::now();
        let active = node.introspect(&http, client, &tokens[token]).await;
        seen.lock().unwrap().push(Seen {
            token,
            sent,
            active,
        });
        i += 1;
    }
}

/// Every answer `active` to an introspection sent after the token's
/// revocation was acknowledged.
pub fn stale(seen: &[Seen], acked: &[Option<Instant>]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.active == Some(true))
        .filter_map(|s| {
            let at = acked[s.token]?;
            (s.sent > at).then(|| {
                format!(
                    "token {} answered active {:?} after its revocation's 200",
                    s.token,
                    s.sent - at
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strict_mode_never_answers_a_revoked_token_active_on_any_node() {
    let cluster = Three::start("strict").await;
    let client = cluster.client().await;
    let tokens = cluster.tokens(&client, 40).await;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acked: Vec<Option<Instant>> = {
        let watchers = async {
            let mut all = Vec::new();
            for node in [cluster.a(), cluster.b()] {
                for _ in 0..3 {
                    all.push(watch(node, &client, &tokens, &stop, &seen));
                }
            }
            futures_util::future::join_all(all).await;
        };
        let revoker = async {
            let http = http_client();
            let mut acked = Vec::new();
            for t in &tokens {
                let status = cluster.c().revoke(&http, &client, t).await;
                assert_eq!(status, StatusCode::OK, "strict revocation on node c");
                acked.push(Some(Instant::now()));
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            // Keep watching a little after the last revocation.
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.store(true, Ordering::Release);
            acked
        };
        let (_, acked) = tokio::join!(watchers, revoker);
        acked
    };
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let after: usize = seen
        .iter()
        .filter(|s| acked[s.token].is_some_and(|a| s.sent > a))
        .count();
    assert!(
        after > 100,
        "the watchers made {after} checks after revocations"
    );
    let stale = stale(&seen, &acked);
    assert!(
        stale.is_empty(),
        "{} stale answers: {:?}",
        stale.len(),
        &stale[..stale.len().min(5)]
    );
    // Every node says inactive now, without waiting.
    let http = http_client();
    for n in &cluster.nodes {
        for t in &tokens {
            assert_eq!(
                n.introspect(&http, &client, t).await,
                Some(false),
                "{}",
                n.name
            );
        }
    }
    assert!(
        cluster
            .c()
            .metric("tessera_cluster_strict_waits_total")
            .await
            .unwrap_or(0.0)
            >= 40.0,
        "every strict revocation waited for the other nodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eventual_mode_converges_on_every_node_within_the_bound() {
    let cluster = Three::start("eventual").await;
    let client = cluster.client().await;
    let tokens = cluster.tokens(&client, 30).await;
    let http = http_client();
    let mut lags = Vec::new();
    for t in &tokens {
        assert_eq!(cluster.c().revoke(&http, &client, t).await, StatusCode::OK);
        let acked = Instant::now();
        // The revoking node itself never answers active after the 200.
        assert_eq!(cluster.c().introspect(&http, &client, t).await, Some(false));
        for n in [cluster.a(), cluster.b()] {
            loop {
                match n.introspect(&http, &client, t).await {
                    Some(false) => break,
                    _ => {
                        assert!(
                            acked.elapsed() < Duration::from_millis(1000),
                            "{} still answers active 1 s after the revocation",
                            n.name
                        );
                    }
                }
            }
            lags.push(acked.elapsed());
        }
    }
    let p50 = quantile(&mut lags, 0.5);
    let max = quantile(&mut lags, 1.0);
    println!("eventual revocation visible on the other nodes: p50 {p50:?}, max {max:?}");
    // The feed's own measure of it, on a node that applied them.
    assert!(
        cluster
            .a()
            .metric("tessera_cluster_applied_seq")
            .await
            .unwrap_or(0.0)
            > 0.0
    );
    // A ready node says where it stands.
    let ready = cluster.b().get_json("/readyz").await;
    assert_eq!(ready["cluster"]["node_id"], "node-b", "{ready}");
    assert_eq!(ready["cluster"]["listening"], true, "{ready}");
    assert_eq!(ready["cluster"]["serving"], true, "{ready}");
    assert!(
        ready["cluster"]["applied_seq"].as_i64().unwrap() > 0,
        "{ready}"
    );
    // `tessera cluster status` lists the three, live and ready.
    let dir = tempfile::tempdir().unwrap();
    let status = |json: bool| {
        let mut cmd = crate::process::tessera(dir.path());
        cmd.env("TESSERA_STORE__BACKEND", "postgres")
            .env("TESSERA_STORE__DATABASE_URL", cluster.url())
            .args(["cluster", "status"]);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = status(true);
    assert!(out.status.success(), "{}", crate::process::stderr(&out));
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["live"] == true && n["ready"] == true)
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"], "{nodes}");
    let text = crate::process::stdout(&status(false));
    assert!(
        text.starts_with("NODE") && text.contains("node-b"),
        "{text}"
    );
}
