//! A client assertion works once in the whole cluster (SECURITY.md: a
//! `jti` is accepted only once): accepted by one node, it is a replay on
//! every other.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{eventually, Node};
use crate::client_jwt::keys::{jwks, sign_jwt, ClientKey};
use crate::client_jwt::{header_of, JWT_BEARER};
use crate::helpers::http_client;
use crate::testdb::TestDb;

/// The issuer every node is configured with, as behind a balancer.
const ISSUER: &str = "http://tessera.cluster.test";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

fn assertion(key: &ClientKey, id: &str) -> String {
    let t = now();
    let claims = json!({
        "iss": id, "sub": id, "aud": ISSUER, "iat": t, "exp": t + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    sign_jwt(key, &header_of(key), &claims)
}

async fn token_at(node: &Node, assertion: &str) -> (StatusCode, Value) {
    let r = http_client()
        .post(node.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("token request");
    let status = r.status();
    (status, r.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assertion_accepted_by_one_node_is_a_replay_on_the_other() {
    let db = TestDb::create();
    let env = [("TESSERA_ISSUER", ISSUER)];
    let a = Node::start_full(&db.url, "node-a", "eventual", &env);
    a.wait_ready().await;
    let b = Node::start_full(&db.url, "node-b", "eventual", &env);
    b.wait_ready().await;

    let key = ClientKey::es256("k1");
    let r = a
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "signer",
                "scope": "read",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": jwks(&[&key]),
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    eventually("node b knows the client", || async {
        b.admin(Method::GET, "/admin/clients/signer", None)
            .await
            .status()
            == StatusCode::OK
    })
    .await;

    for (first, second) in [(&a, &b), (&b, &a)] {
        let one = assertion(&key, "signer");
        let (status, body) = token_at(first, &one).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", first.name);
        for node in [second, first] {
            let (status, body) = token_at(node, &one).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {body}", node.name);
            assert_eq!(body["error"], "invalid_client", "{}: {body}", node.name);
            assert!(
                body["error_description"]
                    .as_str()
                    .is_some_and(|d| d.contains("jti was already used")),
                "{}: {body}",
                node.name
            );
            assert!(body.get("access_token").is_none());
        }
    }
    // Both at once: exactly one wins.
    for round in 0..3 {
        let one = assertion(&key, "signer");
        let (x, y) = tokio::join!(token_at(&a, &one), token_at(&b, &one));
        let wins = [&x, &y]
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        assert_eq!(wins, 1, "round {round}: {x:?} {y:?}");
    }
}

/// With PostgreSQL the database decides: a second server over the same
/// database (a restarted one, or another without cluster mode) refuses a
/// jti the first accepted.
#[actix_web::test]
async fn a_jti_used_on_one_server_is_refused_by_the_next_over_the_same_database() {
    use crate::client_jwt::{assertion as assertion_at, issued, key_client, token_by};
    use crate::helpers::spawn_app_on;
    use crate::testdb::TestBackend;

    let first = spawn_app_on(TestBackend::Postgres, |_| {}).await;
    let key = ClientKey::ed25519("k1");
    let id = key_client(&first, &[&key], json!({"client_id": "pg-signer"})).await;
    let one = assertion_at(&first, &key, &id);
    issued(token_by(&first, &one, &[]).await).await;

    let url = first.db.as_ref().expect("a database").url.clone();
    let data_dir = first.data_dir.clone();
    let issuer = first.issuer.clone();
    let next = spawn_app_on(TestBackend::Postgres, |s| {
        s.store.database_url = Some(url);
        s.data_dir = data_dir;
        s.issuer = Some(issuer);
    })
    .await;
    let r = token_by(&next, &one, &[]).await;
    let status = r.status();
    let body: Value = r.json().await.expect("a JSON answer");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("jti was already used")),
        "{body}"
    );
    // A new assertion works on the next server.
    issued(token_by(&next, &assertion_at(&next, &key, &id), &[]).await).await;
}
