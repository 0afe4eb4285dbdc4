//! A DPoP proof works once in the whole cluster (SECURITY.md: a DPoP `jti`
//! is single use across all nodes), whichever node sees it first.

use reqwest::StatusCode;
use serde_json::Value;

use super::{Node, Three};
use crate::dpop::proof::ProofKey;
use crate::helpers::{http_client, TestClient};

/// The issuer every node is configured with, as behind a balancer: the
/// proofs name its token endpoint, whichever node answers.
const ISSUER: &str = "http://tessera.cluster.test";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

async fn token_with_proof(node: &Node, client: &TestClient, proof: &str) -> (StatusCode, Value) {
    let r = http_client()
        .post(node.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dpop_proof_accepted_by_one_node_is_refused_by_every_other() {
    let cluster = Three::start_env("eventual", &[("TESSERA_ISSUER", ISSUER)]).await;
    let client = cluster.client().await;
    let key = ProofKey::es256();
    let htu = format!("{ISSUER}/oauth2/token");

    let proof = key.proof("POST", &htu, now());
    let (status, body) = token_with_proof(cluster.a(), &client, &proof).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    for node in [cluster.b(), cluster.c(), cluster.a()] {
        let (status, body) = token_with_proof(node, &client, &proof).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {body}", node.name);
        assert_eq!(body["error"], "invalid_dpop_proof", "{}: {body}", node.name);
    }

    // A fresh proof of the same key is a new proof, on any node; the token
    // it gets is bound to the same key.
    let (status, body) =
        token_with_proof(cluster.b(), &client, &key.proof("POST", &htu, now())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let r: Value = http_client()
        .post(cluster.b().url("/oauth2/token/introspect"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection")
        .json()
        .await
        .expect("a JSON answer");
    assert_eq!(r["active"], true, "{r}");
    assert_eq!(r["token_type"], "DPoP", "{r}");
    assert_eq!(r["cnf"]["jkt"], key.thumbprint().as_str(), "{r}");
}
