//! Password hashing on a bounded pool. argon2id costs ~15-20 ms of CPU per
//! call, so it never runs on an actor or HTTP worker thread: the pool owns
//! its own hashing threads (as many as there are cores by default), each in
//! the idle scheduling class and each keeping its 19 MiB of argon2 memory
//! from one verify to the next. A semaphore admits one hash per thread, a
//! bounded number wait, and the rest are refused at once (`Busy` → 503).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{oneshot, Semaphore};

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

/// The work a hashing thread does for one request. It gets the thread's
/// reusable argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

pub struct PasswordPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    params: Params,
    /// Verified when the user is unknown, so that answer takes as long as a
    /// wrong password.
    dummy_hash: String,
    /// argon2 computations finished by `verify` (real or dummy hash alike).
    verifications: Arc<AtomicU64>,
    /// Feeds the hashing threads. Never holds more jobs than there are
    /// permits, so it needs no bound of its own. The threads end when the
    /// pool (and with it this sender) is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
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
        let workers = workers.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for n in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tessera-argon2-{n}"))
                .spawn(move || hashing_thread(&rx));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "could not start a password hashing thread"),
            }
        }
        PasswordPool {
            // Admit no more hashes at once than there are threads to run them.
            permits: Arc::new(Semaphore::new(started)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            params,
            dummy_hash,
            verifications: Arc::new(AtomicU64::new(0)),
            jobs: Mutex::new(tx),
        }
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// How many argon2 verifications have run to the end, whether against
    /// a user's hash or the dummy one: what makes an unknown login cost what
    /// a wrong password does.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Hashes queued or running right now.
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
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
            Ok(permit) => {
                let (tx, rx) = oneshot::channel();
                let job: Job = Box::new(move |memory| {
                    let r = f(memory);
                    // The permit goes back as soon as the thread is free,
                    // before the caller's task has even woken up.
                    drop(permit);
                    let _ = tx.send(r);
                });
                let sent = match self.jobs.lock() {
                    Ok(jobs) => jobs.send(job).is_ok(),
                    Err(_) => false,
                };
                if sent {
                    rx.await.map_err(|_| PoolError::Failed)
                } else {
                    Err(PoolError::Failed)
                }
            }
            Err(_) => Err(PoolError::Failed),
        };
        let left = self.waiting.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("tessera_password_pool_queue_depth").set(left.saturating_sub(1) as f64);
        result
    }

    /// Hash a password into an argon2id PHC string.
    pub async fn hash(&self, password: String) -> Result<String, PoolError> {
        let argon = self.argon();
        self.run(move |_| {
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
        let count = self.verifications.clone();
        let ok = self
            .run(move |memory| verify_with_memory(password.as_bytes(), &phc, memory, &count))
            .await?;
        Ok(ok && known)
    }
}

/// Verify `password` against the PHC string `phc`, computing argon2 in
/// `memory` (grown to the hash's memory cost if it is smaller, and kept for
/// the next call). That is what `PasswordVerifier::verify_password` does,
/// minus a fresh 19 MiB allocation (and its page faults) per call. Any
/// malformed or unsupported hash verifies nothing.
fn verify_with_memory(
    password: &[u8],
    phc: &str,
    memory: &mut Vec<Block>,
    verifications: &AtomicU64,
) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let Some(memory) = memory.get_mut(..blocks) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password, salt.as_ref(), &mut computed, memory)
        .is_err()
    {
        return false;
    }
    verifications.fetch_add(1, Ordering::Relaxed);
    computed.ct_eq(expected.as_bytes()).into()
}

/// One hashing thread: lower its scheduling class once, then run jobs until
/// the pool is dropped. A job that panics loses only its own answer (the
/// caller gets `Failed`); the thread and its memory carry on.
fn hashing_thread(jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
        if std::panic::catch_unwind(run).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

/// Run this hashing thread in the idle scheduling class (`SCHED_IDLE`),
/// falling back to the lowest nice level where that is refused. An argon2
/// computation is ~20 ms of pure CPU; at normal priority a storm of them
/// takes every core and introspection answers wait behind them. Even at
/// nice 19 a hashing thread keeps a share of the CPU against busy request
/// threads and delays their answers by whole time slices; an idle-class
/// thread runs only on a core nothing else wants, which on a quiet server
/// is every core.
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let idle = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(e) = idle {
        tracing::debug!(error = ?e, "SCHED_IDLE refused; lowering the nice level instead");
        if let Err(e) =
            thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
        {
            tracing::debug!(error = ?e, "could not lower the password thread's priority");
        }
    }
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
    async fn an_unknown_user_costs_one_full_verification_like_a_wrong_password() {
        let pool = PasswordPool::new(1, 8);
        // The dummy hash has the cost of every hash the pool makes.
        let real = pool.hash("the real password".into()).await.unwrap();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&pool.dummy_hash), params(&real));
        assert!(pool
            .dummy_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(pool.verifications(), 0);
        assert!(!pool
            .verify("wrong".into(), Some(real.clone()))
            .await
            .unwrap());
        assert_eq!(pool.verifications(), 1);
        assert!(!pool.verify("wrong".into(), None).await.unwrap());
        assert_eq!(pool.verifications(), 2, "the dummy hash was computed too");
        assert!(pool
            .verify("the real password".into(), Some(real))
            .await
            .unwrap());
        assert_eq!(pool.verifications(), 3);
        // A malformed hash costs nothing and counts nothing.
        assert!(!pool
            .verify("x".into(), Some("$argon2id$x".into()))
            .await
            .unwrap());
        assert_eq!(pool.verifications(), 3);
    }

    #[actix_rt::test]
    async fn verifies_hashes_of_other_parameters_with_reused_memory() {
        let pool = PasswordPool::new(1, 8);
        // A smaller and a larger memory cost than the pool's own, in turn,
        // on the same thread: the memory grows and is reused.
        for m in [8_192u32, 32_768, 8_192] {
            let params = Params::new(m, 2, 1, None).unwrap();
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let h = argon.hash_password(b"correct horse").unwrap().to_string();
            assert!(pool
                .verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap());
            assert!(!pool.verify("correct horsf".into(), Some(h)).await.unwrap());
        }
        // argon2i and argon2d hashes verify too (the stored algorithm wins).
        for alg in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let argon = Argon2::new(alg, Version::V0x10, Params::new(8_192, 1, 1, None).unwrap());
            let h = argon.hash_password(b"old scheme").unwrap().to_string();
            assert!(pool.verify("old scheme".into(), Some(h)).await.unwrap());
        }
    }

    #[actix_rt::test]
    async fn a_malformed_stored_hash_verifies_nothing() {
        let pool = PasswordPool::new(1, 8);
        let good = pool.hash("password123".into()).await.unwrap();
        let cut = good.get(..good.len() - 10).unwrap().to_string();
        for bad in [
            String::new(),
            "not a hash".to_string(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA".to_string(),
            "$argon2id$v=99$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_string(),
            "$bcrypt$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_string(),
            cut,
        ] {
            assert!(
                !pool
                    .verify("password123".into(), Some(bad.clone()))
                    .await
                    .unwrap(),
                "{bad}"
            );
        }
        // The pool still works after all of that.
        assert!(pool.verify("password123".into(), Some(good)).await.unwrap());
    }

    #[actix_rt::test]
    async fn hashing_threads_run_in_the_idle_scheduling_class() {
        let pool = PasswordPool::new(2, 8);
        let policy = pool
            .run(|_| thread_priority::unix::thread_schedule_policy())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            policy,
            thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle
            )
        );
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
