//! `device-poll`: the cost of devices waiting for their users (RFC 8628).
//!
//! `tessera serve` runs as a child process (sled), so its CPU time is its
//! own. `--devices` device authorizations are started over HTTP, then each
//! device polls the token endpoint at its interval (the server's, 5 s by
//! default), as a device does: its next poll an interval after its
//! previous one was sent, the first ones spread evenly over the first
//! interval. Polls share `--connections` keep-alive connections. After
//! `--warmup` seconds, for `--duration` seconds, the harness counts the
//! answers (every one must be `authorization_pending`: a `slow_down`
//! would mean the pacing is off) and reads the server's CPU time from
//! `/proc/<pid>/stat`; the report is that CPU time over the wall time, as
//! a percentage of one core (target: at most 10% for 10,000 devices).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::generator::{connect, exchange_once, histogram, read_response, request};
use crate::measure::cpu_secs_of;
use crate::opts::Opts;
use crate::requests::contains;

const ADMIN_TOKEN: &str = "tes_adm_device_poll_load_harness_admin_token_0";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const FORM: &str = "application/x-www-form-urlencoded";
/// A device waits this much beyond the interval: the server counts whole
/// seconds, and a poll a hair early would be told to slow down.
const MARGIN: Duration = Duration::from_millis(50);
/// Device authorizations started at once while setting up.
const SETUP_CONCURRENCY: usize = 32;

/// What the measured window saw.
#[derive(Default)]
struct Counts {
    pending: u64,
    slow_down: u64,
    other: u64,
    errors: u64,
}

