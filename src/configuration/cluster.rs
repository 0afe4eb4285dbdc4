//! `[cluster]`: several nodes on one PostgreSQL database (see the README's
//! "Running a cluster").

use std::time::Duration;

use serde::Deserialize;
use tessera_actors::cluster::{ClusterConfig, RevocationMode};

/// When a revocation is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Revocation {
    /// After commit and after this node applied it (the default).
    #[default]
    Eventual,
    /// Only once every live node applied it.
    Strict,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// Run as one node of a cluster (needs `store.backend = "postgres"`).
    pub enabled: bool,
    /// This node's name; defaults to `<host name>:<port>`.
    pub node_id: Option<String>,
    /// `eventual` (default) or `strict`.
    pub revocation: Revocation,
    /// Milliseconds after its last heartbeat a node counts as dead.
    pub node_timeout_ms: u64,
    /// Milliseconds a node may go without a whole self-check before it
    /// says it is not ready (and, in strict mode, refuses introspection).
    pub max_lag_ms: u64,
    /// Longest a strict revocation waits for every node, milliseconds;
    /// then it answers `503` (the revocation stays committed).
    pub strict_timeout_ms: u64,
    /// How often a node heartbeats and reads the feed without being woken.
    pub poll_interval_ms: u64,
    /// Seconds the feed's events are kept once every live node has them.
    pub event_retention_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        let c = ClusterConfig::new("");
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        ClusterSettings {
            enabled: false,
            node_id: None,
            revocation: Revocation::Eventual,
            node_timeout_ms: ms(c.node_timeout),
            max_lag_ms: ms(c.max_lag),
            strict_timeout_ms: ms(c.strict_timeout),
            poll_interval_ms: ms(c.poll_interval),
            event_retention_secs: c.event_retention.as_secs(),
        }
    }
}

impl ClusterSettings {
    /// The engine's view of these settings; `port` names the node when no
    /// `node_id` is set. An error says which setting is wrong.
    pub fn config(&self, port: u16) -> anyhow::Result<ClusterConfig> {
        let node_id = match self.node_id.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => format!("{}:{port}", host_name()),
        };
        let c = ClusterConfig {
            node_id,
            revocation: match self.revocation {
                Revocation::Eventual => RevocationMode::Eventual,
                Revocation::Strict => RevocationMode::Strict,
            },
            node_timeout: Duration::from_millis(self.node_timeout_ms),
            max_lag: Duration::from_millis(self.max_lag_ms),
            strict_timeout: Duration::from_millis(self.strict_timeout_ms),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            event_retention: Duration::from_secs(self.event_retention_secs),
        };
        c.check().map_err(|e| anyhow::anyhow!(e))?;
        Ok(c)
    }
}

/// This machine's name, for a default node id.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
