//! Running loads for a measured time and the CPU the run had.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::generator::{connection, Connect, Control, Stats};
use crate::opts::Opts;
use crate::report::print_report;
use crate::workload::Workload;

pub(crate) struct Report {
    pub(crate) label: String,
    pub(crate) stats: Stats,
    pub(crate) elapsed: Duration,
    /// CPU seconds this process (servers and generator) used in the run.
    pub(crate) cpu: f64,
    /// Minor page faults of this process in the run.
    pub(crate) faults: u64,
    /// CPU seconds the --server-pid process used in the run.
    pub(crate) server_cpu: Option<f64>,
    /// CPU seconds PostgreSQL's processes used in the run (--backend
    /// postgres).
    pub(crate) db_cpu: Option<f64>,
}

impl Report {
    pub(crate) fn rps(&self) -> f64 {
        self.stats.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub(crate) fn errors(&self) -> u64 {
        self.stats.non_2xx + self.stats.conn_errors + self.stats.timeouts
    }
}

/// One set of connections: a workload, how many connections, and their
/// pacing.
#[derive(Clone)]
pub(crate) struct Load {
    pub(crate) label: String,
    pub(crate) wl: Arc<Workload>,
    pub(crate) conns: usize,
    pub(crate) rate: Option<f64>,
}

/// Run one load for `secs` (or `max` requests).
pub(crate) async fn phase<C: Connect>(
    dial: C,
    wl: Arc<Workload>,
    conns: usize,
    secs: f64,
    max: Option<u64>,
    rate: Option<f64>,
) -> (Stats, Duration) {
    let ctl = Control::new(conns, secs, max, rate);
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            tokio::spawn(connection(
                dial.clone(),
                wl.clone(),
                ctl.clone(),
                i as u64 + 1,
            ))
        })
        .collect();
    (join_stats(tasks).await, ctl.started.elapsed())
}

/// Wait for every connection's task and merge what they measured; a task
/// that died counts as a connection error.
pub(crate) async fn join_stats(tasks: Vec<tokio::task::JoinHandle<Stats>>) -> Stats {
    let mut total = Stats::new();
    for t in tasks {
        match t.await {
            Ok(s) => total.merge(&s),
            Err(_) => total.conn_errors += 1,
        }
    }
    total
}

/// Run every load at the same time, each on its own connections.
pub(crate) fn run_phase<C: Connect>(
    rt: &tokio::runtime::Runtime,
    dial: &C,
    loads: &[Load],
    secs: f64,
    max: Option<u64>,
) -> Vec<(Stats, Duration)> {
    rt.block_on(async {
        let running: Vec<_> = loads
            .iter()
            .map(|l| {
                tokio::spawn(phase(
                    dial.clone(),
                    l.wl.clone(),
                    l.conns,
                    secs,
                    max,
                    l.rate,
                ))
            })
            .collect();
        let mut out = Vec::with_capacity(running.len());
        for r in running {
            out.push(r.await.unwrap_or_else(|_| {
                let mut s = Stats::new();
                s.conn_errors += 1;
                (s, Duration::from_secs_f64(secs))
            }));
        }
        out
    })
}

/// Warm up, then measure `loads` running at the same time; one report per
/// load (the process CPU is that of the whole phase).
pub(crate) fn measure_loads<C: Connect>(
    rt: &tokio::runtime::Runtime,
    dial: C,
    loads: &[Load],
    opts: &Opts,
) -> Vec<Report> {
    if opts.warmup > 0.0 {
        let _ = run_phase(rt, &dial, loads, opts.warmup, None);
    }
    let cpu_before = process_cpu_secs();
    let faults_before = process_minor_faults();
    let server_before = server_cpu_secs();
    let db_before = database_cpu_secs();
    let results = run_phase(rt, &dial, loads, opts.duration, opts.max_requests);
    let db_cpu = database_cpu_secs().zip(db_before).map(|(a, b)| a - b);
    let cpu = process_cpu_secs() - cpu_before;
    let faults = process_minor_faults().saturating_sub(faults_before);
    let server_cpu = server_cpu_secs().zip(server_before).map(|(a, b)| a - b);
    let reports: Vec<Report> = loads
        .iter()
        .zip(results)
        .map(|(l, (stats, elapsed))| Report {
            label: l.label.clone(),
            stats,
            elapsed,
            cpu,
            faults,
            server_cpu,
            db_cpu,
        })
        .collect();
    for r in &reports {
        print_report(r);
    }
    reports
}

pub(crate) fn measure<C: Connect>(
    rt: &tokio::runtime::Runtime,
    label: &str,
    dial: C,
    wl: Arc<Workload>,
    opts: &Opts,
) -> Report {
    let load = Load {
        label: label.to_string(),
        wl,
        conns: opts.connections,
        rate: opts.rate,
    };
    let mut reports = measure_loads(rt, dial, &[load], opts);
    reports.pop().unwrap_or_else(|| Report {
        label: label.to_string(),
        stats: Stats::new(),
        elapsed: Duration::ZERO,
        cpu: 0.0,
        faults: 0,
        server_cpu: None,
        db_cpu: None,
    })
}

/// User plus system CPU time of this process so far, in seconds. Compared
/// with the cores and the wall time it shows how much of the machine the
/// run had (other processes on a shared machine show as a shortfall).
pub(crate) fn process_cpu_secs() -> f64 {
    cpu_secs_of("/proc/self/stat").unwrap_or(0.0)
}

/// --server-pid, when given (0: none).
pub(crate) static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// Whether the server is another process (--url): the process CPU is then
/// the generator's alone.
pub(crate) static EXTERNAL: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// CPU seconds of the --server-pid process so far.
pub(crate) fn server_cpu_secs() -> Option<f64> {
    match SERVER_PID.load(Ordering::Relaxed) {
        0 => None,
        pid => cpu_secs_of(&format!("/proc/{pid}/stat")),
    }
}

/// Whether the in-process server runs over PostgreSQL (its CPU is then
/// reported beside the process's).
pub(crate) static DATABASE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// CPU seconds of every `postgres` process on the machine so far (the
/// database server the in-process tessera writes to).
pub(crate) fn database_cpu_secs() -> Option<f64> {
    if !DATABASE.load(Ordering::Relaxed) {
        return None;
    }
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let is_pg =
            std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == "postgres");
        if is_pg {
            total += cpu_secs_of(&path.join("stat").to_string_lossy()).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// User plus system CPU seconds from a `/proc/.../stat` file.
pub(crate) fn cpu_secs_of(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, in clock ticks (100 per second).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some((ticks(11) + ticks(12)) / 100.0)
}

/// Minor page faults of this process so far (`minflt`, the 10th field of
/// `/proc/self/stat`). Memory freshly mapped for a call shows here.
pub(crate) fn process_minor_faults() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .nth(7)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
