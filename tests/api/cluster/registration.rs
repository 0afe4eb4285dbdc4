//! Dynamic client registration in a cluster: an initial access token is
//! spent once across nodes, and a client registered at one node is
//! managed at the other.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{eventually, Node};
use crate::helpers::http_client;
use crate::testdb::TestDb;

const ISSUER: &str = "http://tessera.cluster.test";

async fn register_at(node: &Node, token: &str) -> (StatusCode, Value) {
    let r = http_client()
        .post(node.url("/oauth2/register"))
        .bearer_auth(token)
        .json(&json!({
            "client_name": "tool",
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .expect("registration request");
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_initial_token_is_spent_once_across_nodes() {
    let db = TestDb::create();
    let env = [
        ("TESSERA_ISSUER", ISSUER),
        ("TESSERA_REGISTRATION__MODE", "initial_token"),
    ];
    let a = Node::start_full(&db.url, "node-a", "eventual", &env);
    a.wait_ready().await;
    let b = Node::start_full(&db.url, "node-b", "eventual", &env);
    b.wait_ready().await;

    let r = a
        .admin(
            Method::POST,
            "/admin/registration-tokens",
            Some(json!({"uses": 3})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    let token = t["token"].as_str().unwrap().to_string();
    // Both nodes at once, three rounds of two: exactly three win.
    let mut won = Vec::new();
    for _ in 0..3 {
        let (x, y) = tokio::join!(register_at(&a, &token), register_at(&b, &token));
        for (status, body) in [x, y] {
            match status {
                StatusCode::CREATED => won.push(body),
                StatusCode::UNAUTHORIZED => assert_eq!(body["error"], "invalid_token"),
                other => panic!("{other}: {body}"),
            }
        }
    }
    assert_eq!(won.len(), 3, "{won:?}");

    // Registered at either node, the client is read and deleted at the other.
    let body = &won[0];
    let id = body["client_id"].as_str().unwrap();
    let rat = body["registration_access_token"].as_str().unwrap();
    let path = format!("/oauth2/register/{id}");
    for node in [&a, &b] {
        eventually("the node knows the client", || async {
            http_client()
                .get(node.url(&path))
                .bearer_auth(rat)
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        })
        .await;
    }
    let r = http_client()
        .delete(b.url(&path))
        .bearer_auth(rat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    eventually("node a forgets the client", || async {
        http_client()
            .get(a.url(&path))
            .bearer_auth(rat)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::UNAUTHORIZED)
    })
    .await;
}
