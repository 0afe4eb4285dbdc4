//! `passkey-login`: passwordless sign-in with a passkey against sign-in
//! with a password, on the same server in the same run. Each of `--users`
//! users (at least 8) has a password and one passkey (a software
//! authenticator, ES256, registered through the account endpoints). Per
//! round, in A B B A order: `--login-connections` workers sign in for
//! `--duration` seconds, each sign-in a new session:
//!
//! - password: `POST /auth/login` (JSON), one argon2id verification;
//! - passkey: `GET /auth/login` (its CSRF cookie), `POST
//!   /auth/passkey/start`, the authenticator signs the challenge here,
//!   `POST /auth/passkey/finish`.
//!
//! Reported: sign-ins per second and their latency, and the ratio.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use serde_json::{json, Value};
use tessera_actors::directory::{CreateUser, NewUser};

use crate::opts::Opts;
use crate::servers::start_tessera;

#[allow(dead_code)]
#[path = "../../tests/api/passkeys/authenticator.rs"]
mod authenticator;

use authenticator::SoftKey;

const PASSWORD: &str = "correct horse battery staple";
const CSRF_COOKIE: &str = "tessera_login_csrf";
const SESSION_COOKIE: &str = "tessera_session";

/// The value of cookie `name` set by `r`.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == name && !val.trim().is_empty()).then(|| val.trim().to_string())
        })
}

