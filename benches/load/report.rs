//! Reports: combining rounds, printing them, and the summary against the
//! targets.

use std::sync::atomic::Ordering;

use anyhow::bail;
use hdrhistogram::Histogram;

use crate::code_flow::{STEP_AUTHORIZE, STEP_LOGIN, STEP_TOKEN};
use crate::fixture::{per_token, Fixture};
use crate::measure::{Report, EXTERNAL, SERVER_PID};
use crate::opts::{Opts, Scenario};

/// All rounds as one: requests and histograms summed over the summed time.
pub(crate) fn combine(label: &str, runs: Vec<Report>) -> Option<Report> {
    let mut it = runs.into_iter();
    let mut first = it.next()?;
    for r in it {
        first.stats.merge(&r.stats);
        first.elapsed += r.elapsed;
        first.cpu += r.cpu;
        first.faults += r.faults;
        first.server_cpu = first.server_cpu.zip(r.server_cpu).map(|(a, b)| a + b);
        first.db_cpu = first.db_cpu.zip(r.db_cpu).map(|(a, b)| a + b);
    }
    first.label = label.to_string();
    Some(first)
}

pub(crate) fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

pub(crate) fn print_report(r: &Report) {
    let s = &r.stats;
    println!();
    println!("--- {}", r.label);
    println!(
        "requests: {} in {:.2} s = {:.0} req/s",
        s.completed,
        r.elapsed.as_secs_f64(),
        r.rps()
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    if EXTERNAL.load(Ordering::Relaxed) {
        println!(
            "generator CPU: {:.2} cores busy of {cores} (the server is another process)",
            r.cpu / secs
        );
    } else {
        println!(
            "process CPU: {:.2} cores busy of {cores} (servers and generator; less means other load on the machine or idle waits)",
            r.cpu / secs
        );
    }
    if let Some(c) = r.server_cpu {
        println!(
            "server CPU (pid {}): {:.2} cores busy",
            SERVER_PID.load(Ordering::Relaxed),
            c / secs
        );
    }
    if let Some(c) = r.db_cpu {
        println!(
            "PostgreSQL CPU: {:.2} cores busy ({:.0}% of the machine's CPU time used in the run)",
            c / secs,
            100.0 * c / (c + r.cpu).max(1e-9)
        );
    }
    let line = |name: &str, h: &Histogram<u64>| {
        if h.is_empty() {
            return;
        }
        println!(
            "latency {name}: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.90)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            h.len()
        );
    };
    if s.flows > 0 {
        println!(
            "flows: {} completed = {:.1}/s; failed at login {}, authorize {}, token {}",
            s.flows,
            s.flows as f64 / r.elapsed.as_secs_f64().max(1e-9),
            s.step_errors[STEP_LOGIN],
            s.step_errors[STEP_AUTHORIZE],
            s.step_errors[STEP_TOKEN]
        );
        line("whole flow", &s.all);
        line("login", &s.login_h);
        line("authorize", &s.authorize_h);
        line("token", &s.exchange_h);
    } else {
        line("all", &s.all);
    }
    if !s.revoke.is_empty() && !s.introspect.is_empty() {
        line("introspect", &s.introspect);
        line("revoke", &s.revoke);
    }
    println!(
        "errors: {} (non-2xx {}, connection {}, timeouts {}); unexpected bodies {}",
        r.errors(),
        s.non_2xx,
        s.conn_errors,
        s.timeouts,
        s.bad_body
    );
    if s.active + s.inactive > 0 {
        println!(
            "introspections: {} active, {} inactive; revoked-but-active {}; live-but-inactive {}",
            s.active, s.inactive, s.revoked_but_active, s.live_but_inactive
        );
    }
    if s.logins + s.busy + s.limited > 0 {
        println!(
            "logins: {} succeeded = {:.1}/s; password pool full (503): {}; rate-limited (429): {}",
            s.logins,
            s.logins as f64 / r.elapsed.as_secs_f64().max(1e-9),
            s.busy,
            s.limited
        );
    }
    if s.revocations > 0 {
        println!(
            "revocations acknowledged: {} = {:.0}/s{}",
            s.revocations,
            s.revocations as f64 / r.elapsed.as_secs_f64().max(1e-9),
            if s.exhausted {
                " (pool exhausted: raise --pool/--tokens)"
            } else {
                ""
            }
        );
    }
}

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

pub(crate) fn summarize(
    opts: &Opts,
    f: &Fixture,
    r: &Report,
    base: Option<&Report>,
    raw: Option<f64>,
) {
    println!();
    println!(
        "=== summary ({:?}, {} connections, {})",
        opts.scenario,
        opts.connections,
        match &opts.url {
            Some(u) => format!("external server at {u}"),
            None => format!("{} resident tokens", f.seeded),
        }
    );
    if let Some((b, a)) = f.rss {
        let bpt = per_token(b, a, f.seeded);
        if f.seeded >= 100_000 {
            println!(
                "target RSS growth <= 600 B/token: {:.0} B/token  {}",
                bpt,
                verdict(bpt <= 600.0)
            );
        } else {
            println!(
                "RSS growth: {bpt:.0} B/token (too few tokens to judge; seed at least 100,000)"
            );
        }
    }
    if let Some(b) = base {
        let ratio = r.rps() / b.rps().max(1e-9);
        println!(
            "ratio {} / baseline: {:.0} / {:.0} req/s = {:.1}%{}",
            r.label,
            r.rps(),
            b.rps(),
            ratio * 100.0,
            if opts.rate.is_some() {
                "  (both paced by --rate: not a throughput comparison)".to_string()
            } else if opts.scenario == Scenario::Introspect {
                format!("  (target >= 70%: {})", verdict(ratio >= 0.70))
            } else {
                String::new()
            }
        );
    }
    let s = &r.stats;
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    result_line(serde_json::json!({
        "name": opts.name,
        "scenario": format!("{:?}", opts.scenario),
        "connections": opts.connections,
        "rps": r.rps(),
        "p50_ms": q(&s.all, 0.5),
        "p99_ms": q(&s.all, 0.99),
        "errors": r.errors(),
        "server_cores": r.server_cpu.map(|c| c / r.elapsed.as_secs_f64().max(1e-9)),
        "postgres_cores": r.db_cpu.map(|c| c / r.elapsed.as_secs_f64().max(1e-9)),
        "generator_cores": r.cpu / r.elapsed.as_secs_f64().max(1e-9),
        "unexpected_bodies": s.bad_body,
        "revoked_but_active": s.revoked_but_active,
        "live_but_inactive": s.live_but_inactive,
    }));
    match opts.scenario {
        Scenario::Introspect => {
            let p99 = s.all.value_at_quantile(0.99);
            let load = match opts.rate {
                Some(rate) => format!("offered {rate:.0} req/s"),
                None => "closed loop, as fast as answers come".to_string(),
            };
            println!(
                "target p99 <= 2 ms ({} connections, {load}): {}  {}{}",
                opts.connections,
                ms(p99),
                verdict(p99 <= 2000),
                base.map(|b| format!(
                    "  (baseline p99 {})",
                    ms(b.stats.all.value_at_quantile(0.99))
                ))
                .unwrap_or_default()
            );
            println!(
                "errors {}; live-but-inactive {}",
                r.errors(),
                s.live_but_inactive
            );
        }
        Scenario::IntrospectRevoke => {
            println!(
                "target revoked-but-active == 0: {}  {}",
                s.revoked_but_active,
                verdict(s.revoked_but_active == 0)
            );
            println!(
                "errors {}; live-but-inactive {}",
                r.errors(),
                s.live_but_inactive
            );
        }
        Scenario::ClientCredentials => {
            let opaque = opts.format.as_deref() == Some("opaque");
            let rs256 = opts
                .alg
                .as_deref()
                .is_none_or(|a| a.eq_ignore_ascii_case("RS256"));
            match raw {
                Some(raw) if !opaque => {
                    let ratio = r.rps() / raw.max(1e-9);
                    // The 60% target is for RS256, where signing is the
                    // work; a 20 µs ES256 signature is judged by req/s.
                    let target = if rs256 {
                        format!("  (target >= 60%: {})", verdict(ratio >= 0.60))
                    } else {
                        String::new()
                    };
                    println!(
                        "ratio to the raw signing rate x cores: {:.0} / {:.0} = {:.1}%{target}",
                        r.rps(),
                        raw,
                        ratio * 100.0,
                    );
                }
                _ => println!("raw signing rate: n/a (opaque tokens are not signed; each waits for a durable group commit)"),
            }
            if opaque || !rs256 {
                println!(
                    "target >= 15,000 req/s: {:.0} req/s  {}",
                    r.rps(),
                    verdict(r.rps() >= 15_000.0)
                );
            }
            println!("errors {}", r.errors());
        }
        // Summarized by their own functions.
        Scenario::LoginStorm
        | Scenario::CodeFlow
        | Scenario::Faults
        | Scenario::Startup
        | Scenario::Cluster
        | Scenario::Dpop
        | Scenario::ClientJwt
        | Scenario::Register
        | Scenario::DevicePoll
        | Scenario::LogoutFanout
        | Scenario::PasskeyLogin => {}
        Scenario::Revoke => {
            let rate = s.revocations as f64 / r.elapsed.as_secs_f64().max(1e-9);
            println!(
                "target >= 2,000 revocations/s durable: {:.0}/s  {}",
                rate,
                verdict(rate >= 2000.0)
            );
            println!("errors {}", r.errors());
        }
    }
}

/// A machine-readable line with a run's headline numbers (for scripts).
pub(crate) fn result_line(v: serde_json::Value) {
    println!("result: {v}");
}

/// How the latency of a quiet run moved under load: "p50 a -> b, p99.9
/// c -> d, max e -> f".
pub(crate) fn latency_shift(quiet: &Histogram<u64>, under: &Histogram<u64>) -> String {
    format!(
        "p50 {} -> {}, p99.9 {} -> {}, max {} -> {}",
        ms(quiet.value_at_quantile(0.5)),
        ms(under.value_at_quantile(0.5)),
        ms(quiet.value_at_quantile(0.999)),
        ms(under.value_at_quantile(0.999)),
        ms(quiet.max()),
        ms(under.max())
    )
}

/// Print the per-round and overall ratio of `with` to `without` (and the
/// target's verdict) of a scenario's comparison, and its result line;
/// answers the baseline's rate.
pub(crate) fn compare(
    scenario: &str,
    what: &str,
    without: Vec<Report>,
    with: Vec<Report>,
    target: Option<f64>,
) -> anyhow::Result<f64> {
    let rounds: Vec<String> = without
        .iter()
        .zip(&with)
        .map(|(a, b)| format!("{:.1}%", 100.0 * b.rps() / a.rps().max(1e-9)))
        .collect();
    let errors: u64 = with
        .iter()
        .chain(&without)
        .map(|r| r.errors() + r.stats.bad_body + r.stats.live_but_inactive)
        .sum();
    let (Some(a), Some(b)) = (combine(what, without), combine(what, with)) else {
        bail!("no runs of {what}");
    };
    let ratio = b.rps() / a.rps().max(1e-9);
    println!(
        "{what}: {:.0} / {:.0} req/s = {:.1}% (rounds {}){}; p99 {:.2} / {:.2} ms; errors {errors}",
        b.rps(),
        a.rps(),
        100.0 * ratio,
        rounds.join(", "),
        target
            .map(|t| format!("  (target >= {:.0}%: {})", 100.0 * t, verdict(ratio >= t)))
            .unwrap_or_default(),
        b.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
        a.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
    );
    result_line(serde_json::json!({
        "scenario": scenario,
        "measure": what,
        "rps": b.rps(),
        "baseline_rps": a.rps(),
        "ratio": ratio,
        "errors": errors,
    }));
    Ok(a.rps())
}
