//! Key rotation in a cluster: one node rotates, every node already serves
//! the key that takes over, and tokens signed before or after verify on
//! every node.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{eventually, Node, Three};
use crate::helpers::{http_client, jwt_part, kids, TestClient};

async fn jwks_kids(n: &Node) -> Vec<String> {
    kids(&n.get_json("/oauth2/jwks").await)
}

async fn keys(n: &Node) -> Vec<Value> {
    n.admin(Method::GET, "/admin/keys", None)
        .await
        .json()
        .await
        .unwrap()
}

fn kid_in(keys: &[Value], state: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k["state"] == state)
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_is_published_everywhere_before_any_node_signs_with_the_new_key() {
    let cluster = Three::start("eventual").await;
    let r = cluster
        .a()
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"scope": "read", "access_token_format": "jwt"})),
        )
        .await;
    let body: Value = r.json().await.unwrap();
    let client = TestClient {
        id: body["client_id"].as_str().unwrap().to_string(),
        secret: body["client_secret"].as_str().unwrap().to_string(),
    };
    let _ = cluster.client().await; // waits until every node knows a client made after it
    let before = keys(cluster.a()).await;
    let next = kid_in(&before, "next");
    let current = kid_in(&before, "current");
    assert_eq!((next.len(), current.len()), (1, 1), "{before:?}");
    // Every node already publishes the key that takes over next.
    for n in &cluster.nodes {
        let published = jwks_kids(n).await;
        assert!(published.contains(&next[0]), "{}: {published:?}", n.name);
        assert_eq!(kid_in(&keys(n).await, "next"), next, "{}", n.name);
    }
    let old = cluster.b().token(&client).await;
    assert_eq!(jwt_part(&old, 0)["kid"], current[0].as_str());
    // Two nodes asked to rotate at the same moment: each rotation is one
    // whole step on the stored set, one after the other.
    let (ra, rb) = tokio::join!(
        cluster.a().admin(Method::POST, "/admin/keys/rotate", None),
        cluster.b().admin(Method::POST, "/admin/keys/rotate", None)
    );
    assert_eq!((ra.status(), rb.status()), (StatusCode::OK, StatusCode::OK));
    eventually("every node has the same key set", || async {
        let mut sets = Vec::new();
        for n in &cluster.nodes {
            let mut k: Vec<(String, String)> = keys(n)
                .await
                .iter()
                .map(|k| {
                    (
                        k["kid"].as_str().unwrap().to_string(),
                        k["state"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            k.sort();
            sets.push(k);
        }
        sets.windows(2).all(|w| w[0] == w[1])
    })
    .await;
    let after = keys(cluster.c()).await;
    assert_eq!(kid_in(&after, "current").len(), 1, "{after:?}");
    assert_eq!(kid_in(&after, "next").len(), 1, "{after:?}");
    // Two rotations: the old next signed in between, and its successor now.
    let now_current = kid_in(&after, "current")[0].clone();
    assert_ne!(now_current, current[0]);
    for n in &cluster.nodes {
        let t = n.token(&client).await;
        let kid = jwt_part(&t, 0)["kid"].as_str().unwrap().to_string();
        assert_eq!(kid, now_current, "{} signs with the current key", n.name);
        for m in &cluster.nodes {
            assert!(jwks_kids(m).await.contains(&kid));
            assert_eq!(
                m.introspect(&http_client(), &client, &t).await,
                Some(true),
                "new token on {}",
                m.name
            );
            assert_eq!(
                m.introspect(&http_client(), &client, &old).await,
                Some(true),
                "old token on {}",
                m.name
            );
        }
    }
}
