//! `[client_auth]`: clients that authenticate with a JWT (RFC 7523,
//! OIDC Core §9) and the keys they register.
//!
//! - `assertion_max_lifetime`: longest a client assertion (or a request
//!   object) may live, seconds: its `exp` at most this far past its `iat`.
//! - `leeway`: clock skew allowed on `exp`, `nbf` and `iat`, seconds.
//! - `replay_cache_size`: most `jti`s remembered at once for single use;
//!   beyond it new assertions are refused with `503` until old ones expire.
//! - `jwks_timeout`, `jwks_max_bytes`: a `jwks_uri` fetch is abandoned
//!   after this many seconds or bytes.
//! - `jwks_cache_seconds`: a fetched JWK Set is used this long before it
//!   is fetched again.
//! - `jwks_refetch_interval`: an assertion naming a `kid` the cached set
//!   lacks fetches the set again, at most once per this many seconds.
//! - `allow_http_jwks_uri`: fetch `http://` JWK Sets from loopback
//!   addresses (development and tests); otherwise only `https://`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientAuthSettings {
    pub assertion_max_lifetime: i64,
    pub leeway: i64,
    pub replay_cache_size: usize,
    pub jwks_timeout: u64,
    pub jwks_max_bytes: usize,
    pub jwks_cache_seconds: i64,
    pub jwks_refetch_interval: i64,
    pub allow_http_jwks_uri: bool,
}

impl Default for ClientAuthSettings {
    fn default() -> Self {
        ClientAuthSettings {
            assertion_max_lifetime: 300,
            leeway: 5,
            replay_cache_size: 1_000_000,
            jwks_timeout: 5,
            jwks_max_bytes: 64 * 1024,
            jwks_cache_seconds: 300,
            jwks_refetch_interval: 60,
            allow_http_jwks_uri: false,
        }
    }
}

impl ClientAuthSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (10..=3600).contains(&self.assertion_max_lifetime),
            "client_auth.assertion_max_lifetime must be between 10 and 3600 seconds"
        );
        anyhow::ensure!(
            (0..=300).contains(&self.leeway),
            "client_auth.leeway must be between 0 and 300 seconds"
        );
        anyhow::ensure!(
            self.replay_cache_size >= 1000,
            "client_auth.replay_cache_size must be at least 1000"
        );
        anyhow::ensure!(
            (1..=60).contains(&self.jwks_timeout),
            "client_auth.jwks_timeout must be between 1 and 60 seconds"
        );
        anyhow::ensure!(
            (1024..=1024 * 1024).contains(&self.jwks_max_bytes),
            "client_auth.jwks_max_bytes must be between 1 KiB and 1 MiB"
        );
        anyhow::ensure!(
            (1..=86400).contains(&self.jwks_cache_seconds),
            "client_auth.jwks_cache_seconds must be between 1 and 86400"
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.jwks_refetch_interval),
            "client_auth.jwks_refetch_interval must be between 1 and 3600 seconds"
        );
        Ok(())
    }
}
