//! Failure-based rate limiting for logins, TOTP and recovery attempts.
//!
//! Each key (an account, an IP) counts failures in a window. Past the
//! allowance, the key is locked for a back-off that doubles with each
//! further failure, capped, so a stranger hammering a victim's account can
//! delay that account by at most the cap at a time, never lock it forever;
//! a success clears the key. State is in memory by design: a restart
//! forgets it, which only ever unlocks.

use dashmap::DashMap;

use crate::clock::SharedClock;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed within `window` before locking.
    pub allowance: u32,
    /// Seconds over which failures are counted.
    pub window: i64,
    /// First lock, seconds; doubles per further failure.
    pub base_lock: i64,
    /// Longest lock, seconds.
    pub max_lock: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    window_start: i64,
    locked_until: i64,
}

pub struct RateLimiter {
    policy: Policy,
    clock: SharedClock,
    map: DashMap<String, Entry>,
}

impl RateLimiter {
    pub fn new(policy: Policy, clock: SharedClock) -> RateLimiter {
        RateLimiter {
            policy,
            clock,
            map: DashMap::new(),
        }
    }

    /// `Err(seconds)` while `key` is locked: answer 429 with `Retry-After`.
    pub fn check(&self, key: &str) -> Result<(), i64> {
        let now = self.clock.now();
        match self.map.get(key) {
            Some(e) if e.locked_until > now => Err(e.locked_until - now),
            _ => Ok(()),
        }
    }

    /// Record a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = self.clock.now();
        let p = self.policy;
        let mut e = self.map.entry(key.to_string()).or_default();
        if now - e.window_start > p.window {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures > p.allowance {
            let over = (e.failures - p.allowance - 1).min(20);
            let lock = p.base_lock.saturating_mul(1i64 << over).min(p.max_lock);
            e.locked_until = now + lock;
        }
    }

    /// A success clears `key`.
    pub fn succeed(&self, key: &str) {
        self.map.remove(key);
    }

    /// Keys remembered now (failing or locked).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forget keys idle for longer than the window (called periodically).
    pub fn prune(&self) {
        let now = self.clock.now();
        let w = self.policy.window;
        self.map
            .retain(|_, e| e.locked_until > now || now - e.window_start <= w);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn locks_after_the_allowance_with_capped_backoff_and_unlocks() {
        let clock = ManualClock::default();
        let rl = RateLimiter::new(
            Policy {
                allowance: 3,
                window: 900,
                base_lock: 30,
                max_lock: 120,
            },
            Arc::new(clock.clone()),
        );
        for _ in 0..3 {
            assert!(rl.check("a").is_ok());
            rl.fail("a");
        }
        assert!(rl.check("a").is_ok());
        rl.fail("a");
        assert_eq!(rl.check("a"), Err(30));
        rl.fail("a");
        assert_eq!(rl.check("a"), Err(60));
        for _ in 0..10 {
            rl.fail("a");
        }
        assert_eq!(rl.check("a"), Err(120), "capped");
        assert!(rl.check("b").is_ok(), "keys are independent");
        clock.advance(121);
        assert!(rl.check("a").is_ok(), "never locked forever");
        rl.succeed("a");
        rl.fail("a");
        assert!(rl.check("a").is_ok());
    }

    #[test]
    fn prune_forgets_idle_keys_and_keeps_locked_ones() {
        let clock = ManualClock::default();
        let rl = RateLimiter::new(
            Policy {
                allowance: 1,
                window: 60,
                base_lock: 600,
                max_lock: 600,
            },
            Arc::new(clock.clone()),
        );
        rl.fail("idle");
        rl.fail("locked");
        rl.fail("locked");
        assert!(rl.check("locked").is_err());
        assert_eq!(rl.len(), 2);
        clock.advance(61);
        rl.prune();
        assert_eq!(rl.len(), 1, "the idle key is forgotten");
        assert!(rl.check("locked").is_err(), "a lock outlives its window");
        clock.advance(600);
        rl.prune();
        assert!(rl.is_empty());
    }
}
