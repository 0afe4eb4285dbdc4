//! The `login-storm` scenario.

use std::sync::Arc;

use crate::fixture::Fixture;
use crate::measure::{measure_loads, Load, Report};
use crate::opts::Opts;
use crate::raw_rates::VerifyRate;
use crate::report::{combine, latency_shift, ms, print_report, verdict};
use crate::servers::Target;
use crate::workload::{Mode, Workload};

/// Per round: paced introspection alone, the login storm alone, then both
/// at once on separate connections; then the summary against the targets.
pub(crate) fn login_storm(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    f: &Fixture,
    opts: &Opts,
    one: &VerifyRate,
    all: &VerifyRate,
) {
    let intro_wl = Arc::new(Workload::new(Mode::Introspect { check: true }, f, opts));
    let login_wl = Arc::new(Workload::new(Mode::Login, f, opts));
    let rate = opts.rate.unwrap_or_default();
    let intro = |label: String| Load {
        label,
        wl: intro_wl.clone(),
        conns: opts.connections,
        rate: opts.rate,
    };
    let storm = |label: String| Load {
        label,
        wl: login_wl.clone(),
        conns: opts.login_connections,
        rate: None,
    };
    let (mut quiet, mut alone, mut during, mut under) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        let tag = opts.round_tag(round);
        quiet.extend(measure_loads(
            rt,
            target.addr,
            &[intro(format!(
                "introspection, no logins ({rate:.0} req/s offered){tag}"
            ))],
            opts,
        ));
        alone.extend(measure_loads(
            rt,
            target.addr,
            &[storm(format!("login storm alone{tag}"))],
            opts,
        ));
        let mut both = measure_loads(
            rt,
            target.addr,
            &[
                storm(format!("login storm, during paced introspection{tag}")),
                intro(format!(
                    "introspection during the login storm ({rate:.0} req/s offered){tag}"
                )),
            ],
            opts,
        )
        .into_iter();
        during.extend(both.next());
        under.extend(both.next());
    }
    let (Some(quiet), Some(alone), Some(during), Some(under)) = (
        combine("introspection, no logins, all rounds", quiet),
        combine("login storm alone, all rounds", alone),
        combine("login storm during introspection, all rounds", during),
        combine("introspection during the login storm, all rounds", under),
    ) else {
        return;
    };
    if opts.rounds > 1 {
        for r in [&quiet, &alone, &during, &under] {
            print_report(r);
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_sec = |r: &Report| r.stats.logins as f64 / r.elapsed.as_secs_f64().max(1e-9);
    println!();
    println!(
        "=== summary (LoginStorm: {} users, {} login connections; introspection on {} connections at {rate:.0} req/s offered, {} resident tokens)",
        f.users.len(),
        opts.login_connections,
        opts.connections,
        f.seeded
    );
    println!(
        "raw argon2id verify rate ({}): {:.1}/s on {cores} threads at once ({:.1}/s on one)",
        all.params, all.rate, one.rate
    );
    // argon2's working memory in 4 KiB pages: a call that faults about
    // this many pages got that memory freshly mapped and zeroed.
    let pages = all
        .params
        .split([' ', ','])
        .find_map(|kv| kv.strip_prefix("m="))
        .and_then(|m| m.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 4.0);
    let per_login = |r: &Report| {
        let n = r.stats.logins.max(1) as f64;
        (1000.0 * r.cpu / n, r.faults as f64 / n)
    };
    let (login_ms, login_faults) = per_login(&alone);
    println!(
        "per raw verify: {:.1} ms CPU, {:.0} page faults; per login (storm alone, whole process: HTTP, session, generator): {:.1} ms CPU, {:.0} page faults; argon2's memory is {pages:.0} pages",
        all.cpu_ms, all.faults, login_ms, login_faults,
    );
    if pages > 0.0 && all.faults > 0.25 * pages {
        println!(
            "note: the raw rate pays for fresh argon2 memory (page faults and zeroing) on many verifies, as the server's pool does; argon2 with its memory reused verifies faster, so the ratio below flatters the login path"
        );
    }
    let ratio = per_sec(&alone) / all.rate.max(1e-9);
    println!(
        "target logins/s >= 80% of the raw verify rate: {:.1} / {:.1} = {:.1}%  {}",
        per_sec(&alone),
        all.rate,
        ratio * 100.0,
        verdict(ratio >= 0.80)
    );
    println!(
        "logins/s during paced introspection: {:.1} = {:.1}% of the raw verify rate",
        per_sec(&during),
        100.0 * per_sec(&during) / all.rate.max(1e-9)
    );
    for r in [&alone, &during] {
        let s = &r.stats;
        let attempts = s.logins + s.busy + s.non_2xx + s.bad_body;
        println!(
            "{}: password pool full (503) {} of {} attempts ({:.2}%); rate-limited (429) {}; other errors {}; unexpected bodies {}",
            r.label,
            s.busy,
            attempts,
            100.0 * s.busy as f64 / attempts.max(1) as f64,
            s.limited,
            r.errors() - s.limited,
            s.bad_body
        );
    }
    let q = &quiet.stats.all;
    let u = &under.stats.all;
    let (q99, u99) = (q.value_at_quantile(0.99), u.value_at_quantile(0.99));
    let p99_ratio = u99 as f64 / q99.max(1) as f64;
    println!(
        "target introspection p99 during the storm <= 2x quiet: {} vs {} = {:.2}x  {}",
        ms(u99),
        ms(q99),
        p99_ratio,
        verdict(p99_ratio <= 2.0)
    );
    println!(
        "introspection {}; {:.0} -> {:.0} req/s answered of {rate:.0} offered",
        latency_shift(q, u),
        quiet.rps(),
        under.rps()
    );
    println!(
        "introspection errors {} quiet, {} during the storm; live-but-inactive {}",
        quiet.errors(),
        under.errors(),
        quiet.stats.live_but_inactive + under.stats.live_but_inactive
    );
}
