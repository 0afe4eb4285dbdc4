//! `[dpop]`: sender-constrained tokens (RFC 9449).
//!
//! - `require_nonce`: every DPoP proof at the token endpoint must carry a
//!   server nonce (`use_dpop_nonce` hands one out); per client with
//!   `dpop_require_nonce`.
//! - `max_age`, `max_skew`: a proof's `iat` may be this many seconds old,
//!   or ahead of the server's clock.
//! - `nonce_lifetime`: seconds a server nonce stays good.
//! - `nonce_secret`: the nonces' HMAC key. Nodes of a cluster that demand
//!   nonces need the same one (any node then accepts another's nonce);
//!   random per process when unset.
//! - `replay_cache_size`: most proofs remembered for single use at once;
//!   beyond it new proofs are refused with `503` until old ones age out.

use serde::Deserialize;
use tessera_actors::dpop::DpopConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpopSettings {
    pub require_nonce: bool,
    pub max_age: i64,
    pub max_skew: i64,
    pub nonce_lifetime: i64,
    pub nonce_secret: Option<String>,
    pub replay_cache_size: usize,
}

impl Default for DpopSettings {
    fn default() -> Self {
        let d = DpopConfig::default();
        DpopSettings {
            require_nonce: d.require_nonce,
            max_age: d.max_age,
            max_skew: d.max_skew,
            nonce_lifetime: d.nonce_lifetime,
            nonce_secret: None,
            replay_cache_size: d.replay_cache_size,
        }
    }
}

impl DpopSettings {
    pub fn config(&self) -> anyhow::Result<DpopConfig> {
        anyhow::ensure!(
            (1..=3600).contains(&self.max_age),
            "dpop.max_age must be between 1 and 3600 seconds"
        );
        anyhow::ensure!(
            (0..=300).contains(&self.max_skew),
            "dpop.max_skew must be between 0 and 300 seconds"
        );
        anyhow::ensure!(
            (1..=86400).contains(&self.nonce_lifetime),
            "dpop.nonce_lifetime must be between 1 and 86400 seconds"
        );
        anyhow::ensure!(
            self.replay_cache_size >= 1000,
            "dpop.replay_cache_size must be at least 1000"
        );
        if let Some(s) = &self.nonce_secret {
            anyhow::ensure!(
                s.len() >= 32,
                "dpop.nonce_secret must be at least 32 characters"
            );
        }
        Ok(DpopConfig {
            max_age: self.max_age,
            max_skew: self.max_skew,
            require_nonce: self.require_nonce,
            nonce_lifetime: self.nonce_lifetime,
            replay_cache_size: self.replay_cache_size,
            nonce_secret: self.nonce_secret.clone(),
        })
    }
}
