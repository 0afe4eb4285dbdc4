//! `cluster`: `tessera serve` processes (`--tessera-bin`) over PostgreSQL
//! (`--database-url`'s server, a fresh database per phase), in one run:
//!
//! 1. **single** — one node, no cluster: introspection rate (the baseline),
//!    alone, and again while a second, independent server (its own
//!    database) takes revocations at `--cluster-revoke-rate`: the same
//!    kind of load on the shared cores as the cluster phase has, without
//!    a cluster.
//! 2. **cluster** — three nodes, eventual mode: introspection on node b
//!    while node a revokes at `--cluster-revoke-rate`: the rate against
//!    the single node's.
//! 3. **lag** — the same three nodes while node a revokes at
//!    `--revoke-rate` (default 1,000/s): every few milliseconds a fresh
//!    token is issued on a, revoked on a, and nodes b and c are polled
//!    until they answer inactive. The time from the revocation's 200 to
//!    the first inactive answer is the visibility lag (p50/p99/max), with
//!    the database CPU per revocation.
//! 4. **strict** — three nodes in strict mode: revocation latency at
//!    `--cluster-revoke-rate` (the 200 waits for every node).
//!
//! All of it shares this machine's cores with PostgreSQL and the load
//! generator; see BENCHMARKS.md for what that means.

use std::net::SocketAddr;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::database::BenchDb;
use crate::fixture::{prepare, Fixture};
use crate::generator::{exchange_once, request};
use crate::measure::{measure, Report};
use crate::opts::Opts;
use crate::requests::{form_value, post};
use crate::servers::{external_target, Target};
use crate::setup_http::setup_http;
use crate::workload::{Mode, Workload};

const ADMIN_TOKEN: &str = "cluster-bench-admin-token-0123456789abcdef";

/// One `tessera serve`, killed when dropped.
struct Node {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(opts: &Opts, db: &str, cluster: Option<(&str, &str)>) -> anyhow::Result<Node> {
        let dir = tempfile::tempdir()?;
        let mut env = vec![
            ("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("TESSERA_ISSUER", "http://tessera.bench".to_string()),
            ("TESSERA_WORKERS", opts.workers.to_string()),
            ("TESSERA_STORE__BACKEND", "postgres".to_string()),
            ("TESSERA_STORE__DATABASE_URL", db.to_string()),
            ("RUST_LOG", "warn".to_string()),
        ];
        if let Some((name, mode)) = cluster {
            env.push(("TESSERA_CLUSTER__ENABLED", "true".into()));
            env.push(("TESSERA_CLUSTER__NODE_ID", name.into()));
            env.push(("TESSERA_CLUSTER__REVOCATION", mode.into()));
        }
        let bin = opts
            .tessera_bin
            .clone()
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tessera").into());
        let log = std::fs::File::create(dir.path().join("serve.log"))?;
        let (child, url) = crate::child::serve(&bin, dir.path(), &env, log)?;
        Ok(Node {
            child,
            url,
            _dir: dir,
        })
    }

