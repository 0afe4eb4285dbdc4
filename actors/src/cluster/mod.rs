//! A cluster: several nodes on one PostgreSQL database, each answering
//! from its own memory (see the README, "Running a cluster").
//!
//! - **The feed.** Every change a view depends on is an event in the same
//!   transaction (`pg::feed`). Each node listens for the wake-up, reads the
//!   events after the last one it applied, in order, and hands each owner
//!   its part ([`Apply`]); a node's own events it applied already.
//!   Notifications only wake: a read also runs on every self-check, after
//!   every reconnect, so a lost notification delays, never loses.
//! - **Self-check** every `poll_interval`: write the heartbeat, then read
//!   the feed to its end, then read the other nodes. Only a self-check that
//!   succeeded whole makes the node *fresh* (as of when it began); a node
//!   stale by more than `max_lag` is not ready, and in strict mode it
//!   refuses introspection.
//! - **Strict revocations** wait until every live node has applied them
//!   (see [`Cluster::settle`]).
//!
//! # Why a node declared dead has stopped answering
//! Let a strict waiter read the nodes table at time R, after the
//! revocation committed, and find node N's heartbeat older than
//! `node_timeout`: its newest visible heartbeat h < R − node_timeout. A
//! self-check of N that began at T writes its heartbeat before it reads
//! the feed. If that heartbeat was visible at R, then T < h, and N is
//! fresh at most until T + max_lag < R − node_timeout + max_lag < R, since
//! `node_timeout > max_lag` (checked at start): N stopped answering before
//! the waiter moved on. If it was not visible at R, the self-check's feed
//! read starts after R, after the commit, and sees the revocation before
//! N is fresh on it. Either way N never answers from a view without it.
//! (Durations are measured on two clocks, the database's and N's; they
//! need to agree on the length of a second, not on the time.)

mod feed;
mod peers;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::pg::feed::Change;
use crate::pg::Pg;
use crate::store::StoreError;

pub use peers::NodeStatus;

/// Changes from the feed for one owner, in seq order.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Apply(pub Vec<Change>);

/// When a revocation is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationMode {
    /// After commit and after this node applied it; the others apply it
    /// within the feed's latency.
    Eventual,
    /// Only once every live node applied it (bounded by `strict_timeout`).
    Strict,
}

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's name in the nodes table.
    pub node_id: String,
    pub revocation: RevocationMode,
    /// A node whose heartbeat is older than this is dead to the others.
    pub node_timeout: Duration,
    /// A node whose last whole self-check is older than this is not ready
    /// (and refuses strict introspection).
    pub max_lag: Duration,
    /// Longest a strict revocation waits for the other nodes.
    pub strict_timeout: Duration,
    /// How often a node checks itself: heartbeat, feed read, nodes read.
    pub poll_interval: Duration,
    /// Events older than this, applied by every live node, are pruned.
    pub event_retention: Duration,
}

