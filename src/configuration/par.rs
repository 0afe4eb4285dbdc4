//! `[par]`: pushed authorization requests (RFC 9126) and request objects
//! (RFC 9101).
//!
//! - `required`: every client must push its authorization requests (per
//!   client: `require_pushed_authorization_requests`).
//! - `lifetime`: seconds a pushed `request_uri` waits for the browser
//!   (`expires_in`, at most 60).
//! - `login_window`: once a browser has brought a request, seconds it
//!   stays usable by that browser (login, second factor, consent).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParSettings {
    pub required: bool,
    pub lifetime: i64,
    pub login_window: i64,
}

impl Default for ParSettings {
    fn default() -> Self {
        ParSettings {
            required: false,
            lifetime: 60,
            login_window: 1800,
        }
    }
}

impl ParSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (5..=60).contains(&self.lifetime),
            "par.lifetime must be between 5 and 60 seconds"
        );
        anyhow::ensure!(
            (60..=86400).contains(&self.login_window),
            "par.login_window must be between 60 and 86400 seconds"
        );
        Ok(())
    }
}
