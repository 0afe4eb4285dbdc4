//! Single use across nodes: one code, one refresh token, presented at
//! three nodes at once. Node a runs in this process (the browser flow's
//! helpers drive it), b and c are `tessera serve` processes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::{eventually, Node, MAX_LAG_MS, NODE_TIMEOUT_MS, POLL_MS};
use crate::flow::{create_user, logged_in, public_rp, AuthRequest, Rp, SCOPE};
use crate::helpers::{http_client, spawn_app_on, TestApp};
use crate::testdb::{TestBackend, TestDb};

async fn mixed(db: &TestDb) -> (TestApp, Node, Node) {
    let url = db.url.clone();
    let ms = |v: &str| v.parse::<u64>().unwrap();
    let a = spawn_app_on(TestBackend::Postgres, move |s| {
        s.store.database_url = Some(url);
        s.issuer = Some("http://tessera.test".into());
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
        s.cluster.poll_interval_ms = ms(POLL_MS);
        s.cluster.max_lag_ms = ms(MAX_LAG_MS);
        s.cluster.node_timeout_ms = ms(NODE_TIMEOUT_MS);
    })
    .await;
    let b = Node::start(db, "node-b", "eventual");
    let c = Node::start(db, "node-c", "eventual");
    b.wait_ready().await;
    c.wait_ready().await;
    (a, b, c)
}

/// `POST /oauth2/token` at `base` as the public client `rp`.
async fn token_at(base: &str, rp: &Rp, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut p = params.to_vec();
    p.push(("client_id", rp.id()));
    let r = http_client()
        .post(format!("{base}/oauth2/token"))
        .form(&p)
        .send()
        .await
        .expect("token request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn userinfo(base: &str, access: &str) -> StatusCode {
    http_client()
        .get(format!("{base}/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

async fn wait_known(nodes: &[&str], rp: &Rp) {
    for base in nodes {
        eventually("the node knows the client", || async {
            let (_, body) = token_at(
                base,
                rp,
                &[("grant_type", "authorization_code"), ("code", "x")],
            )
            .await;
            body["error"] != "invalid_client"
        })
        .await;
    }
}

/// Three nodes (a in this process), a user and a public client every
/// node knows.
struct Race {
    a: TestApp,
    _nodes: (Node, Node),
    user: crate::flow::TestUser,
    rp: Rp,
    bases: Vec<String>,
    _db: TestDb,
}

impl Race {
    async fn start(user: &str) -> Race {
        let db = TestDb::create();
        let (a, b, c) = mixed(&db).await;
        let user = create_user(&a, user).await;
        let rp = public_rp(&a).await;
        let bases = vec![a.address.clone(), b.url(""), c.url("")];
        let race = Race {
            a,
            _nodes: (b, c),
            user,
            rp,
            bases,
            _db: db,
        };
        wait_known(&race.refs(), &race.rp).await;
        race
    }

    fn refs(&self) -> Vec<&str> {
        self.bases.iter().map(String::as_str).collect()
    }

    /// A fresh code from node a, with its PKCE verifier.
    async fn code(&self) -> (String, String) {
        let mut browser = logged_in(&self.a, &self.user).await;
        let req = AuthRequest::new(&self.rp, SCOPE);
        (browser.code(&self.a, &req).await, req.verifier)
    }

    /// `params` at every node at once: exactly one `200`, the others
    /// `invalid_grant`. Answers the winner's body.
    async fn one_winner(&self, params: &[(&str, &str)], round: usize) -> Value {
        let answers = futures_util::future::join_all(
            self.refs()
                .into_iter()
                .map(|base| token_at(base, &self.rp, params)),
        )
        .await;
        let winners: Vec<&(StatusCode, Value)> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        for (s, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*s, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
        winners[0].1.clone()
    }

    /// The winner's access token is refused on every node.
    async fn dead_everywhere(&self, winner: &Value) {
        let access = winner["access_token"].as_str().unwrap();
        for base in self.refs() {
            eventually("the winner's access token is dead everywhere", || async {
                userinfo(base, access).await == StatusCode::UNAUTHORIZED
            })
            .await;
        }
    }
}

#[actix_web::test]
async fn a_code_redeemed_on_three_nodes_at_once_has_one_winner_and_the_replay_kills_the_grant() {
    let race = Race::start("racer").await;
    for round in 0..3 {
        let (code, verifier) = race.code().await;
        let params = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", race.rp.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let winner = race.one_winner(&params, round).await;
        // The replay revoked what the winner got, on every node.
        race.dead_everywhere(&winner).await;
    }
}

#[actix_web::test]
async fn a_refresh_token_rotated_on_three_nodes_at_once_has_one_winner_and_reuse_ends_the_family() {
    let race = Race::start("rotator").await;
    for round in 0..3 {
        let (code, verifier) = race.code().await;
        let (s, tokens) = token_at(
            &race.a.address,
            &race.rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", race.rp.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        // Rotate it everywhere at once: the nodes that have not applied
        // the token yet read it from the database.
        let params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let started = Instant::now();
        let winner = race.one_winner(&params, round).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        // Reuse detection ended the family: what the winner got is dead
        // on every node, its rotated refresh token too.
        race.dead_everywhere(&winner).await;
        let rotated = winner["refresh_token"].as_str().unwrap();
        let (s, body) = token_at(
            &race.bases[2],
            &race.rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rotated)],
        )
        .await;
        assert_eq!(
            (s, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
}