async fn ok_json(r: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(status.is_success(), "{what} answered {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

struct Bench {
    http: reqwest::Client,
    base: String,
}

impl Bench {
    /// A password sign-in: its session cookie.
    async fn password(&self, login: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .post(format!("{}/auth/login", self.base))
            .json(&json!({"login": login, "password": PASSWORD}))
            .send()
            .await?;
        let cookie = set_cookie(&r, SESSION_COOKIE);
        ok_json(r, "password login").await?;
        cookie.context("no session cookie after a password login")
    }

    /// A passwordless sign-in with `key`: its session cookie.
    async fn passkey(&self, key: &mut SoftKey) -> anyhow::Result<String> {
        let r = self
            .http
            .get(format!("{}/auth/login", self.base))
            .send()
            .await?;
        let csrf = set_cookie(&r, CSRF_COOKIE).context("no CSRF cookie on the login page")?;
        r.bytes().await?;
        let jar = format!("{CSRF_COOKIE}={csrf}");
        let r = self
            .http
            .post(format!("{}/auth/passkey/start", self.base))
            .header("cookie", &jar)
            .json(&json!({"csrf": csrf}))
            .send()
            .await?;
        let start = ok_json(r, "passkey start").await?;
        let credential = key.assert(&start["options"]);
        let r = self
            .http
            .post(format!("{}/auth/passkey/finish", self.base))
            .header("cookie", &jar)
            .json(&json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential}))
            .send()
            .await?;
        let cookie = set_cookie(&r, SESSION_COOKIE);
        ok_json(r, "passkey finish").await?;
        cookie.context("no session cookie after a passkey sign-in")
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Password,
    Passkey,
}

struct Round {
    kind: Kind,
    done: usize,
    secs: f64,
    latencies_ms: Vec<f64>,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn round(
    bench: Arc<Bench>,
    users: &[(String, Arc<Mutex<Option<SoftKey>>>)],
    kind: Kind,
    workers: usize,
    duration: Duration,
) -> anyhow::Result<Round> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (login, key) = users[w % users.len()].clone();
        let (bench, stop) = (bench.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            // One worker owns its user's key for the round (the counter
            // must grow in order).
            let mut k = key.lock().map_err(|_| anyhow!("key lock"))?.take();
            let result = async {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match kind {
                        Kind::Password => bench.password(&login).await?,
                        Kind::Passkey => {
                            let k = k.as_mut().context("a key per worker")?;
                            bench.passkey(k).await?
                        }
                    };
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(())
            }
            .await;
            *key.lock().map_err(|_| anyhow!("key lock"))? = k;
            result.map(|()| lat)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies_ms = Vec::new();
    for t in tasks {
        latencies_ms.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(Round {
        kind,
        done: latencies_ms.len(),
        secs,
        latencies_ms,
    })
}

fn print_round(r: &Round) {
    println!(
        "  {:<8} {:>6} sign-ins in {:>5.1} s = {:>8.1}/s   median {:>7.2} ms   p90 {:>7.2} ms   max {:>7.2} ms",
        format!("{:?}", r.kind).to_lowercase(),
        r.done,
        r.secs,
        r.done as f64 / r.secs,
        pct(&r.latencies_ms, 0.5),
        pct(&r.latencies_ms, 0.9),
        r.latencies_ms.last().copied().unwrap_or(0.0),
    );
}

pub(crate) fn passkey_login(opts: &Opts) -> anyhow::Result<()> {
    let target = start_tessera(opts)?;
    let engine = target
        .engine
        .clone()
        .ok_or_else(|| anyhow!("passkey-login runs tessera in-process"))?;
    let port = target.addr.port();
    let base = format!("http://{}", target.addr);
    let origin = format!("http://localhost:{port}");
    let workers = opts.login_connections.max(1);
    let users_n = opts.users.clamp(workers.max(8), 256);
    let duration = Duration::from_secs_f64(opts.duration.max(1.0));
    let rounds = opts.rounds.max(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(2))
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(workers * 2)
            .build()?;
        let bench = Arc::new(Bench { http, base });
        let hash = engine
            .passwords
            .hash(PASSWORD.into())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let mut users = Vec::new();
        for i in 0..users_n {
            let login = format!("pk{i}");
            engine
                .directory
                .send(CreateUser(NewUser {
                    username: login.clone(),
                    email: format!("pk{i}@example.com"),
                    password_hash: hash.clone(),
                    email_verified: true,
                    ..Default::default()
                }))
                .await
                .map_err(|e| anyhow!("{e}"))?
                .map_err(|e| anyhow!("{e}"))?;
            // Register a passkey from a fresh password session.
            let cookie = bench.password(&login).await?;
            let session = engine
                .sessions
                .by_cookie(&cookie)
                .context("the new session is live")?;
            let csrf = tessera::extract::csrf::session_csrf(&session);
            let jar = format!("{SESSION_COOKIE}={cookie}");
            let r = bench
                .http
                .post(format!("{}/account/passkeys/register/start", bench.base))
                .header("cookie", &jar)
                .json(&json!({"csrf": csrf, "name": "bench"}))
                .send()
                .await?;
            let start = ok_json(r, "passkey registration start").await?;
            let mut key = SoftKey::new(&origin, "localhost");
            let credential = key.register(&start["options"]);
            let r = bench
                .http
                .post(format!("{}/account/passkeys/register/finish", bench.base))
                .header("cookie", &jar)
                .json(
                    &json!({"csrf": csrf, "ceremony": start["ceremony"], "credential": credential}),
                )
                .send()
                .await?;
            ok_json(r, "passkey registration finish").await?;
            users.push((login, Arc::new(Mutex::new(Some(key)))));
        }
        println!(
            "passkey-login: {users_n} users, {workers} workers, {:.0} s per round, {rounds} rounds \
             in A B B A order, {} store",
            duration.as_secs_f64(),
            opts.backend
        );
        let mut all = Vec::new();
        for i in 0..rounds {
            let order = if i % 2 == 0 {
                [Kind::Password, Kind::Passkey]
            } else {
                [Kind::Passkey, Kind::Password]
            };
            for kind in order {
                let r = round(bench.clone(), &users, kind, workers, duration).await?;
                print_round(&r);
                all.push(r);
            }
        }
        let total = |k: Kind| {
            let (n, s) = all
                .iter()
                .filter(|r| r.kind == k)
                .fold((0usize, 0.0f64), |(n, s), r| (n + r.done, s + r.secs));
            n as f64 / s.max(f64::EPSILON)
        };
        let median = |k: Kind| {
            let mut v: Vec<f64> = all
                .iter()
                .filter(|r| r.kind == k)
                .flat_map(|r| r.latencies_ms.iter().copied())
                .collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            pct(&v, 0.5)
        };
        let (pw, pk) = (total(Kind::Password), total(Kind::Passkey));
        println!("all rounds:");
        println!(
            "  password {pw:>8.1} sign-ins/s, median {:.2} ms",
            median(Kind::Password)
        );
        println!(
            "  passkey  {pk:>8.1} sign-ins/s, median {:.2} ms",
            median(Kind::Passkey)
        );
        println!(
            "  passkey / password: {:.2}x the rate, {:.2}x the median latency",
            pk / pw.max(f64::EPSILON),
            median(Kind::Passkey) / median(Kind::Password).max(f64::EPSILON)
        );
        anyhow::Ok(())
    });
    rt.shutdown_background();
    target.stop();
    result
}
