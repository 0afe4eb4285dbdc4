//! `logout-fanout`: OIDC back-channel logout from a session held by 20
//! clients. Each client has its own loopback receiver (a minimal HTTP/1.1
//! server here); one of them answers only after `SLOW` (below the
//! delivery timeout). Per round: log in, authorize at all 20 clients
//! (first-party public clients, PKCE), then `GET /auth/logout` as an API
//! caller. Measured: the logout answer's time against the delivery
//! timeout, and the time from the logout until each receiver had its
//! token (the 19 prompt ones, and all 20).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use tessera_actors::directory::{ClientSpec, CreateClient, CreateUser, NewUser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::opts::Opts;
use crate::servers::start_tessera;

const CLIENTS: usize = 20;
/// The one slow receiver's delay before it answers.
const SLOW: Duration = Duration::from_millis(1000);
const PASSWORD: &str = "correct horse battery staple";
const REDIRECT: &str = "https://rp.example/cb";

/// What one receiver got: arrival times.
type Arrivals = Arc<Mutex<Vec<Instant>>>;

/// A loopback HTTP/1.1 server answering every request `200` (after
/// `delay`) and noting when a request carrying a `logout_token` arrived.
async fn receiver(delay: Duration) -> anyhow::Result<(u16, Arrivals)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let got: Arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = got.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let noted = noted.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = &buf[end + 4..end + 4 + len];
                    if body.starts_with(b"logout_token=") {
                        noted.lock().expect("arrivals").push(Instant::now());
                    }
                    tokio::time::sleep(delay).await;
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    buf.drain(..end + 4 + len);
                }
            });
        }
    });
    Ok((port, got))
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (n, val) = v.split(';').next()?.split_once('=')?;
            (n.trim() == "tessera_session" && !val.trim().is_empty())
                .then(|| format!("tessera_session={}", val.trim()))
        })
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    println!(
        "  {name:<36} median {:>8.1} ms   p90 {:>8.1} ms   max {:>8.1} ms",
        pct(&v, 0.5),
        pct(&v, 0.9),
        v.last().copied().unwrap_or(0.0)
    );
}

pub(crate) fn logout_fanout(opts: &Opts) -> anyhow::Result<()> {
    let target = start_tessera(opts)?;
    let engine = target
        .engine
        .clone()
        .ok_or_else(|| anyhow!("logout-fanout runs tessera in-process"))?;
    let timeout = engine.config.backchannel_logout.timeout;
    let base = format!("http://{}", target.addr);
    let rounds = opts.rounds.max(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(2))
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let mut receivers = Vec::new();
        for i in 0..CLIENTS {
            let delay = if i == 0 { SLOW } else { Duration::ZERO };
            receivers.push(receiver(delay).await?);
        }
        let mut clients = Vec::new();
        for (i, (port, _)) in receivers.iter().enumerate() {
            let spec: ClientSpec = serde_json::from_value(serde_json::json!({
                "client_id": format!("fanout-{i}"),
                "public": true,
                "first_party": true,
                "grant_types": ["authorization_code"],
                "redirect_uris": [REDIRECT],
                "scope": "openid",
                "backchannel_logout_uri": format!("http://127.0.0.1:{port}/logout"),
                "backchannel_logout_session_required": true,
            }))?;
            let (c, _) = engine
                .directory
                .send(CreateClient(spec))
                .await
                .map_err(|e| anyhow!("{e}"))?
                .map_err(|e| anyhow!("{e}"))?;
            clients.push(c.client_id.clone());
        }
        let hash = engine
            .passwords
            .hash(PASSWORD.into())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        engine
            .directory
            .send(CreateUser(NewUser {
                username: "fanout".into(),
                email: "fanout@example.com".into(),
                password_hash: hash,
                email_verified: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| anyhow!("{e}"))?
            .map_err(|e| anyhow!("{e}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        let challenge = tessera_actors::secret::b64url(&tessera_actors::secret::sha256(
            b"a fixed verifier for the benchmark, long enough to pass",
        ));
        println!(
            "logout-fanout: {CLIENTS} clients with loopback receivers, one answering after {} ms; \
             delivery timeout {} ms; {} store; {rounds} rounds",
            SLOW.as_millis(),
            timeout.as_millis(),
            opts.backend
        );
        let (mut answers, mut prompt, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let r = http
                .post(format!("{base}/auth/login"))
                .json(&serde_json::json!({"login": "fanout", "password": PASSWORD}))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "login answered {}", r.status());
            let cookie = session_cookie(&r).context("no session cookie")?;
            for c in &clients {
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("response_type", "code")
                    .append_pair("client_id", c)
                    .append_pair("redirect_uri", REDIRECT)
                    .append_pair("scope", "openid")
                    .append_pair("state", "s")
                    .append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256")
                    .finish();
                let r = http
                    .get(format!("{base}/oauth2/authorize?{q}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 302, "authorize answered {}", r.status());
            }
            let started = Instant::now();
            let r = http
                .get(format!("{base}/auth/logout"))
                .header("cookie", &cookie)
                .send()
                .await?;
            let answered = started.elapsed();
            anyhow::ensure!(r.status() == 200, "logout answered {}", r.status());
            // Until every receiver has this round's token.
            loop {
                let done = receivers
                    .iter()
                    .all(|(_, got)| got.lock().map_or(0, |g| g.len()) > round);
                if done {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(60),
                    "round {round}: not every receiver got its token within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let at = |i: usize| -> f64 {
                receivers
                    .get(i)
                    .and_then(|(_, g)| g.lock().ok()?.get(round).copied())
                    .map_or(0.0, |t| (t - started).as_secs_f64() * 1000.0)
            };
            let fast = (1..CLIENTS).map(at).fold(0.0, f64::max);
            let every = (0..CLIENTS).map(at).fold(0.0, f64::max);
            answers.push(answered.as_secs_f64() * 1000.0);
            prompt.push(fast);
            all.push(every);
        }
        println!("results over {rounds} logouts:");
        summary("logout answer", answers.clone());
        summary("19 prompt receivers all had theirs", prompt);
        summary("all 20 had theirs (slow one incl.)", all);
        let worst = answers.iter().copied().fold(0.0, f64::max);
        println!(
            "  worst logout answer {worst:.1} ms = {:.2}% of one client's delivery timeout ({} ms)",
            worst * 100.0 / timeout.as_millis() as f64,
            timeout.as_millis()
        );
        anyhow::Ok(())
    });
    rt.shutdown_background();
    target.stop();
    result
}