impl ClusterConfig {
    pub fn new(node_id: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            node_id: node_id.into(),
            revocation: RevocationMode::Eventual,
            node_timeout: Duration::from_secs(3),
            max_lag: Duration::from_secs(1),
            strict_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(200),
            event_retention: Duration::from_secs(300),
        }
    }

    /// The timing the safety argument needs (module docs).
    pub fn check(&self) -> Result<(), String> {
        if self.node_id.is_empty() || self.node_id.len() > 200 {
            return Err("cluster.node_id must be 1-200 characters".into());
        }
        if self.poll_interval.is_zero() || self.poll_interval >= self.max_lag {
            return Err(
                "cluster.poll_interval must be above zero and below cluster.max_lag".into(),
            );
        }
        if self.node_timeout <= self.max_lag + self.poll_interval {
            return Err(
                "cluster.node_timeout must exceed cluster.max_lag + cluster.poll_interval: \
                 a node others count as dead must have stopped answering by then"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A receiver of the shared state's changes: (id, new row or `None`).
pub type Sink = Arc<dyn Fn(&[u8], Option<&[u8]>) + Send + Sync>;

/// Where the feed delivers: each owner, with the tables it applies, and
/// the sinks of shared state outside the owners' tables, by table name.
pub struct Appliers {
    pub owners: Vec<(Vec<crate::pg::tables::Table>, Recipient<Apply>)>,
    pub sinks: Vec<(&'static str, Sink)>,
}

/// One node's membership: cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClusterConfig,
    pg: Pg,
    origin: i64,
    /// Every event up to this seq is applied to this node's views.
    applied: AtomicI64,
    /// The highest seq a wake-up named.
    seen: AtomicI64,
    /// When the last whole self-check began: nanoseconds after `started`,
    /// plus one (0: none yet). An atomic, since strict introspection reads
    /// it on every request.
    fresh_ns: AtomicU64,
    /// Set when the node cannot catch up at all (it fell behind the
    /// pruned feed): not ready until restarted. `fatal` says why.
    doomed: AtomicBool,
    fatal: Mutex<Option<String>>,
    /// The last self-check's failure, for `/readyz`.
    last_error: Mutex<Option<String>>,
    listening: AtomicBool,
    reconnects: AtomicU64,
    peers: peers::Peers,
    started: Instant,
}

impl Cluster {
    /// A member over `pg`, whose writes carry `pg.origin()`; `applied` is
    /// the seq the start-up snapshot was taken at.
    pub fn new(pg: &Pg, cfg: ClusterConfig, applied: i64) -> Result<Cluster, StoreError> {
        let origin = pg
            .origin()
            .ok_or_else(|| StoreError::Write("the store writes no change events".into()))?;
        cfg.check().map_err(StoreError::Write)?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                peers: peers::Peers::new(cfg.node_id.clone()),
                cfg,
                pg: pg.clone(),
                origin,
                applied: AtomicI64::new(applied),
                seen: AtomicI64::new(applied),
                fresh_ns: AtomicU64::new(0),
                doomed: AtomicBool::new(false),
                fatal: Mutex::new(None),
                last_error: Mutex::new(None),
                listening: AtomicBool::new(false),
                reconnects: AtomicU64::new(0),
                started: Instant::now(),
            }),
        })
    }

    /// The seq a start-up snapshot must be taken after: read it before
    /// loading, replay from it after.
    pub fn snapshot_seq(pg: &Pg) -> Result<i64, StoreError> {
        let pool = pg.pool().clone();
        pg.block(async move {
            let mut conn = pool.acquire().await.map_err(crate::pg::conn_error)?;
            crate::pg::feed::head(&mut conn).await
        })
    }

    /// Start the feed, the self-checks and the chores on the database's
    /// runtime.
    pub fn start(&self, appliers: Appliers) -> Result<(), StoreError> {
        let me = self.clone();
        self.inner
            .pg
            .spawn_task(async move { feed::run(me, appliers).await })?;
        let me = self.clone();
        self.inner
            .pg
            .spawn_task(async move { peers::refresher(me).await })?;
        Ok(())
    }

    pub fn node_id(&self) -> &str {
        &self.inner.cfg.node_id
    }

    pub fn strict(&self) -> bool {
        self.inner.cfg.revocation == RevocationMode::Strict
    }

    /// Every event up to this seq is in this node's views.
    pub fn applied(&self) -> i64 {
        self.inner.applied.load(Ordering::Acquire)
    }

    /// Whether the feed's listener is connected now (wake-ups arrive; while
    /// it is not, changes still come with every self-check's read).
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::Acquire)
    }

    /// How long ago the last whole self-check began (`None`: none yet).
    pub fn staleness(&self) -> Option<Duration> {
        let fresh = self.inner.fresh_ns.load(Ordering::Acquire).checked_sub(1)?;
        Some(
            self.inner
                .started
                .elapsed()
                .saturating_sub(Duration::from_nanos(fresh)),
        )
    }

    /// Whether this node may answer from its views: its last whole
    /// self-check began less than `max_lag` ago. Atomic loads only: strict
    /// introspection asks on every request.
    pub fn serving(&self) -> bool {
        !self.inner.doomed.load(Ordering::Acquire)
            && self
                .staleness()
                .is_some_and(|age| age < self.inner.cfg.max_lag)
    }

    /// Why this node may not answer from its views, if it may not.
    pub fn not_serving(&self) -> Option<String> {
        if self.serving() {
            return None;
        }
        if let Some(f) = lock(&self.inner.fatal).clone() {
            return Some(f);
        }
        match self.staleness() {
            Some(age) if age < self.inner.cfg.max_lag => None,
            Some(age) => Some(format!(
                "this node's view of the cluster is {} ms old (cluster.max_lag is {} ms){}",
                age.as_millis(),
                self.inner.cfg.max_lag.as_millis(),
                lock(&self.inner.last_error)
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
            None => Some(match lock(&self.inner.last_error).clone() {
                Some(e) => format!("catching up with the cluster's feed: {e}"),
                None => "catching up with the cluster's feed".into(),
            }),
        }
    }

    /// Wait until every other live node has applied every event up to
    /// `seq`, or `strict_timeout` passes (an `Unavailable` error: the
    /// change is committed and still reaches every node).
    pub async fn settle(&self, seq: i64) -> Result<(), StoreError> {
        let started = Instant::now();
        let r = self.inner.peers.wait(self, seq).await;
        let outcome = if r.is_ok() { "applied" } else { "timeout" };
        metrics::counter!("tessera_cluster_strict_waits_total", "outcome" => outcome).increment(1);
        metrics::histogram!("tessera_cluster_strict_wait_seconds")
            .record(started.elapsed().as_secs_f64());
        r
    }

    /// The highest seq this node's own writes committed.
    pub fn committed_seq(&self) -> i64 {
        self.inner.pg.committed_seq()
    }

    /// Every node in the nodes table with its lag, read from an HTTP
    /// worker (bounded by the statement timeout).
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, StoreError> {
        let pool = self.inner.pg.pool().clone();
        let timeout = self.inner.cfg.node_timeout;
        self.inner
            .pg
            .run(async move { peers::status(&pool, timeout).await })
            .await
    }

    /// Every node in the nodes table, with its lag behind the newest event.
    pub fn status(pg: &Pg, node_timeout: Duration) -> Result<Vec<NodeStatus>, StoreError> {
        let pool = pg.pool().clone();
        pg.block(async move { peers::status(&pool, node_timeout).await })
    }

    fn set_fresh(&self, began: Instant) {
        let since = began.saturating_duration_since(self.inner.started);
        let ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX - 1);
        self.inner.fresh_ns.store(ns + 1, Ordering::Release);
        *lock(&self.inner.last_error) = None;
    }

    /// The node fell behind the pruned feed: it stays not ready.
    fn doom(&self, why: String) {
        *lock(&self.inner.fatal) = Some(why);
        self.inner.doomed.store(true, Ordering::Release);
    }

    fn set_error(&self, e: &StoreError) {
        *lock(&self.inner.last_error) = Some(e.to_string());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