    fn addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.url.trim_start_matches("http://").parse()?)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let addr = self.addr()?;
        let req = request("GET", &addr.to_string(), "/readyz", &[], None, "");
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(a) = exchange_once(addr, &req).await {
                if a.status == 200 {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < until, "a node never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Report the CPU this node's process uses in each measured run.
fn watch_cpu(node: &Node) {
    crate::measure::SERVER_PID.store(node.pid(), Ordering::Relaxed);
}

fn cluster_of(opts: &Opts, db: &str, mode: &str) -> anyhow::Result<Vec<Node>> {
    let a = Node::start(opts, db, Some(("bench-a", mode)))?;
    // The first node makes the schema; the others join.
    block(a.wait_ready())?;
    let b = Node::start(opts, db, Some(("bench-b", mode)))?;
    let c = Node::start(opts, db, Some(("bench-c", mode)))?;
    block(b.wait_ready())?;
    block(c.wait_ready())?;
    Ok(vec![a, b, c])
}

fn block<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// The harness's options for a target node: its admin API creates the
/// client, over HTTP.
fn node_opts(opts: &Opts, node: &Node) -> Opts {
    let mut o = opts.clone();
    o.url = Some(node.url.clone());
    o.admin_token = Some(ADMIN_TOKEN.into());
    o.client_id = None;
    o.client_secret = None;
    o.tokens = 0;
    o.server_pid = None;
    o
}

async fn target_on(node: &Node, opts: &Opts) -> anyhow::Result<(Target, Fixture)> {
    let o = node_opts(opts, node);
    let mut t = external_target(&node.url, &o)?;
    setup_http(&mut t, &o).await?;
    let f = prepare(&t, &o).await?;
    Ok((t, f))
}

pub(crate) fn cluster(opts: &Opts) -> anyhow::Result<()> {
    crate::measure::EXTERNAL.store(true, Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "machine: {cores} cores; three nodes, PostgreSQL and the generator share them; {} HTTP workers per node",
        opts.workers
    );

    // 1. One node alone, then beside an independent server revoking.
    let (single, single_busy) = {
        let db = BenchDb::create(&opts.database_url)?;
        let node = Node::start(opts, &db.url, None)?;
        rt.block_on(node.wait_ready())?;
        let (t, f) = rt.block_on(target_on(&node, opts))?;
        let wl = Arc::new(Workload::new(Mode::Introspect { check: true }, &f, opts));
        watch_cpu(&node);
        let alone = measure(&rt, "single node: introspection", t.addr, wl.clone(), opts);
        let other_db = BenchDb::create(&opts.database_url)?;
        let other = Node::start(opts, &other_db.url, None)?;
        rt.block_on(other.wait_ready())?;
        let (to, fo) = rt.block_on(target_on(&other, opts))?;
        let revoke = Arc::new(Workload::new(Mode::Revoke, &fo, opts));
        let (busy, _) = alongside(
            &rt,
            opts,
            || {
                watch_cpu(&node);
                measure(
                    &rt,
                    "single node: introspection, another server revoking beside it",
                    t.addr,
                    wl.clone(),
                    opts,
                )
            },
            to.addr,
            revoke,
            opts.cluster_revoke_rate,
        )?;
        (alone, busy)
    };

    // 2 and 3. Three nodes, eventual.
    let db = BenchDb::create(&opts.database_url)?;
    let nodes = cluster_of(opts, &db.url, "eventual")?;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let (tb, fb) = rt.block_on(target_on(b, opts))?;
    // Half the pool is introspected on b, the other half revoked on a.
    let half = fb.pool.len() / 2;
    let (look, gone) = fb.pool.split_at(half);
    let introspect = Arc::new(Workload::with_tokens(
        Mode::Introspect { check: true },
        &fb,
        look,
        opts,
    ));
    let revoke = Arc::new(Workload::with_tokens(Mode::Revoke, &fb, gone, opts));
    let a_addr = a.addr()?;
    let (in_cluster, revocations) = alongside(
        &rt,
        opts,
        || {
            watch_cpu(b);
            measure(
                &rt,
                "three nodes: introspection on b, revocations flowing on a",
                tb.addr,
                introspect.clone(),
                opts,
            )
        },
        a_addr,
        revoke,
        opts.cluster_revoke_rate,
    )?;
    println!(
        "introspection on one node of three, revocations flowing ({:.0}/s): {:.0} req/s = {:.1}% of one node alone ({:.0} req/s), {:.1}% of one node beside a server revoking as fast ({:.0} req/s)",
        revocations.rps(),
        in_cluster.rps(),
        100.0 * in_cluster.rps() / single.rps().max(1e-9),
        single.rps(),
        100.0 * in_cluster.rps() / single_busy.rps().max(1e-9),
        single_busy.rps()
    );
    let per_req = |r: &Report| {
        r.server_cpu
            .map(|c| 1e6 * c / (r.stats.completed as f64).max(1.0))
    };
    if let (Some(a), Some(b), Some(c)) = (
        per_req(&single),
        per_req(&single_busy),
        per_req(&in_cluster),
    ) {
        println!(
            "introspecting node's CPU per introspection: {a:.1} us alone, {b:.1} us beside a revoking server, {c:.1} us in the cluster ({:.1}% of alone: the rate a node with cores of its own keeps)",
            100.0 * a / c.max(1e-9)
        );
    }

    // 3. Visibility lag at --revoke-rate, measured on fresh tokens.
    let (_ta, fa) = rt.block_on(target_on(a, opts))?;
    let background = Arc::new(Workload::new(Mode::Revoke, &fa, opts));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let (a, b, c) = (a.addr()?, b.addr()?, c.addr()?);
        let client = (tb.client_id.clone(), tb.client_secret.clone());
        let paths = tb.paths.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<(char, Duration)>> {
            block(sample_lags(a, [('b', b), ('c', c)], client, paths, stop))
        })
    };
    let load = {
        let mut o = opts.clone();
        o.rate = Some(opts.revoke_rate);
        watch_cpu(a);
        measure(
            &rt,
            &format!("revocations on a at {:.0}/s offered", opts.revoke_rate),
            a_addr,
            background,
            &o,
        )
    };
    stop.store(true, Ordering::Release);
    let lags = sampler
        .join()
        .map_err(|_| anyhow!("the lag sampler panicked"))??;
    report_lags(&lags, &load);

    drop(nodes);
    drop(db);

    // 4. Strict mode: what a revocation costs when its 200 waits for
    // every node.
    let db = BenchDb::create(&opts.database_url)?;
    let nodes = cluster_of(opts, &db.url, "strict")?;
    let (ts, fs) = rt.block_on(target_on(&nodes[0], opts))?;
    let wl = Arc::new(Workload::new(Mode::Revoke, &fs, opts));
    let mut o = opts.clone();
    o.rate = Some(opts.cluster_revoke_rate);
    o.connections = opts.connections.min(32);
    watch_cpu(&nodes[0]);
    let strict = measure(
        &rt,
        &format!(
            "strict mode: revocations on a at {:.0}/s offered",
            opts.cluster_revoke_rate
        ),
        ts.addr,
        wl,
        &o,
    );
    println!(
        "strict revocation latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} revocations ({} errors)",
        strict.stats.all.value_at_quantile(0.5) as f64 / 1000.0,
        strict.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
        strict.stats.all.max() as f64 / 1000.0,
        strict.stats.completed,
        strict.errors()
    );
    Ok(())
}

/// Run `main` while a paced load of `wl` at `rate` runs against `addr` on
/// a runtime of its own; answers both reports.
fn alongside(
    rt: &tokio::runtime::Runtime,
    opts: &Opts,
    main: impl FnOnce() -> Report,
    addr: SocketAddr,
    wl: Arc<Workload>,
    rate: f64,
) -> anyhow::Result<(Report, Report)> {
    let _ = rt;
    let mut o = opts.clone();
    o.rate = Some(rate);
    o.connections = opts.connections.min(16);
    let side = std::thread::spawn(move || -> anyhow::Result<Report> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(measure(&rt, "revocations on a (alongside)", addr, wl, &o))
    });
    let r = main();
    let s = side
        .join()
        .map_err(|_| anyhow!("the side load panicked"))??;
    Ok((r, s))
}

