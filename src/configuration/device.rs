//! `[device]`: the device authorization grant (RFC 8628).
//!
//! - `expires_in`: seconds a device code and its user code live (60 to
//!   1800).
//! - `interval`: the seconds a device waits between polls at first (1 to
//!   60); each poll that comes sooner gets `slow_down` and 5 s more.
//! - `ip`, `session`: how many wrong user codes may be entered, per client
//!   IP and per browser session, before a lock (`allowance` within
//!   `window` seconds, then `base_lock` seconds doubling up to
//!   `max_lock`, as in `[limits]`). With 20^8 codes and a few hundred
//!   live at once, these keep a guess at a code someone else is about to
//!   approve out of reach (RFC 8628 §5.1).

use serde::Deserialize;
use tessera_actors::ratelimit::Policy;

use super::PolicySettings;

/// Wrong user codes per client IP.
pub const USER_CODE_IP: Policy = Policy {
    allowance: 10,
    window: 900,
    base_lock: 30,
    max_lock: 900,
};

/// Wrong user codes per browser session.
pub const USER_CODE_SESSION: Policy = Policy {
    allowance: 5,
    window: 900,
    base_lock: 30,
    max_lock: 900,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    pub expires_in: i64,
    pub interval: i64,
    pub ip: PolicySettings,
    pub session: PolicySettings,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            expires_in: 600,
            interval: 5,
            ip: PolicySettings::default(),
            session: PolicySettings::default(),
        }
    }
}

impl DeviceSettings {
    /// The policy for wrong user codes per IP.
    pub fn ip_policy(&self) -> Policy {
        self.ip.over(USER_CODE_IP)
    }

    /// The policy for wrong user codes per browser session.
    pub fn session_policy(&self) -> Policy {
        self.session.over(USER_CODE_SESSION)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (60..=1800).contains(&self.expires_in),
            "device.expires_in must be between 60 and 1800 seconds"
        );
        anyhow::ensure!(
            (1..=60).contains(&self.interval),
            "device.interval must be between 1 and 60 seconds"
        );
        for (name, p) in [("ip", self.ip_policy()), ("session", self.session_policy())] {
            anyhow::ensure!(
                p.allowance > 0 && p.window > 0 && p.base_lock > 0,
                "device.{name}: allowance, window and base_lock must be positive"
            );
            anyhow::ensure!(
                p.max_lock >= p.base_lock,
                "device.{name}: max_lock must be at least base_lock"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_hold() {
        let mut s = DeviceSettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.ip_policy().allowance, USER_CODE_IP.allowance);
        s.session.allowance = Some(2);
        assert_eq!(s.session_policy().allowance, 2);
        assert_eq!(s.session_policy().window, USER_CODE_SESSION.window);
        s.interval = 0;
        assert!(s.validate().is_err());
        s.interval = 5;
        s.expires_in = 10;
        assert!(s.validate().is_err());
    }
}
