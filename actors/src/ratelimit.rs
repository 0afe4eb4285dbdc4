//! Failure-based rate limiting for logins, TOTP and recovery attempts.
//!
//! Each key (an account, an IP) counts failures in a window. Past the
//! allowance, the key is locked for a back-off that doubles with each
//! further failure, capped, so a stranger hammering a victim's account can
//! delay that account by at most the cap at a time, never lock it forever;
//! a success clears the key. State is in memory by design: a restart
//! forgets it, which only ever unlocks.
//!
//! On a cluster node a limiter is *shared*: each failure is also counted
//! in the database (one row per key, updated in one statement, so nodes
//! racing add up), and the row rides the change feed to every node's
//! memory. N nodes then allow an attacker the attempts of one, give or
//! take those within the feed's latency; checks still read memory.

use std::sync::{Arc, OnceLock};

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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Entry {
    pub(crate) failures: u32,
    pub(crate) window_start: i64,
    pub(crate) locked_until: i64,
}

impl Policy {
    /// The lock after `failures` failures in a window (0: none).
    pub(crate) fn lock_for(&self, failures: u32, now: i64) -> i64 {
        if failures > self.allowance {
            let over = (failures - self.allowance - 1).min(20);
            now + self
                .base_lock
                .saturating_mul(1i64 << over)
                .min(self.max_lock)
        } else {
            0
        }
    }
}

/// The shared state's table on the change feed.
pub const SHARED_TABLE: &str = "login_failures";

pub struct RateLimiter {
    policy: Policy,
    clock: SharedClock,
    map: Arc<DashMap<String, Entry>>,
    /// A cluster node's database, and this limiter's name in it.
    shared: OnceLock<(crate::pg::Pg, &'static str)>,
}

impl RateLimiter {
    pub fn new(policy: Policy, clock: SharedClock) -> RateLimiter {
        RateLimiter {
            policy,
            clock,
            map: Arc::new(DashMap::new()),
            shared: OnceLock::new(),
        }
    }

    /// Count failures in the cluster's database too, under `name` (each
    /// limiter of a node has its own).
    pub fn share(&self, pg: &crate::pg::Pg, name: &'static str) {
        let _ = self.shared.set((pg.clone(), name));
    }

    /// The name this limiter's rows carry, when shared.
    pub fn shared_name(&self) -> Option<&'static str> {
        self.shared.get().map(|(_, n)| *n)
    }

    /// A row another node changed (`key` without the limiter's name).
    pub fn apply(&self, key: &str, row: Option<&[u8]>) {
        match row.map(crate::store::decode::<Entry>) {
            Some(Ok(e)) => merge(&self.map, key, e),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a failure count from the feed could not be read")
            }
            None => {
                self.map.remove(key);
            }
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
            e.locked_until = p.lock_for(e.failures, now);
        }
        drop(e);
        if let Some((pg, name)) = self.shared.get() {
            let (map, key, pool) = (self.map.clone(), key.to_string(), pg.pool().clone());
            let (origin, row) = (pg.origin().unwrap_or(0), format!("{name}/{key}"));
            let _ = pg.spawn_task(async move {
                match crate::pg::limits::fail(&pool, origin, &row, p, now).await {
                    // The count of every node: what this one knows from now.
                    Ok(e) => merge(&map, &key, e),
                    Err(e) => {
                        tracing::warn!(error = %e, "a failure could not be counted in the database")
                    }
                }
            });
        }
    }

    /// A success clears `key`.
    pub fn succeed(&self, key: &str) {
        let had = self.map.remove(key).is_some();
        if let (true, Some((pg, name))) = (had, self.shared.get()) {
            let (pool, origin, row) = (
                pg.pool().clone(),
                pg.origin().unwrap_or(0),
                format!("{name}/{key}"),
            );
            let _ = pg.spawn_task(async move {
                if let Err(e) = crate::pg::limits::succeed(&pool, origin, &row).await {
                    tracing::warn!(error = %e, "a cleared failure count could not be written");
                }
            });
        }
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

/// Keep the newer of two counts of `key`: a later window, or more
/// failures in the same one (answers may arrive out of order).
fn merge(map: &DashMap<String, Entry>, key: &str, db: Entry) {
    map.entry(key.to_string())
        .and_modify(|e| {
            if db.window_start > e.window_start
                || (db.window_start == e.window_start && db.failures >= e.failures)
            {
                *e = db;
            } else {
                e.locked_until = e.locked_until.max(db.locked_until);
            }
        })
        .or_insert(db);
}

/// Hand a shared row from the feed (`<limiter>/<key>`) to its limiter.
pub fn route(limiters: &[&RateLimiter], id: &[u8], row: Option<&[u8]>) {
    let Ok(id) = std::str::from_utf8(id) else {
        return;
    };
    let Some((name, key)) = id.split_once('/') else {
        return;
    };
    if let Some(l) = limiters.iter().find(|l| l.shared_name() == Some(name)) {
        l.apply(key, row);
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
