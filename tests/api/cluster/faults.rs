//! A node killed, a node cut from the database, the database restarted:
//! no node answers a revoked token active after the revocation's 200.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::revocation::{stale, watch};
use super::{eventually, Three};
use crate::helpers::http_client;
use crate::testdb::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_catches_up_before_it_is_ready_and_never_answers_stale() {
    let mut cluster = Three::start("strict").await;
    let client = cluster.client().await;
    let tokens = cluster.tokens(&client, 30).await;
    let http = http_client();
    // Revocations flow on a while b is killed and while it restarts.
    let mut acked = vec![None; tokens.len()];
    for (i, t) in tokens.iter().enumerate().take(10) {
        assert_eq!(cluster.a().revoke(&http, &client, t).await, StatusCode::OK);
        acked[i] = Some(Instant::now());
    }
    cluster.nodes[1].kill();
    let dead_at = Instant::now();
    for (i, t) in tokens.iter().enumerate().skip(10).take(10) {
        // While b's heartbeat is fresh, a strict revocation waits for it;
        // once b is dead to the others it goes through.
        assert_eq!(cluster.a().revoke(&http, &client, t).await, StatusCode::OK);
        acked[i] = Some(Instant::now());
    }
    assert!(
        dead_at.elapsed() >= Duration::from_millis(1000),
        "the first revocation after the kill waited for the node timeout"
    );
    cluster.nodes[1].restart();
    // From its first answer on, b never says active for what was revoked:
    // it answers 503 until it has caught up.
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let during = async {
        watch(cluster.b(), &client, &tokens[..20], &stop, &seen).await;
    };
    let rest = async {
        cluster.b().wait_ready().await;
        for (i, t) in tokens.iter().enumerate().skip(20) {
            let r = http
                .post(cluster.c().url("/oauth2/token/revoke"))
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[("token", t.as_str())])
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert_eq!(status, StatusCode::OK, "revoking token {i} on c: {body}");
            acked[i] = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Release);
    };
    tokio::join!(during, rest);
    let seen = seen.into_inner().unwrap();
    let stale = stale(&seen, &acked);
    assert!(stale.is_empty(), "{stale:?}");
    assert!(seen.len() > 20, "b was checked {} times", seen.len());
    for t in &tokens {
        for n in &cluster.nodes {
            assert_eq!(
                n.introspect(&http, &client, t).await,
                Some(false),
                "{}",
                n.name
            );
        }
    }
}

/// A login role of node b's own, so the test can cut that node alone:
/// `NOLOGIN` keeps it from reconnecting while its connections are killed.
struct Role {
    name: String,
}

impl Role {
    fn create() -> Role {
        let name = format!("tessera_node_{}", uuid::Uuid::new_v4().simple());
        TestDb::admin_exec(format!(
            "CREATE ROLE {name} LOGIN SUPERUSER PASSWORD 'cluster-cut-test'"
        ));
        Role { name }
    }

    /// The database's URL as this role.
    fn url(&self, db: &TestDb) -> String {
        let mut u = reqwest::Url::parse(&db.url).unwrap();
        u.set_username(&self.name).unwrap();
        u.set_password(Some("cluster-cut-test")).unwrap();
        u.to_string()
    }

