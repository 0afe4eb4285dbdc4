//! What this node knows of the others: which are live (their heartbeat is
//! fresher than `node_timeout`, in the database's clock) and how far each
//! has applied the feed (from the nodes table, and sooner from the
//! acknowledgements nodes send after applying).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;

use super::{lock, Cluster};
use crate::pg::db_error;
use crate::store::StoreError;

#[derive(Debug, Clone, Copy)]
struct Peer {
    live: bool,
    applied: i64,
}

#[derive(Default)]
struct State {
    /// When the last read of the nodes table began.
    read_began: Option<Instant>,
    nodes: HashMap<String, Peer>,
}

pub(super) struct Peers {
    me: String,
    state: Mutex<State>,
    /// Woken when `state` changes.
    changed: tokio::sync::Notify,
    /// Asks the refresher for a new read of the nodes table.
    want: tokio::sync::Notify,
}

impl Peers {
    pub(super) fn new(me: String) -> Peers {
        Peers {
            me,
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
            want: tokio::sync::Notify::new(),
        }
    }

    /// `"<node> <seq>"`: that node has applied every event up to seq.
    pub(super) fn ack(&self, payload: &str) {
        let Some((node, seq)) = payload.rsplit_once(' ') else {
            return;
        };
        let Ok(seq) = seq.parse::<i64>() else { return };
        if node == self.me {
            return;
        }
        {
            let mut st = lock(&self.state);
            if let Some(p) = st.nodes.get_mut(node) {
                p.applied = p.applied.max(seq);
            }
        }
        self.changed.notify_waiters();
    }

    pub(super) fn want_read(&self) {
        self.want.notify_one();
    }

    fn update(&self, began: Instant, rows: Vec<(String, i64, bool)>) {
        {
            let mut st = lock(&self.state);
            let mut nodes = HashMap::with_capacity(rows.len());
            for (node, applied, live) in rows {
                if node == self.me {
                    continue;
                }
                let known = st
                    .nodes
                    .get(&node)
                    .map_or(applied, |p| p.applied.max(applied));
                nodes.insert(
                    node,
                    Peer {
                        live,
                        applied: known,
                    },
                );
            }
            st.nodes = nodes;
            st.read_began = Some(began);
            let live = st.nodes.values().filter(|p| p.live).count();
            metrics::gauge!("tessera_cluster_nodes_live").set((live + 1) as f64);
        }
        self.changed.notify_waiters();
    }

    /// Wait until a read of the nodes table begun after this call finds
    /// every live node other than this one at `seq` or beyond (counting
    /// acknowledgements since), or the strict timeout passes.
    pub(super) async fn wait(&self, c: &Cluster, seq: i64) -> Result<(), StoreError> {
        let registered = Instant::now();
        let deadline = tokio::time::Instant::now() + c.inner.cfg.strict_timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = lock(&self.state);
                let fresh = st.read_began.is_some_and(|b| b > registered);
                if fresh && st.nodes.values().all(|p| !p.live || p.applied >= seq) {
                    return Ok(());
                }
                if !fresh {
                    self.want.notify_one();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let behind: Vec<String> = lock(&self.state)
                    .nodes
                    .iter()
                    .filter(|(_, p)| p.live && p.applied < seq)
                    .map(|(n, _)| n.clone())
                    .collect();
                return Err(StoreError::Unavailable(format!(
                    "not every node applied the change within {} ms (waiting for: {}); it is \
                     committed and reaches every node",
                    c.inner.cfg.strict_timeout.as_millis(),
                    if behind.is_empty() {
                        "a fresh read of the nodes table".to_string()
                    } else {
                        behind.join(", ")
                    }
                )));
            }
        }
    }
}

/// Reads the nodes table whenever asked (strict waiters, self-checks),
/// and at least every poll interval.
pub(super) async fn refresher(c: Cluster) {
    let pool = c.inner.pg.pool().clone();
    let timeout = c.inner.cfg.node_timeout;
    loop {
        let _ =
            tokio::time::timeout(c.inner.cfg.poll_interval, c.inner.peers.want.notified()).await;
        let began = Instant::now();
        match read(&pool, timeout).await {
            Ok(rows) => c.inner.peers.update(began, rows),
            Err(e) => {
                tracing::debug!(error = %e, "reading the nodes table failed");
                // Do not spin while the database is away.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read(pool: &PgPool, timeout: Duration) -> Result<Vec<(String, i64, bool)>, StoreError> {
    sqlx::query_as(
        "SELECT node_id, applied_seq, heartbeat_at > now() - make_interval(secs => $1) \
         FROM nodes",
    )
    .bind(timeout.as_secs_f64())
    .fetch_all(pool)
    .await
    .map_err(db_error)
}

/// One node as `tessera cluster status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node_id: String,
    /// Its heartbeat is fresher than the node timeout.
    pub live: bool,
    /// It said it could answer at its last heartbeat.
    pub ready: bool,
    pub applied_seq: i64,
    /// Events committed after what it applied.
    pub lag_events: i64,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_seconds: f64,
    /// Seconds since this incarnation started.
    pub up_seconds: f64,
}

pub(super) async fn status(
    pool: &PgPool,
    timeout: Duration,
) -> Result<Vec<NodeStatus>, StoreError> {
    type Row = (String, bool, bool, i64, i64, f64, f64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.node_id, n.heartbeat_at > now() - make_interval(secs => $1), n.ready, \
                n.applied_seq, \
                GREATEST(COALESCE((SELECT max(seq) FROM events), 0) - n.applied_seq, 0), \
                extract(epoch FROM now() - n.heartbeat_at)::float8, \
                extract(epoch FROM now() - n.started_at)::float8 \
         FROM nodes n ORDER BY n.node_id",
    )
    .bind(timeout.as_secs_f64())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(
            |(node_id, live, ready, applied_seq, lag_events, age, up)| NodeStatus {
                node_id,
                live,
                ready,
                applied_seq,
                lag_events,
                heartbeat_age_seconds: age,
                up_seconds: up,
            },
        )
        .collect())
}
