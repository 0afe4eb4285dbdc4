//! Ceilings measured without HTTP: the signing rate of a pre-parsed key and
//! the argon2id verify rate of the server's own password pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::Serialize;
use tessera_actors::clock::{Clock, SystemClock};
use tessera_actors::keys::material::{generate, JwtType, KeyAlg, Signer};
use tessera_actors::password::PasswordPool;

use crate::measure::{process_cpu_secs, process_minor_faults};
use crate::{LOGIN_PASSWORD, RAW_VERIFY_SECS};

/// Tokens per second signed with a pre-parsed key by `threads` threads at
/// once, each signing in a tight loop for about a second.
pub(crate) fn signing_rate(alg: KeyAlg, threads: usize) -> anyhow::Result<f64> {
    #[derive(Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        client_id: &'a str,
        scope: &'a str,
        jti: String,
        iat: i64,
        nbf: i64,
        exp: i64,
    }
    let g = generate(alg).map_err(|e| anyhow!("{e}"))?;
    let signer =
        Signer::new(&g.public.thumbprint(), alg, &g.private_der).map_err(|e| anyhow!("{e}"))?;
    let now = SystemClock.now();
    let claims = Claims {
        iss: "http://127.0.0.1:8080",
        sub: "loadtest",
        aud: "loadtest",
        client_id: "loadtest",
        scope: "read write",
        jti: uuid::Uuid::new_v4().hyphenated().to_string(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    };
    let sign_for_a_second = || -> anyhow::Result<(u64, f64)> {
        let sign = || {
            signer
                .sign(JwtType::AccessToken, &claims)
                .map_err(|e| anyhow!("{e}"))
        };
        for _ in 0..50 {
            sign()?;
        }
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(1) {
            for _ in 0..50 {
                std::hint::black_box(sign()?);
            }
            n += 50;
        }
        Ok((n, started.elapsed().as_secs_f64()))
    };
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads.max(1))
            .map(|_| scope.spawn(sign_for_a_second))
            .collect();
        let mut rate = 0.0;
        for r in running {
            let (n, secs) = r
                .join()
                .map_err(|_| anyhow!("a signing thread panicked"))??;
            rate += n as f64 / secs;
        }
        Ok(rate)
    })
}

/// A raw argon2id verify rate and the parameters it was measured with.
pub(crate) struct VerifyRate {
    pub(crate) rate: f64,
    /// As the PHC string names them, e.g. `argon2id v=19 m=19456,t=2,p=1`.
    pub(crate) params: String,
    /// Process CPU milliseconds per verify.
    pub(crate) cpu_ms: f64,
    /// Minor page faults of the process per verify.
    pub(crate) faults: f64,
}

/// Verifications per second by `threads` threads at once, each verifying
/// in a loop for [`RAW_VERIFY_SECS`]. It goes through a `PasswordPool` of
/// its own (`threads` at once, nobody else queued), so the parameters and
/// the verify call are exactly the server's; the pool's own overhead is a
/// semaphore and a `spawn_blocking`, microseconds against milliseconds.
pub(crate) fn verify_rate(
    rt: &tokio::runtime::Runtime,
    threads: usize,
) -> anyhow::Result<VerifyRate> {
    let threads = threads.max(1);
    rt.block_on(async {
        let pool = Arc::new(PasswordPool::new(threads, threads));
        let hash = pool
            .hash(LOGIN_PASSWORD.to_string())
            .await
            .map_err(|e| anyhow!("argon2id hash: {e}"))?;
        let params = hash
            .split('$')
            .skip(1)
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let cpu_before = process_cpu_secs();
        let faults_before = process_minor_faults();
        let running: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, hash) = (pool.clone(), hash.clone());
                tokio::spawn(async move {
                    let verify = || async {
                        match pool
                            .verify(LOGIN_PASSWORD.to_string(), Some(hash.clone()))
                            .await
                        {
                            Ok(true) => Ok(()),
                            Ok(false) => Err(anyhow!("the load-test password does not verify")),
                            Err(e) => Err(anyhow!("argon2id verify: {e}")),
                        }
                    };
                    verify().await?;
                    let started = Instant::now();
                    let mut n = 0u64;
                    while started.elapsed().as_secs_f64() < RAW_VERIFY_SECS {
                        verify().await?;
                        n += 1;
                    }
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    // The warm-up verify counts for CPU and page faults.
                    Ok::<_, anyhow::Error>((n + 1, rate))
                })
            })
            .collect();
        let mut rate = 0.0;
        let mut verifies = 0;
        for r in running {
            let (n, r) = r.await??;
            rate += r;
            verifies += n;
        }
        Ok(VerifyRate {
            rate,
            params,
            cpu_ms: 1000.0 * (process_cpu_secs() - cpu_before) / verifies.max(1) as f64,
            faults: process_minor_faults().saturating_sub(faults_before) as f64
                / verifies.max(1) as f64,
        })
    })
}
