//! A tessera cluster: real `tessera serve` processes on loopback ports over
//! one PostgreSQL database (a fresh one per test), with short cluster
//! timings so faults show within seconds.
//!
//! - `revocation` — strict mode never answers a revoked token active on
//!   any node after the 200; eventual mode converges within the bound.
//! - `faults` — a node killed and restarted, a node cut from the
//!   database, PostgreSQL restarted.
//! - `single_use` — codes and refresh tokens raced on three nodes.
//! - `keys` — a rotation reaches every node's JWKS before any token is
//!   signed with the new key.
//! - `dpop` — a DPoP proof is accepted once in the whole cluster.
//! - `client_jwt` — a client assertion is accepted once in the whole cluster.
//! - `limits` — login failures count across nodes; a federation `state`
//!   is taken once in the whole cluster.
//! - `par` — a request pushed to one node is authorized on another, and
//!   owned by the first browser whichever node it reaches.

mod client_jwt;
mod dpop;
mod faults;
mod keys;
mod limits;
mod par;
mod registration;
mod revocation;
mod single_use;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{http_client, TestClient};
use crate::process::{Server, ADMIN_TOKEN};
use crate::testdb::TestDb;

/// The cluster timings the tests run with: a node is dead to the others
/// 1.5 s after its last heartbeat, and stops answering 0.6 s after its
/// last whole self-check.
pub const POLL_MS: &str = "100";
pub const MAX_LAG_MS: &str = "600";
pub const NODE_TIMEOUT_MS: &str = "1500";
pub const STRICT_TIMEOUT_MS: &str = "15000";

/// One node: a `tessera serve` process, restartable under the same name.
pub struct Node {
    pub name: String,
    server: Option<Server>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    n: usize,
}

impl Node {
    pub fn start(db: &TestDb, name: &str, mode: &str) -> Node {
        Node::start_at(&db.url, name, mode)
    }

    /// A node reaching the database at `url` (a role of its own, say).
    pub fn start_at(url: &str, name: &str, mode: &str) -> Node {
        Node::start_full(url, name, mode, &[])
    }