pub(crate) fn device_poll(opts: &Opts) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let env = vec![
        ("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("TESSERA_ISSUER", "http://tessera.bench".to_string()),
        ("TESSERA_WORKERS", opts.workers.to_string()),
        // Long enough for any run (setup, warm-up and --duration).
        ("TESSERA_DEVICE__EXPIRES_IN", "1800".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let bin = opts
        .tessera_bin
        .clone()
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tessera").into());
    let log = std::fs::File::create(dir.path().join("serve.log"))?;
    let (mut child, url) = crate::child::serve(&bin, dir.path(), &env, log)?;
    let result = rt.block_on(run(opts, &url, child.id()));
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(opts: &Opts, url: &str, pid: u32) -> anyhow::Result<()> {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("the server's address {url}"))?;
    let host = addr.to_string();
    let devices = opts.devices;
    println!(
        "device-poll: {devices} devices on {} connections, tessera serve (sled, {} workers) as a child process",
        opts.connections, opts.workers
    );
    let spec = json!({
        "name": "load devices",
        "public": true,
        "grant_types": [DEVICE_GRANT],
        "scope": "openid read",
    })
    .to_string();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let create = request(
        "POST",
        &host,
        "/admin/clients",
        &[("Authorization", &bearer)],
        Some("application/json"),
        &spec,
    );
    let a = exchange_once(addr, &create).await?;
    if a.status != 201 {
        bail!("creating the device client answered {}", a.status);
    }
    let client_id = a.json()?["client_id"]
        .as_str()
        .context("client_id")?
        .to_string();

    // Start the device authorizations.
    let started = Instant::now();
    let start_req = request(
        "POST",
        &host,
        "/oauth2/device_authorization",
        &[],
        Some(FORM),
        &format!("client_id={client_id}&scope=openid"),
    );
    let mut codes: Vec<String> = Vec::with_capacity(devices);
    let mut interval = 0i64;
    while codes.len() < devices {
        let batch = SETUP_CONCURRENCY.min(devices - codes.len());
        let answers =
            futures_util::future::join_all((0..batch).map(|_| exchange_once(addr, &start_req)))
                .await;
        for a in answers {
            let a = a?;
            if a.status != 200 {
                bail!("a device authorization answered {}", a.status);
            }
            let body = a.json()?;
            interval = body["interval"].as_i64().context("interval")?;
            codes.push(body["device_code"].as_str().context("device_code")?.into());
        }
    }
    println!(
        "started {devices} device authorizations in {:.1} s; interval {interval} s",
        started.elapsed().as_secs_f64()
    );
    let every = Duration::from_secs(u64::try_from(interval).unwrap_or(5)) + MARGIN;
    let polls: Arc<Vec<Vec<u8>>> = Arc::new(
        codes
            .iter()
            .map(|c| {
                request(
                    "POST",
                    &host,
                    "/oauth2/token",
                    &[],
                    Some(FORM),
                    &format!("grant_type={DEVICE_GRANT}&device_code={c}&client_id={client_id}"),
                )
            })
            .collect(),
    );

    let t0 = Instant::now() + Duration::from_millis(200);
    let measure_from = t0 + Duration::from_secs_f64(opts.warmup.max(every.as_secs_f64()));
    let measure_to = measure_from + Duration::from_secs_f64(opts.duration);
    let conns = opts.connections.min(devices).max(1);
    let tasks: Vec<_> = (0..conns)
        .map(|k| {
            let polls = polls.clone();
            let mine: Vec<usize> = (k..devices).step_by(conns).collect();
            tokio::spawn(connection(
                addr,
                polls,
                mine,
                devices,
                every,
                t0,
                measure_from,
                measure_to,
            ))
        })
        .collect();

    // The server's CPU over the measured window.
    tokio::time::sleep_until(measure_from.into()).await;
    let stat = format!("/proc/{pid}/stat");
    let cpu0 = cpu_secs_of(&stat).context("the server's /proc stat")?;
    let wall0 = Instant::now();
    tokio::time::sleep_until(measure_to.into()).await;
    let cpu1 = cpu_secs_of(&stat).context("the server's /proc stat")?;
    let wall = wall0.elapsed().as_secs_f64();
    let rss = rss_mib(pid);

    let mut counts = Counts::default();
    let mut lat = histogram();
    for t in tasks {
        let (c, h) = t.await?;
        counts.pending += c.pending;
        counts.slow_down += c.slow_down;
        counts.other += c.other;
        counts.errors += c.errors;
        lat.add(&h).ok();
    }
    let answered = counts.pending + counts.slow_down + counts.other;
    let cpu = cpu1 - cpu0;
    let pct = 100.0 * cpu / wall.max(1e-9);
    let ms = |q: f64| lat.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "measured {wall:.1} s: {answered} polls ({:.0}/s; {devices} devices at one per {:.2} s = {:.0}/s), \
         {} authorization_pending, {} slow_down, {} other, {} connection errors",
        answered as f64 / wall.max(1e-9),
        every.as_secs_f64(),
        devices as f64 / every.as_secs_f64(),
        counts.pending,
        counts.slow_down,
        counts.other,
        counts.errors
    );
    println!(
        "poll latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.99),
        lat.max() as f64 / 1000.0
    );
    println!(
        "server CPU: {cpu:.2} s over {wall:.1} s = {pct:.1}% of one core ({:.1} us per poll){}; target <= 10%: {}",
        1e6 * cpu / (answered.max(1) as f64),
        rss.map(|r| format!("; RSS {r:.0} MiB"))
            .unwrap_or_default(),
        if pct <= 10.0 { "met" } else { "NOT met" }
    );
    if counts.slow_down > 0 || counts.other > 0 || counts.errors > 0 {
        bail!("every poll must be answered authorization_pending");
    }
    Ok(())
}

/// One keep-alive connection polling for `mine` (indexes into `polls`).
#[allow(clippy::too_many_arguments)]
async fn connection(
    addr: SocketAddr,
    polls: Arc<Vec<Vec<u8>>>,
    mine: Vec<usize>,
    devices: usize,
    every: Duration,
    t0: Instant,
    from: Instant,
    to: Instant,
) -> (Counts, hdrhistogram::Histogram<u64>) {
    let mut counts = Counts::default();
    let mut lat = histogram();
    // The first polls spread evenly over the first interval.
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = mine
        .iter()
        .map(|&i| {
            let offset = every.mul_f64(i as f64 / devices.max(1) as f64);
            Reverse((t0 + offset, i))
        })
        .collect();
    let mut stream = None;
    let mut buf = Vec::with_capacity(1024);
    while let Some(Reverse((at, i))) = due.pop() {
        if at >= to {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let Some(req) = polls.get(i) else { continue };
        let sent = Instant::now();
        let s = match stream.take() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => s,
                Err(_) => {
                    counts.errors += 1;
                    due.push(Reverse((sent + every, i)));
                    continue;
                }
            },
        };
        let mut s = s;
        let answer = async {
            s.write_all(req).await?;
            read_response(&mut s, &mut buf).await
        };
        let r = tokio::time::timeout(Duration::from_secs(10), answer).await;
        let counted = sent >= from && sent < to;
        match r {
            Ok(Ok(r)) => {
                if counted {
                    lat.record(sent.elapsed().as_micros() as u64).ok();
                    let body = buf.get(r.body.clone()).unwrap_or_default();
                    if r.status == 400 && contains(body, b"authorization_pending") {
                        counts.pending += 1;
                    } else if contains(body, b"slow_down") {
                        counts.slow_down += 1;
                    } else {
                        counts.other += 1;
                    }
                }
                if !r.close {
                    stream = Some(s);
                }
            }
            _ => {
                if counted {
                    counts.errors += 1;
                }
            }
        }
        // As a device does: the next poll an interval after this one.
        due.push(Reverse((sent + every, i)));
    }
    (counts, lat)
}

/// The resident set of `pid`, MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
