//! `--scenario startup`: how long a server takes to start with `--tokens`
//! live opaque access tokens in its store, and what it then holds in RSS,
//! on sled and on PostgreSQL in the same run.
//!
//! For each backend: the tokens are issued durably through the engine (the
//! `Record` message every opaque issuance uses, in batches), that server is
//! stopped, and the real `tessera serve` binary is started over the same
//! store as a child process. The time is from spawning it to its
//! "listening" line (printed once every owner has loaded its state), the
//! RSS is the child's `VmRSS` then, and one seeded token is introspected
//! through it to show the load was real.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail};
use tessera::configuration::{Backend, Settings};
use tessera::startup::Application;
use tessera_actors::clock::{Clock, SystemClock};
use tessera_actors::directory::{ClientSpec, CreateClient};
use tessera_actors::secret::{self, prefix};
use tessera_actors::tokens::{Grant, NewToken, Record, TokenKind};

use crate::database::BenchDb;
use crate::opts::Opts;
use crate::SEED_BATCH;

const ADMIN_TOKEN: &str = "startup-bench-admin-token-0123456789abcdef";

pub(crate) fn startup(opts: &Opts) -> anyhow::Result<()> {
    println!(
        "startup: {} live opaque access tokens, written durably, then `tessera serve` started over them",
        opts.tokens
    );
    for backend in [Backend::Sled, Backend::Postgres] {
        let dir = tempfile::tempdir()?;
        let db = match backend {
            Backend::Postgres => Some(BenchDb::create(&opts.database_url)?),
            Backend::Sled => None,
        };
        let mut settings = Settings {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            workers: Some(opts.workers),
            admin_token: Some(ADMIN_TOKEN.into()),
            ..Settings::default()
        };
        settings.store.backend = backend;
        settings.store.database_url = db.as_ref().map(|d| d.url.clone());
        let name = format!("{backend:?}").to_lowercase();
        let started = Instant::now();
        let (client, sample) = seed(settings.clone(), opts.tokens)?;
        let seed_secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: {} tokens written durably in {seed_secs:.1} s ({:.0}/s)",
            opts.tokens,
            opts.tokens as f64 / seed_secs.max(1e-9)
        );
        let (secs, rss, active) = start_child(&settings, &client, &sample, dir.path())?;
        println!(
            "{name}: start-up with {} live tokens: {secs:.2} s to listening, RSS {:.0} MiB ({:.0} B per token), a seeded token introspects active: {active}",
            opts.tokens,
            rss as f64 / 1048576.0,
            rss as f64 / opts.tokens.max(1) as f64
        );
        if !active {
            bail!("{name}: a seeded token was not active after the restart");
        }
        drop(db);
    }
    Ok(())
}

/// Issue `n` opaque tokens durably through an in-process server over
/// `settings`; answers the client (id, secret) and one token.
fn seed(settings: Settings, n: usize) -> anyhow::Result<((String, String), String)> {
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let app = Application::build(settings).await?;
            let engine = app.engine().clone();
            let spec = ClientSpec {
                client_id: Some("startup".into()),
                scope: Some("read".into()),
                ..ClientSpec::default()
            };
            let (c, s) = engine.directory.send(CreateClient(spec)).await??;
            let secret = s.ok_or_else(|| anyhow!("the client has no secret"))?;
            let grant = Grant {
                client_id: c.client_id.clone(),
                sub: c.client_id.clone(),
                username: None,
                scope: "read".into(),
                aud: vec![Arc::from(c.client_id.as_str())],
                sid: None,
                ..Default::default()
            };
            let now = SystemClock.now();
            let sample = secret::new_secret(prefix::ACCESS_TOKEN);
            let mut batch = Vec::with_capacity(SEED_BATCH);
            for i in 0..n {
                let token = if i == 0 {
                    sample.clone()
                } else {
                    secret::new_secret(prefix::ACCESS_TOKEN)
                };
                batch.push(NewToken {
                    key: secret::token_key(&token),
                    jti: uuid::Uuid::new_v4().as_u128(),
                    family: 0,
                    iat: now,
                    exp: now + 4 * 3600,
                    kind: TokenKind::AccessToken,
                    grant: grant.clone(),
                });
                if batch.len() == SEED_BATCH || i + 1 == n {
                    let tokens = std::mem::replace(&mut batch, Vec::with_capacity(SEED_BATCH));
                    engine
                        .issuer
                        .send(Record {
                            tokens,
                            durable: true,
                        })
                        .await??;
                }
            }
            drop(engine);
            let handle = app.handle();
            let server = actix_rt::spawn(app.run_until_stopped());
            handle.stop(true).await;
            let _ = server.await;
            anyhow::Ok(((c.client_id.clone(), secret), sample))
        })
    })
    .join()
    .map_err(|_| anyhow!("the seeding thread panicked"))?
}

/// Start `tessera serve` over the store; answers the seconds to its
/// listening line, its RSS then, and whether `token` introspects active.
fn start_child(
    settings: &Settings,
    client: &(String, String),
    token: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(f64, u64, bool)> {
    let mut env = vec![
        ("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("RUST_LOG", "info".to_string()),
    ];
    if let Some(url) = &settings.store.database_url {
        env.push(("TESSERA_STORE__BACKEND", "postgres".into()));
        env.push(("TESSERA_STORE__DATABASE_URL", url.clone()));
    }
    let started = Instant::now();
    let log = dir.join("serve.log");
    let (mut child, url) = crate::child::serve(
        std::path::Path::new(env!("CARGO_BIN_EXE_tessera")),
        &settings.data_dir,
        &env,
        std::fs::File::create(&log)?,
    )
    .map_err(|e| anyhow!("{e}: {}", std::fs::read_to_string(&log).unwrap_or_default()))?;
    let addr = url;
    let secs = started.elapsed().as_secs_f64();
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let active = introspect(&addr, client, token);
    let _ = child.kill();
    let _ = child.wait();
    Ok((secs, rss, active?))
}

fn introspect(addr: &str, client: &(String, String), token: &str) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()?
            .post(format!("{addr}/oauth2/token/introspect"))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("token", token)])
            .send()
            .await?;
        let v: serde_json::Value = r.json().await?;
        anyhow::Ok(v["active"] == true)
    })
}
