//! `[audit]`: how long the audit log keeps its records.
//!
//! - `keep_days`: records older than this are deleted (0: never by age).
//! - `keep_rows`: at most this many records are kept, the newest (0: no
//!   bound).
//! - `sweep_interval_secs`: how often the bounds are applied (also at
//!   start).

use std::time::Duration;

use serde::Deserialize;
use tessera_actors::audit::AuditConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    pub keep_days: u32,
    pub keep_rows: u64,
    pub sweep_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        let c = AuditConfig::default();
        AuditSettings {
            keep_days: c.keep_days,
            keep_rows: c.keep_rows,
            sweep_interval_secs: c.sweep_every.as_secs(),
        }
    }
}

impl AuditSettings {
    /// The owner's configuration; `node` names this process in its records.
    pub fn config(&self, node: String) -> anyhow::Result<AuditConfig> {
        anyhow::ensure!(
            self.keep_days <= 36_500,
            "audit.keep_days must be at most 36500 (0: no bound by age)"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.sweep_interval_secs),
            "audit.sweep_interval_secs must be between 1 and 86400"
        );
        Ok(AuditConfig {
            node,
            keep_days: self.keep_days,
            keep_rows: self.keep_rows,
            sweep_every: Duration::from_secs(self.sweep_interval_secs),
        })
    }
}
