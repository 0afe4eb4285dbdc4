//! Values accepted once: DPoP proofs, and the `jti`s of client assertions
//! and request objects.
//!
//! Each is remembered by a 128-bit digest until the window in which it
//! could be accepted has passed. Memory is bounded: at `capacity` live
//! entries new values are refused (the caller answers
//! `temporarily_unavailable`) rather than forgetting one that could still
//! be replayed. With a database (`share`), each value is also claimed
//! there, so it works once across all the nodes and across restarts.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use aws_lc_rs::digest;
use dashmap::DashMap;

use crate::pg::single_use::OnceTable;

/// Why a value was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("it was already used")]
    Replayed,
    /// The cache is full or the database could not record the value.
    #[error("it could not be recorded; try again")]
    Unavailable,
}

pub struct SingleUse {
    /// The metric counting outcomes (`outcome` = accepted, replayed,
    /// cache_full, unavailable).
    metric: &'static str,
    table: OnceTable,
    capacity: usize,
    seen: DashMap<u128, i64>,
    /// About how many entries `seen` holds (exact after each sweep).
    held: AtomicUsize,
    claims: AtomicU64,
    /// When `seen` was last swept (seconds).
    swept_at: AtomicI64,
    shared: OnceLock<crate::pg::Pg>,
}

/// The first 16 bytes of SHA-256 over `parts` joined by spaces.
pub fn digest_of(parts: &[&[u8]]) -> u128 {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            ctx.update(b" ");
        }
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 16];
    for (o, i) in out.iter_mut().zip(d.as_ref()) {
        *o = *i;
    }
    u128::from_be_bytes(out)
}

impl SingleUse {
    pub fn new(metric: &'static str, table: OnceTable, capacity: usize) -> SingleUse {
        SingleUse {
            metric,
            table,
            capacity,
            seen: DashMap::new(),
            held: AtomicUsize::new(0),
            claims: AtomicU64::new(0),
            swept_at: AtomicI64::new(i64::MIN),
            shared: OnceLock::new(),
        }
    }

    /// Claim values in the database too.
    pub fn share(&self, pg: &crate::pg::Pg) {
        let _ = self.shared.set(pg.clone());
    }

    /// Accept `key` once: it could be accepted until `until`, so it is
    /// remembered until then. `Err` when it was seen before (here, or on
    /// any node sharing the database).
    pub async fn claim(&self, key: u128, until: i64, now: i64) -> Result<(), Refused> {
        self.claim_here(key, until, now)?;
        if let Some(pg) = self.shared.get() {
            let claimed = pg
                .run(crate::pg::single_use::claim(
                    pg.pool().clone(),
                    self.table,
                    key,
                    until,
                    now,
                ))
                .await;
            match claimed {
                Ok(true) => {}
                Ok(false) => {
                    metrics::counter!(self.metric, "outcome" => "replayed").increment(1);
                    return Err(Refused::Replayed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, metric = self.metric, "a single-use value could not be recorded");
                    metrics::counter!(self.metric, "outcome" => "unavailable").increment(1);
                    return Err(Refused::Unavailable);
                }
            }
        }
        metrics::counter!(self.metric, "outcome" => "accepted").increment(1);
        Ok(())
    }

    fn claim_here(&self, key: u128, until: i64, now: i64) -> Result<(), Refused> {
        // Sweep now and then, and when the cache is full, but a full
        // cache at most once a second: a flood must not turn every claim
        // into a walk over the whole map.
        let n = self.claims.fetch_add(1, Ordering::Relaxed);
        let full = self.held.load(Ordering::Relaxed) >= self.capacity;
        let last = self.swept_at.load(Ordering::Relaxed);
        if (n % 4096 == 4095 || full)
            && last != now
            && self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.seen.retain(|_, until| *until >= now);
            self.held.store(self.seen.len(), Ordering::Relaxed);
        }
        if self.held.load(Ordering::Relaxed) >= self.capacity {
            metrics::counter!(self.metric, "outcome" => "cache_full").increment(1);
            return Err(Refused::Unavailable);
        }
        match self.seen.entry(key) {
            dashmap::mapref::entry::Entry::Occupied(mut e) => {
                if *e.get() >= now {
                    metrics::counter!(self.metric, "outcome" => "replayed").increment(1);
                    return Err(Refused::Replayed);
                }
                e.insert(until);
            }
            dashmap::mapref::entry::Entry::Vacant(e) => {
                e.insert(until);
                self.held.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Values remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_value_is_accepted_once_until_its_window_passes() {
        let s = SingleUse::new("test_single_use_total", OnceTable::UsedJtis, 10);
        let k = digest_of(&[b"client", b"jti-1"]);
        assert_eq!(s.claim(k, 100, 50).await, Ok(()));
        assert_eq!(s.claim(k, 100, 60).await, Err(Refused::Replayed));
        assert_eq!(s.claim(k, 100, 100).await, Err(Refused::Replayed));
        // Past its window it could not be accepted anyway: a new one.
        assert_eq!(s.claim(k, 200, 101).await, Ok(()));
        assert_ne!(k, digest_of(&[b"client j", b"ti-1"]));
    }

    #[actix_rt::test]
    async fn a_full_cache_refuses_rather_than_forgets() {
        let s = SingleUse::new("test_single_use_total", OnceTable::UsedJtis, 2);
        assert_eq!(s.claim(1, 100, 0).await, Ok(()));
        assert_eq!(s.claim(2, 100, 0).await, Ok(()));
        assert_eq!(s.claim(3, 100, 0).await, Err(Refused::Unavailable));
        assert_eq!(s.claim(1, 100, 1).await, Err(Refused::Unavailable));
        // Once the entries' windows pass, the sweep frees room.
        assert_eq!(s.claim(3, 300, 101).await, Ok(()));
        assert_eq!(s.remembered(), 1);
    }
}