    /// Cut the node off for `span`: no new connection, every open one
    /// killed, again and again. Then let it back.
    fn cut(&self, span: Duration) {
        TestDb::admin_exec(format!("ALTER ROLE {} NOLOGIN", self.name));
        let until = Instant::now() + span;
        while Instant::now() < until {
            TestDb::admin_exec(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
                self.name
            ));
            std::thread::sleep(Duration::from_millis(50));
        }
        TestDb::admin_exec(format!("ALTER ROLE {} LOGIN", self.name));
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::testdb::block(async move {
            if let Ok(mut c) =
                <sqlx::PgConnection as sqlx::Connection>::connect(&crate::testdb::server_url())
                    .await
            {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"
                )))
                .execute(&mut c)
                .await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}")))
                    .execute(&mut c)
                    .await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_from_the_database_refuses_strict_introspection_then_catches_up() {
    let role = Arc::new(Role::create());
    let db = TestDb::create();
    let b_url = role.url(&db);
    let cluster = Three::start_with(db, "strict", &b_url).await;
    let client = cluster.client().await;
    let tokens = cluster.tokens(&client, 30).await;
    let http = http_client();
    let acked = Arc::new(Mutex::new(vec![None; tokens.len()]));
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let not_ready = AtomicBool::new(false);
    let cutter = {
        let role = role.clone();
        std::thread::spawn(move || {
            for _ in 0..2 {
                role.cut(Duration::from_millis(2000));
                std::thread::sleep(Duration::from_millis(700));
            }
        })
    };
    let watch_b = watch(cluster.b(), &client, &tokens, &stop, &seen);
    let probe = async {
        while !stop.load(Ordering::Acquire) {
            if !cluster.b().ready().await {
                not_ready.store(true, Ordering::Release);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let revoker = async {
        for (i, t) in tokens.iter().enumerate() {
            // A strict revocation may time out while b is cut but still
            // heartbeating now and then: then it is committed and answered
            // 503, and it applies everywhere all the same.
            let status = cluster.a().revoke(&http, &client, t).await;
            assert!(
                status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE,
                "{status}"
            );
            if status == StatusCode::OK {
                acked.lock().unwrap()[i] = Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::task::spawn_blocking(move || cutter.join().unwrap())
            .await
            .unwrap();
        cluster.b().wait_ready().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Release);
    };
    tokio::join!(watch_b, probe, revoker);
    assert!(
        not_ready.load(Ordering::Acquire),
        "b said ready throughout the cut"
    );
    let seen = seen.into_inner().unwrap();
    let refused = seen.iter().filter(|s| s.active.is_none()).count();
    assert!(refused > 0, "b never refused introspection while cut");
    let acked = acked.lock().unwrap().clone();
    let stale = stale(&seen, &acked);
    assert!(stale.is_empty(), "{stale:?}");
    // None missed: b has every revocation, committed ones that answered
    // 503 included.
    for t in &tokens {
        eventually("b has every revocation", || async {
            cluster.b().introspect(&http, &client, t).await == Some(false)
        })
        .await;
    }
    assert!(
        cluster
            .b()
            .metric("tessera_cluster_feed_reconnects_total")
            .await
            .unwrap_or(0.0)
            >= 1.0,
        "b's listener reconnected"
    );
}

/// Restarts the PostgreSQL server every test shares, so it runs alone:
/// `scripts/test.sh` runs it last, with `--ignored`, and tells it how to
/// restart the server (`TESSERA_TEST_PG_RESTART`, a shell command).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "restarts the shared PostgreSQL server: run alone (scripts/test.sh does)"]
async fn a_postgres_restart_under_load_loses_no_acknowledged_write_and_every_node_recovers() {
    let restart = std::env::var("TESSERA_TEST_PG_RESTART")
        .expect("TESSERA_TEST_PG_RESTART: the shell command that restarts PostgreSQL");
    let cluster = Three::start("eventual").await;
    let client = cluster.client().await;
    let stop = AtomicBool::new(false);
    // Issued (200) on any node, and revoked (200) on another.
    let issued = Mutex::new(Vec::<String>::new());
    let revoked = Mutex::new(Vec::<String>::new());
    let load = |n: usize| {
        let (issued, revoked, stop, cluster, client) =
            (&issued, &revoked, &stop, &cluster, &client);
        async move {
            let http = http_client();
            let until = Instant::now() + Duration::from_secs(60);
            let mut i = 0usize;
            while !stop.load(Ordering::Acquire) && Instant::now() < until {
                let node = &cluster.nodes[(n + i) % 3];
                let r = http
                    .post(node.url("/oauth2/token"))
                    .basic_auth(&client.id, Some(&client.secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                if let Ok(r) = r {
                    if r.status() == StatusCode::OK {
                        let v: serde_json::Value = r.json().await.unwrap();
                        let t = v["access_token"].as_str().unwrap().to_string();
                        if i.is_multiple_of(3) {
                            let other = &cluster.nodes[(n + i + 1) % 3];
                            if other.revoke(&http, client, &t).await == StatusCode::OK {
                                revoked.lock().unwrap().push(t.clone());
                            }
                        }
                        issued.lock().unwrap().push(t);
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let restarter = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let cmd = restart.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .output()
        })
        .await
        .unwrap()
        .expect("run the restart command");
        assert!(
            out.status.success(),
            "{restart}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Load goes on after the restart, then stops.
        tokio::time::sleep(Duration::from_secs(4)).await;
        stop.store(true, Ordering::Release);
    };
    tokio::join!(load(0), load(1), load(2), restarter);
    for n in &cluster.nodes {
        n.wait_ready().await;
    }
    let issued = issued.into_inner().unwrap();
    let revoked = revoked.into_inner().unwrap();
    assert!(
        issued.len() > 50 && !revoked.is_empty(),
        "{} issued, {} revoked",
        issued.len(),
        revoked.len()
    );
    let http = http_client();
    // Give the feed its bound, then every node must agree with every
    // acknowledged write.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut wrong = Vec::new();
    for n in &cluster.nodes {
        for (i, t) in issued.iter().enumerate() {
            let want = !revoked.contains(t);
            let got = n.introspect(&http, &client, t).await;
            if got != Some(want) {
                wrong.push(format!(
                    "{}: token {i} of {} is {got:?}, want {want}",
                    n.name,
                    issued.len()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

/// A node away while the others prune the feed past it cannot catch up
/// from the table: it says so, stays not ready, and a restart (a fresh
/// snapshot) brings it back with everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_away_while_the_feed_is_pruned_past_it_says_so_until_restarted() {
    let role = Arc::new(Role::create());
    let db = TestDb::create();
    let b_url = role.url(&db);
    // Events go as soon as every live node has them.
    let mut cluster = Three::start_full(
        db,
        "eventual",
        &b_url,
        &[("TESSERA_CLUSTER__EVENT_RETENTION_SECS", "0")],
    )
    .await;
    let client = cluster.client().await;
    let tokens = cluster.tokens(&client, 10).await;
    let http = http_client();
    // b is cut off long enough to be dead to the others (1.5 s) and for
    // them to prune (every 5 s at these timings) what it never saw.
    let cutter = {
        let role = role.clone();
        std::thread::spawn(move || role.cut(Duration::from_secs(9)))
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in &tokens {
        assert_eq!(cluster.a().revoke(&http, &client, t).await, StatusCode::OK);
    }
    tokio::task::spawn_blocking(move || cutter.join().unwrap())
        .await
        .unwrap();
    eventually("b says it fell behind the pruned feed", || async {
        let r = http.get(cluster.b().url("/readyz")).send().await;
        match r {
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                v["cluster"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("restart the node"))
            }
            _ => false,
        }
    })
    .await;
    // It stays so: nothing it could read brings the lost events back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!cluster.b().ready().await);
    cluster.nodes[1].kill();
    cluster.nodes[1].restart();
    cluster.b().wait_ready().await;
    for t in &tokens {
        assert_eq!(cluster.b().introspect(&http, &client, t).await, Some(false));
    }
}
