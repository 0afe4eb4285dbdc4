//! `[limits]`: the failure rate limits of logins, TOTP codes and account
//! recovery (SECURITY.md: per account and per IP, never a permanent
//! lock-out). Each of `account`, `ip` and `totp` takes `allowance` (failures
//! within `window` seconds before a lock), `base_lock` (the first lock,
//! seconds, doubled per further failure) and `max_lock` (the longest lock,
//! seconds). A key left out keeps its default below.

use serde::Deserialize;
use tessera_actors::ratelimit::Policy;

/// Per account (user name or e-mail): a handful of tries, then locks of up
/// to a quarter of an hour.
pub const ACCOUNT: Policy = Policy {
    allowance: 5,
    window: 900,
    base_lock: 15,
    max_lock: 900,
};

/// Per client IP: enough for a busy office behind one address.
pub const IP: Policy = Policy {
    allowance: 30,
    window: 900,
    base_lock: 15,
    max_lock: 900,
};

/// Wrong TOTP codes per user: a six-digit code must not be guessable
/// within its window.
pub const TOTP: Policy = Policy {
    allowance: 5,
    window: 300,
    base_lock: 30,
    max_lock: 300,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub account: PolicySettings,
    pub ip: PolicySettings,
    pub totp: PolicySettings,
}

/// One policy; each value left unset keeps the policy's default (so the
/// defaults differ per policy, which one `Default` impl could not say).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    pub allowance: Option<u32>,
    pub window: Option<i64>,
    pub base_lock: Option<i64>,
    pub max_lock: Option<i64>,
}

impl PolicySettings {
    pub(super) fn over(&self, d: Policy) -> Policy {
        Policy {
            allowance: self.allowance.unwrap_or(d.allowance),
            window: self.window.unwrap_or(d.window),
            base_lock: self.base_lock.unwrap_or(d.base_lock),
            max_lock: self.max_lock.unwrap_or(d.max_lock),
        }
    }
}

impl LimitSettings {
    pub fn account(&self) -> Policy {
        self.account.over(ACCOUNT)
    }
    pub fn ip(&self) -> Policy {
        self.ip.over(IP)
    }
    pub fn totp(&self) -> Policy {
        self.totp.over(TOTP)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, p) in [
            ("account", self.account()),
            ("ip", self.ip()),
            ("totp", self.totp()),
        ] {
            anyhow::ensure!(
                p.allowance > 0 && p.window > 0 && p.base_lock > 0,
                "limits.{name}: allowance, window and base_lock must be positive"
            );
            anyhow::ensure!(
                p.max_lock >= p.base_lock,
                "limits.{name}: max_lock must be at least base_lock"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_values_keep_each_policys_default() {
        let mut s = LimitSettings::default();
        s.ip.allowance = Some(3);
        assert_eq!(s.ip().allowance, 3);
        assert_eq!(s.ip().window, IP.window);
        assert_eq!(s.totp().base_lock, TOTP.base_lock);
        assert!(s.validate().is_ok());
        s.totp.max_lock = Some(1);
        assert!(s.validate().is_err());
    }
}
