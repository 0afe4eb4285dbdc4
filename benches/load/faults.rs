//! The `faults` scenario.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::fixture::Fixture;
use crate::measure::{measure_loads, Load, Report};
use crate::opts::Opts;
use crate::report::{combine, latency_shift, ms, print_report, result_line, verdict};
use crate::servers::Target;
use crate::workload::{Mode, Workload};

/// Per round: paced introspection alone (the quiet p99), then the
/// introspect-revoke mix at the same pacing while a login storm runs on
/// its own connections. The mix works on one half of the pool and the
/// quiet run on the other, so the quiet run never meets a revoked token.
pub(crate) fn faults(rt: &tokio::runtime::Runtime, target: &Target, f: &Fixture, opts: &Opts) {
    let half = f.pool.len() / 2;
    let (mixed, calm) = f.pool.split_at(half);
    let quiet_wl = Arc::new(Workload::with_tokens(
        Mode::Introspect { check: true },
        f,
        calm,
        opts,
    ));
    let mix_wl = Arc::new(Workload::with_tokens(
        Mode::IntrospectRevoke,
        f,
        mixed,
        opts,
    ));
    let login_wl = Arc::new(Workload::new(Mode::Login, f, opts));
    let rate = opts.rate.unwrap_or_default();
    let (mut quiet, mut storm, mut under) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        let tag = opts.round_tag(round);
        quiet.extend(measure_loads(
            rt,
            target.addr,
            &[Load {
                label: format!("quiet: introspection alone ({rate:.0} req/s offered){tag}"),
                wl: quiet_wl.clone(),
                conns: opts.connections,
                rate: opts.rate,
            }],
            opts,
        ));
        let mut both = measure_loads(
            rt,
            target.addr,
            &[
                Load {
                    label: format!("faults: login storm{tag}"),
                    wl: login_wl.clone(),
                    conns: opts.login_connections,
                    rate: None,
                },
                Load {
                    label: format!(
                        "faults: introspection + 1/{} revocations ({rate:.0} req/s offered) during the login storm{tag}",
                        opts.revoke_every
                    ),
                    wl: mix_wl.clone(),
                    conns: opts.connections,
                    rate: opts.rate,
                },
            ],
            opts,
        )
        .into_iter();
        storm.extend(both.next());
        under.extend(both.next());
    }
    let (Some(quiet), Some(storm), Some(under)) = (
        combine("quiet introspection, all rounds", quiet),
        combine("login storm, all rounds", storm),
        combine(
            "introspection + revocations during the storm, all rounds",
            under,
        ),
    ) else {
        return;
    };
    if opts.rounds > 1 {
        for r in [&quiet, &storm, &under] {
            print_report(r);
        }
    }
    let (q, u) = (&quiet.stats.introspect, &under.stats.introspect);
    let (q99, u99) = (q.value_at_quantile(0.99), u.value_at_quantile(0.99));
    let ratio = u99 as f64 / q99.max(1) as f64;
    let secs = |r: &Report| r.elapsed.as_secs_f64().max(1e-9);
    let logins = storm.stats.logins as f64 / secs(&storm);
    let rba = under.stats.revoked_but_active;
    println!();
    println!(
        "=== summary (Faults: introspection on {} connections at {rate:.0} req/s offered, 1 in {} a revocation; login storm on {} connections over {} users; {})",
        opts.connections,
        opts.revoke_every,
        opts.login_connections,
        f.users.len(),
        match &opts.url {
            Some(u) => format!("external server at {u}, {} tokens from client_credentials", f.pool.len()),
            None => format!("{} resident tokens", f.seeded),
        }
    );
    println!(
        "introspection p99: quiet {}, under faults {}: {:.2}x (target <= 2x)  {}",
        ms(q99),
        ms(u99),
        ratio,
        verdict(ratio <= 2.0)
    );
    println!("introspection {}", latency_shift(q, u));
    println!(
        "revoked-but-active: {rba} (target 0)  {}; live-but-inactive {}; revocations acknowledged {} = {:.0}/s{}",
        verdict(rba == 0),
        quiet.stats.live_but_inactive + under.stats.live_but_inactive,
        under.stats.revocations,
        under.stats.revocations as f64 / secs(&under),
        if under.stats.exhausted || mix_wl.cursor.load(Ordering::Relaxed) >= mixed.len() {
            " (ran out of tokens to revoke: raise --pool/--tokens)"
        } else {
            ""
        }
    );
    println!(
        "logins during the faults: {:.1}/s; password pool full (503) {}; rate-limited (429) {}; other login errors {}",
        logins,
        storm.stats.busy,
        storm.stats.limited,
        storm.errors() - storm.stats.limited
    );
    println!(
        "introspection errors: {} quiet, {} under faults",
        quiet.errors(),
        under.errors()
    );
    result_line(serde_json::json!({
        "name": opts.name,
        "scenario": "faults",
        "rate": rate,
        "quiet_p99_ms": q99 as f64 / 1000.0,
        "faulted_p99_ms": u99 as f64 / 1000.0,
        "ratio": ratio,
        "revoked_but_active": rba,
        "revocations": under.stats.revocations,
        "logins_per_s": logins,
        "busy_503": storm.stats.busy,
        "limited_429": storm.stats.limited,
        "errors": quiet.errors() + under.errors() + storm.errors(),
    }));
}