    /// With extra settings (environment variables) on top.
    pub fn start_full(url: &str, name: &str, mode: &str, extra: &[(&str, &str)]) -> Node {
        let mut env: Vec<(String, String)> = vec![
            ("TESSERA_STORE__BACKEND", "postgres"),
            ("TESSERA_STORE__DATABASE_URL", url),
            ("TESSERA_STORE__POOL_SIZE", "6"),
            ("TESSERA_CLUSTER__ENABLED", "true"),
            ("TESSERA_CLUSTER__NODE_ID", name),
            ("TESSERA_CLUSTER__REVOCATION", mode),
            ("TESSERA_CLUSTER__POLL_INTERVAL_MS", POLL_MS),
            ("TESSERA_CLUSTER__MAX_LAG_MS", MAX_LAG_MS),
            ("TESSERA_CLUSTER__NODE_TIMEOUT_MS", NODE_TIMEOUT_MS),
            ("TESSERA_CLUSTER__STRICT_TIMEOUT_MS", STRICT_TIMEOUT_MS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut node = Node {
            name: name.to_string(),
            server: None,
            dir: tempfile::tempdir().expect("a data dir"),
            env,
            n: 0,
        };
        node.restart();
        node
    }

    /// Start the process (again), logging to a file of its own.
    pub fn restart(&mut self) {
        self.n += 1;
        let log = self
            .dir
            .path()
            .join(format!("{}-{}.log", self.name, self.n));
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.server = Some(Server::start_with_env(self.dir.path(), &log, &env));
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(s) = self.server.take() {
            s.kill();
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.as_ref().expect("the node runs").url(path)
    }

    /// The node's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .path()
                .join(format!("{}-{}.log", self.name, self.n)),
        )
        .unwrap_or_default()
    }

    /// `GET path` as JSON (whatever the status).
    pub async fn get_json(&self, path: &str) -> Value {
        http_client()
            .get(self.url(path))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("a JSON answer")
    }

    pub async fn ready(&self) -> bool {
        http_client()
            .get(self.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    }

    /// Wait until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(60);
        while !self.ready().await {
            assert!(
                Instant::now() < until,
                "{} never became ready: {}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = http_client()
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("admin request")
    }

    /// A client_credentials token from this node.
    pub async fn token(&self, c: &TestClient) -> String {
        let r = http_client()
            .post(self.url("/oauth2/token"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request");
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(status, StatusCode::OK, "{}: {body}", self.name);
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Introspect `token` as `c`: `Some(active)` on 200, `None` on 503.
    pub async fn introspect(
        &self,
        http: &reqwest::Client,
        c: &TestClient,
        token: &str,
    ) -> Option<bool> {
        let r = http
            .post(self.url("/oauth2/token/introspect"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await
            .ok()?;
        match r.status() {
            StatusCode::OK => {
                let v: Value = r.json().await.ok()?;
                Some(v["active"] == true)
            }
            StatusCode::SERVICE_UNAVAILABLE => None,
            s => panic!("{} answered introspection with {s}", self.name),
        }
    }

    /// Revoke `token` as `c` (RFC 7009); answers the status.
    pub async fn revoke(&self, http: &reqwest::Client, c: &TestClient, token: &str) -> StatusCode {
        http.post(self.url("/oauth2/token/revoke"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await
            .map(|r| r.status())
            .unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// One metric's value from `/metrics`: the sum of its series.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = http_client()
            .get(self.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let values: Vec<f64> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split([' ', '{']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }
}

/// Three nodes, `a`, `b` and `c`, on one fresh database.
pub struct Three {
    _db: TestDb,
    pub nodes: Vec<Node>,
}

impl Three {
    pub async fn start(mode: &str) -> Three {
        let db = TestDb::create();
        let url = db.url.clone();
        Three::start_with(db, mode, &url).await
    }

    /// Node b reaches the database at `b_url`.
    pub async fn start_with(db: TestDb, mode: &str, b_url: &str) -> Three {
        Three::start_full(db, mode, b_url, &[]).await
    }

    /// Every node with `extra` settings.
    pub async fn start_env(mode: &str, extra: &[(&str, &str)]) -> Three {
        let db = TestDb::create();
        let url = db.url.clone();
        Three::start_full(db, mode, &url, extra).await
    }

    pub async fn start_full(db: TestDb, mode: &str, b_url: &str, extra: &[(&str, &str)]) -> Three {
        // The first node makes the schema and the keys; the others join.
        let a = Node::start_full(&db.url, "node-a", mode, extra);
        a.wait_ready().await;
        let b = Node::start_full(b_url, "node-b", mode, extra);
        let c = Node::start_full(&db.url, "node-c", mode, extra);
        b.wait_ready().await;
        c.wait_ready().await;
        Three {
            _db: db,
            nodes: vec![a, b, c],
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self._db.url
    }

    pub fn a(&self) -> &Node {
        &self.nodes[0]
    }
    pub fn b(&self) -> &Node {
        &self.nodes[1]
    }
    pub fn c(&self) -> &Node {
        &self.nodes[2]
    }

    /// A confidential client with opaque access tokens that may
    /// introspect its own, registered on node a and known to every node.
    pub async fn client(&self) -> TestClient {
        let r = self
            .a()
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({"scope": "read write", "access_token_format": "opaque"})),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.unwrap();
        let client = TestClient {
            id: body["client_id"].as_str().unwrap().to_string(),
            secret: body["client_secret"].as_str().unwrap().to_string(),
        };
        for n in &self.nodes {
            eventually(&format!("{} knows the client", n.name), || async {
                http_client()
                    .post(n.url("/oauth2/token"))
                    .basic_auth(&client.id, Some(&client.secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK)
            })
            .await;
        }
        client
    }

    /// `count` opaque tokens issued on node a, each active on every node.
    pub async fn tokens(&self, client: &TestClient, count: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(self.a().token(client).await);
        }
        let http = http_client();
        for n in &self.nodes {
            for t in &out {
                eventually(&format!("{} sees the token", n.name), || async {
                    n.introspect(&http, client, t).await == Some(true)
                })
                .await;
            }
        }
        out
    }
}

/// Poll `check` until it holds, for at most 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < until, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `q`-quantile of `v` (sorted in place).
pub fn quantile(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}
