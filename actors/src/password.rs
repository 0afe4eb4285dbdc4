//! Password hashing on a bounded pool. argon2id costs ~15-20 ms of CPU per
//! call, so it never runs on an actor or HTTP worker thread: a semaphore
//! admits as many hashes as there are cores onto tokio's blocking pool, a
//! bounded number wait, and the rest are refused at once (`Busy` → 503).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the password pool is saturated; try again shortly")]
    Busy,
    #[error("password hashing failed")]
    Failed,
}

/// Longest password accepted (bytes). argon2 hashes all of it: nothing is
/// truncated; the bound only stops absurd inputs.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Check a new password against the policy; returns a human reason.
pub fn check_policy(pw: &str) -> Result<(), &'static str> {
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err("the password must be at least 8 characters");
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err("the password must be at most 1024 bytes");
    }
    Ok(())
}

pub struct PasswordPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    params: Params,
    /// Verified when the user is unknown, so that answer takes as long as a
    /// wrong password.
    dummy_hash: String,
}

impl PasswordPool {
    /// `workers` hashes run at once; at most `max_waiting` more may queue.
    pub fn new(workers: usize, max_waiting: usize) -> PasswordPool {
        // OWASP minimum for argon2id: m=19456 KiB, t=2, p=1 (argon2 0.6 default).
        let params = Params::default();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = argon
            .hash_password(b"tessera-dummy-password-for-timing")
            .map(|h| h.to_string())
            .unwrap_or_default();
        PasswordPool {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            params,
            dummy_hash,
        }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes queued or running right now.
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let depth = self.waiting.fetch_add(1, Ordering::AcqRel);
        if depth >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("tessera_password_pool_rejected_total").increment(1);
            return Err(PoolError::Busy);
        }
        metrics::gauge!("tessera_password_pool_queue_depth").set((depth + 1) as f64);
        let queued = Instant::now();
        let permit = self.permits.clone().acquire_owned().await;
        metrics::histogram!("tessera_password_pool_wait_seconds")
            .record(queued.elapsed().as_secs_f64());
        let result = match permit {
            Ok(p) => tokio::task::spawn_blocking(move || {
                lower_priority();
                let r = f();
                drop(p);
                r
            })
            .await
            .map_err(|_| PoolError::Failed),
            Err(_) => Err(PoolError::Failed),
        };
        let left = self.waiting.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("tessera_password_pool_queue_depth").set(left.saturating_sub(1) as f64);
        result
    }

    /// Hash a password into an argon2id PHC string.
    pub async fn hash(&self, password: String) -> Result<String, PoolError> {
        let argon = self.argon();
        self.run(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|_| PoolError::Failed)
    }

    /// Verify a password against a stored hash, or against a dummy hash
    /// when there is no user (`None`), so both answers cost the same.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PoolError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let argon = self.argon();
        let ok = self
            .run(move || match PasswordHash::new(&phc) {
                Ok(h) => argon.verify_password(password.as_bytes(), &h).is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(ok && known)
    }
}

/// Run this (blocking-pool) thread at the lowest scheduling priority. An
/// argon2 computation is ~20 ms of pure CPU; at normal priority a storm of
/// them takes every core and introspection answers wait behind them. At the
/// lowest priority they use whatever the request threads leave, which on an
/// idle server is all of it. The threads of the blocking pool only ever run
/// password work, so the priority is set once and kept.
fn lower_priority() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    LOWERED.with(|done| {
        if !done.get() {
            if let Err(e) =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
            {
                tracing::debug!(error = ?e, "could not lower the password thread's priority");
            }
            done.set(true);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pool = PasswordPool::new(2, 8);
        let long = "p".repeat(1000);
        let h = pool.hash(long.clone()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(pool.verify(long.clone(), Some(h.clone())).await.unwrap());
        // Not truncated: a prefix of a long password does not verify.
        assert!(!pool.verify("p".repeat(999), Some(h.clone())).await.unwrap());
        assert!(!pool.verify(long, None).await.unwrap());
    }

    #[actix_rt::test]
    async fn a_full_pool_refuses_instead_of_queueing() {
        let pool = Arc::new(PasswordPool::new(1, 2));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let p = pool.clone();
            tasks.push(actix_rt::spawn(async move {
                p.hash("password123".into()).await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            if t.await.unwrap() == Err(PoolError::Busy) {
                busy += 1;
            }
        }
        assert!(busy >= 5, "only {busy} refused");
    }
}
