//! The steady scenarios: `introspect`, `introspect-revoke`,
//! `client-credentials` and `revoke`, each run against the baseline in
//! alternating rounds when it runs.

use std::sync::Arc;

use anyhow::anyhow;

use crate::fixture::Fixture;
use crate::measure::measure;
use crate::opts::{Opts, Scenario};
use crate::report::{combine, print_report, summarize};
use crate::requests::{form_value, post};
use crate::servers::{Running, Target};
use crate::tls::{handshakes, print_handshakes, summarize_tls};
use crate::workload::{Mode, Workload};

/// Every round measures the baseline (when it runs) and then tessera;
/// the summary is over all rounds.
pub(crate) fn steady(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    fixture: &Fixture,
    opts: &Opts,
    baseline: Option<&Running>,
    raw: Option<f64>,
) -> anyhow::Result<()> {
    let base_wl = Arc::new(Workload::new(
        Mode::Introspect { check: false },
        fixture,
        opts,
    ));
    let mode = match opts.scenario {
        Scenario::Introspect => Mode::Introspect { check: true },
        Scenario::IntrospectRevoke => Mode::IntrospectRevoke,
        Scenario::ClientCredentials => Mode::Fixed,
        Scenario::Revoke => Mode::Revoke,
        // Run by their own modules, never here.
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
        | Scenario::PasskeyLogin => Mode::Login,
    };
    let wl = Arc::new(Workload::new(mode, fixture, opts));
    let name = &opts.name;
    let label = match opts.scenario {
        Scenario::Introspect => format!("{name} introspection"),
        Scenario::IntrospectRevoke => {
            format!("{name} introspection + 1/{} revocations", opts.revoke_every)
        }
        Scenario::ClientCredentials => {
            format!("{name} client_credentials ({})", target.describe)
        }
        Scenario::Revoke => format!("{name} revocation (durable)"),
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
        | Scenario::PasskeyLogin => {
            format!("{name} logins")
        }
    };
    let (mut base_runs, mut runs, mut tls_runs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=opts.rounds {
        let tag = opts.round_tag(round);
        if let Some(b) = baseline {
            let name = format!("baseline (bare actix-web, same form body){tag}");
            base_runs.push(measure(rt, &name, b.addr, base_wl.clone(), opts));
        }
        runs.push(measure(
            rt,
            &format!("{label}{tag}"),
            target.addr,
            wl.clone(),
            opts,
        ));
        if let Some(tls) = &target.tls {
            tls_runs.push(measure(
                rt,
                &format!("{label} over TLS{tag}"),
                tls.full.clone(),
                wl.clone(),
                opts,
            ));
        }
    }
    // New connections, one at a time, each with one introspection.
    let new_connections = match &target.tls {
        Some(tls) => {
            let token = fixture.pool.first().cloned().unwrap_or_default();
            let req = post(
                &fixture.host,
                &fixture.paths.introspect,
                &fixture.auth,
                &format!("token={}", form_value(&token)),
            );
            let (secs, max) = (opts.duration, opts.handshakes);
            let plain = handshakes(
                rt,
                "new plain TCP connections",
                &target.addr,
                &req,
                secs,
                max,
            );
            let full = handshakes(
                rt,
                "new TLS connections, full handshake",
                &tls.full,
                &req,
                secs,
                max,
            );
            let resumed = handshakes(
                rt,
                "new TLS connections, resumed session",
                &tls.resumed,
                &req,
                secs,
                max,
            );
            for h in [&plain, &full, &resumed] {
                print_handshakes(h);
            }
            Some((plain, full, resumed))
        }
        None => None,
    };
    if opts.rounds > 1 {
        for (i, (b, r)) in base_runs.iter().zip(&runs).enumerate() {
            println!(
                "round {}: {:.0} / {:.0} req/s = {:.1}%",
                i + 1,
                r.rps(),
                b.rps(),
                100.0 * r.rps() / b.rps().max(1e-9)
            );
        }
    }
    let base_report = combine("baseline, all rounds", base_runs);
    let report = combine(&format!("{label}, all rounds"), runs).ok_or_else(|| anyhow!("no run"))?;
    if opts.rounds > 1 {
        if let Some(b) = &base_report {
            print_report(b);
        }
        print_report(&report);
    }
    summarize(opts, fixture, &report, base_report.as_ref(), raw);
    let tls_report = combine(&format!("{label} over TLS, all rounds"), tls_runs);
    if let (Some(tls), Some((plain, full, resumed))) = (&tls_report, &new_connections) {
        if opts.rounds > 1 {
            print_report(tls);
        }
        summarize_tls(opts, &report, tls, plain, full, resumed);
    }
    Ok(())
}
