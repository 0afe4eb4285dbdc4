//! `[backchannel_logout]`: delivery of OIDC Back-Channel Logout tokens.
//!
//! - `timeout_ms`: longest one POST to a client may take (connect, send,
//!   answer) before the attempt counts as failed.
//! - `max_attempts`: attempts before a delivery is kept as a dead letter.
//! - `retry_base`, `retry_max`: seconds before the first retry, doubling
//!   per further failure, capped.
//! - `concurrency`: attempts in flight at once (each to another client).
//! - `token_ttl`: seconds a logout token is valid (`exp - iat`).

use std::time::Duration;

use serde::Deserialize;
use tessera_actors::logout::LogoutConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackchannelLogoutSettings {
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub retry_base: i64,
    pub retry_max: i64,
    pub concurrency: usize,
    pub token_ttl: i64,
}

impl Default for BackchannelLogoutSettings {
    fn default() -> Self {
        let c = LogoutConfig::default();
        BackchannelLogoutSettings {
            timeout_ms: c.timeout.as_millis() as u64,
            max_attempts: c.max_attempts,
            retry_base: c.retry_base,
            retry_max: c.retry_max,
            concurrency: c.concurrency,
            token_ttl: c.token_ttl,
        }
    }
}

impl BackchannelLogoutSettings {
    pub fn config(&self) -> anyhow::Result<LogoutConfig> {
        anyhow::ensure!(
            (100..=60_000).contains(&self.timeout_ms),
            "backchannel_logout.timeout_ms must be between 100 and 60000"
        );
        anyhow::ensure!(
            (1..=100).contains(&self.max_attempts),
            "backchannel_logout.max_attempts must be between 1 and 100"
        );
        anyhow::ensure!(
            self.retry_base >= 1 && self.retry_max >= self.retry_base && self.retry_max <= 86_400,
            "backchannel_logout: retry_base must be at least 1 second and retry_max between retry_base and 86400"
        );
        anyhow::ensure!(
            (1..=1024).contains(&self.concurrency),
            "backchannel_logout.concurrency must be between 1 and 1024"
        );
        anyhow::ensure!(
            (10..=600).contains(&self.token_ttl),
            "backchannel_logout.token_ttl must be between 10 and 600 seconds"
        );
        Ok(LogoutConfig {
            timeout: Duration::from_millis(self.timeout_ms),
            max_attempts: self.max_attempts,
            retry_base: self.retry_base,
            retry_max: self.retry_max,
            concurrency: self.concurrency,
            token_ttl: self.token_ttl,
            ..LogoutConfig::default()
        })
    }
}