/// Until `stop`: issue a token on `a`, revoke it on `a`, and poll each
/// peer until it answers inactive; one (peer, lag) per peer and sample.
async fn sample_lags(
    a: SocketAddr,
    peers: [(char, SocketAddr); 2],
    (id, secret): (String, String),
    paths: crate::servers::Paths,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<(char, Duration)>> {
    let auth = crate::requests::basic(&id, &secret);
    let issue = post(
        &a.to_string(),
        &paths.token,
        &auth,
        &crate::fixture::cc_body("read"),
    );
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
        let t = exchange_once(a, &issue).await?;
        let token = t.json()?["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no access_token"))?
            .to_string();
        let body = format!("token={}", form_value(&token));
        let revoke = post(&a.to_string(), &paths.revoke, &auth, &body);
        let r = exchange_once(a, &revoke).await?;
        anyhow::ensure!(r.status == 200, "revocation answered {}", r.status);
        let acked = Instant::now();
        for (name, peer) in peers {
            let intro = post(&peer.to_string(), &paths.introspect, &auth, &body);
            let until = acked + Duration::from_secs(10);
            loop {
                let ans = exchange_once(peer, &intro).await?;
                if ans.status == 200 && ans.json()?["active"] == false {
                    out.push((name, acked.elapsed()));
                    break;
                }
                anyhow::ensure!(Instant::now() < until, "node {name} never saw a revocation");
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(out)
}

fn report_lags(lags: &[(char, Duration)], load: &Report) {
    let q = |v: &mut Vec<Duration>, p: f64| -> f64 {
        v.sort();
        let i = ((v.len().saturating_sub(1)) as f64 * p).round() as usize;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    for who in ['b', 'c'] {
        let mut v: Vec<Duration> = lags
            .iter()
            .filter(|(n, _)| *n == who)
            .map(|(_, d)| *d)
            .collect();
        println!(
            "visibility lag on node {who} (revoked on a, polled until inactive): {} samples, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            q(&mut v, 0.5),
            q(&mut v, 0.99),
            q(&mut v, 1.0)
        );
    }
    let mut all: Vec<Duration> = lags.iter().map(|(_, d)| *d).collect();
    println!(
        "visibility lag, both nodes: {} samples, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; while a revoked {:.0}/s ({} errors)",
        all.len(),
        q(&mut all, 0.5),
        q(&mut all, 0.99),
        q(&mut all, 1.0),
        load.rps(),
        load.errors()
    );
    if let Some(db) = load.db_cpu {
        println!(
            "PostgreSQL CPU: {:.1} ms per revocation ({:.2} cores at {:.0} revocations/s)",
            1000.0 * db / (load.stats.completed as f64).max(1.0),
            db / load.elapsed.as_secs_f64().max(1e-9),
            load.rps()
        );
    }
}
