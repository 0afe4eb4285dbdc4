//! Shared limits and single-use state across nodes: login failures count
//! once for the cluster, and an upstream login's `state` is taken once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{eventually, Three};
use crate::helpers::http_client;
use crate::testdb::TestDb;

async fn login(base: &str, password: &str) -> StatusCode {
    http_client()
        .post(format!("{base}/auth/login"))
        .json(&json!({"login": "spread", "password": password}))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_failures_spread_over_three_nodes_lock_the_account_on_all_of_them() {
    // Three failures allowed per account; the fourth locks it.
    let cluster =
        Three::start_env("eventual", &[("TESSERA_LIMITS__ACCOUNT__ALLOWANCE", "3")]).await;
    let r = cluster
        .a()
        .admin(
            Method::POST,
            "/admin/users",
            Some(json!({"username": "spread", "email": "spread@example.com",
                        "password": "a good long password", "email_verified": true})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bases: Vec<String> = cluster.nodes.iter().map(|n| n.url("")).collect();
    // Every node knows the user (a failure for an unknown login counts
    // under the login, not the account).
    for base in &bases {
        eventually("every node knows the user", || async {
            login(base, "a good long password").await == StatusCode::OK
        })
        .await;
    }
    // Three failures, one on each node, use the allowance: each node alone
    // saw one. The fourth, wherever it lands, locks.
    for base in &bases {
        assert_eq!(
            login(base, "wrong password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        login(&bases[0], "wrong password").await,
        StatusCode::UNAUTHORIZED
    );
    // Checked once per node, with the right password and after the feed's
    // bound: a check that could succeed would clear the count (a success
    // does), and one with a wrong password would count on its own node.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (base, name) in bases.iter().zip(["a", "b", "c"]) {
        assert_eq!(
            login(base, "a good long password").await,
            StatusCode::TOO_MANY_REQUESTS,
            "node {name} let the account in"
        );
    }
}

/// An upstream login begun on one node is finished on another, once.
#[actix_web::test]
async fn an_upstream_login_state_is_taken_once_in_the_whole_cluster() {
    use tessera_actors::federation::PendingLogin;
    use tessera_actors::pg::{Pg, PgOptions};
    let db = TestDb::create();
    let node = |origin| {
        let mut o = PgOptions::new(db.url.as_str());
        o.origin = Some(origin);
        Pg::connect(&o).unwrap()
    };
    let (a, b, c) = (node(1), node(2), node(3));
    let key = tessera_actors::secret::sha256(b"the state");
    let login = PendingLogin {
        provider: "upstream".into(),
        verifier: "v".into(),
        nonce: "n".into(),
        return_to: None,
        binding: tessera_actors::secret::sha256(b"cookie"),
        expires_at: 4_000_000_000,
    };
    a.stores().federation.put_pending(&key, &login).unwrap();
    let found = b
        .stores()
        .federation
        .get_pending(&key)
        .unwrap()
        .expect("b finds it");
    assert_eq!(found.nonce, "n");
    // b and c race for it: one takes it.
    let (sb, sc) = (b.stores(), c.stores());
    let took = [
        sb.federation.take_pending(&key).unwrap(),
        sc.federation.take_pending(&key).unwrap(),
    ];
    assert_eq!(took.iter().filter(|t| **t).count(), 1, "{took:?}");
    assert!(a.stores().federation.get_pending(&key).unwrap().is_none());
    // A server alone keeps its logins in memory: nothing is shared.
    let alone = Pg::connect(&PgOptions::new(db.url.as_str())).unwrap();
    alone.stores().federation.put_pending(&key, &login).unwrap();
    assert!(b.stores().federation.get_pending(&key).unwrap().is_none());
}
