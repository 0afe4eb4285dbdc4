//! Load-test harness: its own HTTP/1.1 load generator against tessera and
//! against a bare actix-web baseline, in the same run.
//!
//! ```text
//! cargo bench --bench load -- --help
//! cargo bench --bench load -- --tokens 1000000                      # introspection vs baseline
//! cargo bench --bench load -- --tls --duration 5                    # introspection over TLS vs plain, handshake cost
//! cargo bench --bench load -- --scenario introspect-revoke --revoke-every 10
//! cargo bench --bench load -- --scenario client-credentials --alg ES256
//! cargo bench --bench load -- --scenario client-credentials --format opaque
//! cargo bench --bench load -- --scenario revoke
//! cargo bench --bench load -- --scenario login-storm --rate 5000 --duration 5
//! cargo bench --bench load -- --scenario login-storm --users 5000 --vary-user-agent
//! cargo bench --bench load -- --hold 60 --token-file target/wrk-tokens.txt   # serve for wrk
//! cargo bench --bench load -- --scenario code-flow --connections 16 --users 16
//! cargo bench --bench load -- --scenario code-flow --login-once --requests 20000
//! cargo bench --bench load -- --scenario faults --tokens 1000000 --rounds 3
//! cargo bench --bench load -- --backend postgres --scenario revoke          # any scenario over PostgreSQL
//! cargo bench --bench load -- --scenario startup --tokens 1000000          # start-up with 1M tokens, sled and PostgreSQL
//! cargo bench --bench load -- --scenario cluster --jwts 20000              # three tessera processes on PostgreSQL, against one
//! cargo bench --bench load -- --scenario dpop --duration 5               # DPoP and token exchange against their baselines (ES256)
//! cargo bench --bench load -- --scenario client-jwt --duration 5         # private_key_jwt against client_secret_basic; signed against JSON introspection
//! cargo bench --bench load -- --scenario client-jwt --assertion-alg RS256  # the same with RS256 assertions
//! cargo bench --bench load -- --scenario register --duration 5          # RFC 7591 registration against admin client creation
//! cargo bench --bench load -- --scenario device-poll --duration 30      # 10,000 pending devices polling every 5 s: the server's CPU
//! cargo bench --bench load -- --scenario logout-fanout --rounds 20      # back-channel logout to 20 clients (one slow)
//! cargo bench --bench load -- --url http://127.0.0.1:8080 --admin-token $TOKEN --scenario code-flow
//! cargo bench --bench load -- --url http://127.0.0.1:3000 --client-id peer --client-secret ... --no-baseline
//! ```
//!
//! Without `--url`, the servers run in this process, each on its own thread
//! with its own actix System, on 127.0.0.1 port 0: tessera over a temporary
//! store, seeded through the engine (not HTTP) with `--tokens` resident
//! tokens, and the baseline — one POST handler that parses the same form
//! body and answers a fixed copy of a real active introspection answer.
//! With `--url` (a loopback address only) an already running server is the
//! target, and every scenario sets itself up over HTTP only: the endpoints
//! from discovery (`/.well-known/openid-configuration`, or `--token-path`
//! and friends), `--jwts` tokens issued by client_credentials to introspect
//! and revoke, and, with `--admin-token` (or `TESSERA_ADMIN_TOKEN`), clients
//! and users made through tessera's admin API. A server that only speaks
//! the standard endpoints (a peer) is driven with `--client-id` and
//! `--client-secret` of a client from its own configuration.
//!
//! The generator: a tokio runtime with `--threads` workers, `--connections`
//! keep-alive connections, pre-built request bytes, responses framed by
//! `Content-Length`, latencies in an HDR histogram. Every run is bounded by
//! `--duration` (and `--max-requests`), every request by a 10 s timeout.
//!
//! `login-storm` creates `--users` users through the engine and measures
//! three phases per round: paced introspection alone (`--connections`,
//! `--rate`, default 5,000 req/s), a closed-loop storm of `POST /auth/login`
//! alone (`--login-connections`), and both at once on separate connections.
//! Before the server starts it measures the raw argon2id verify rate with
//! the server's own password pool and parameters, on one thread and on all
//! cores at once.
//!
//! `code-flow` runs `--connections` virtual users, each a browser with its
//! own connection and cookie jar, through the whole authorization code
//! flow: `POST /auth/login`, `GET /oauth2/authorize` (a first-party public
//! client, so no consent page) answered by a redirect with the code, and
//! the code exchanged at the token endpoint with its PKCE verifier. It
//! counts completed flows and the latency of each step; with
//! `--login-once` a virtual user keeps its session after the first flow.
//!
//! `faults` measures paced introspection alone (the quiet p99), then the
//! same pacing with one request in `--revoke-every` a revocation (the
//! `introspect-revoke` mix, with its revoked-but-active check) while a
//! login storm (`login-storm`'s closed-loop connections) runs at the same
//! time, and compares the two p99s.
//!
//! `--tls` (introspection) serves the in-process tessera over TLS on a
//! second listener of the same server and measures, in the same run,
//! introspection over TLS keep-alive against plain HTTP (target: at
//! least 70%), and new connections one at a time over plain TCP, over
//! TLS with full handshakes and over TLS with resumed sessions.
//!
//! `dpop` compares, on one server and in alternating rounds (A B, B A):
//! introspection of DPoP-bound tokens against Bearer tokens; client
//! credentials with a fresh ES256 proof per request (signed before each
//! run) against without; and token exchange with an actor token beside
//! client_credentials. The server's keys are ES256 unless `--alg` says
//! otherwise.
//!
//! `client-jwt` registers a `private_key_jwt` client (ES256) through the
//! admin API and compares, in alternating rounds: client_credentials with
//! a fresh assertion per request (signed before each run) against the
//! fixture's `client_secret_basic` (target: at least 70%); and
//! introspection answered as a signed JWT (RFC 9701) against JSON.

mod child;
mod client_jwt;
mod cluster;
mod code_flow;
mod database;
mod device_poll;
mod dpop;
mod faults;
mod fixture;
mod generator;
mod login_storm;
mod logout_fanout;
mod measure;
mod opts;
mod passkey_login;
/// Proof and assertion keys, shared with the integration tests.
#[allow(dead_code)]
#[path = "../../tests/api/dpop/proof.rs"]
mod proof;
mod raw_rates;
mod registration;
mod report;
mod requests;
mod servers;
mod setup_http;
mod startup;
mod steady;
mod tls;
mod workload;

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tessera_actors::keys::material::KeyAlg;

use crate::client_jwt::client_jwt;
use crate::code_flow::code_flow;
use crate::dpop::dpop;
use crate::faults::faults;
use crate::fixture::prepare;
use crate::login_storm::login_storm;
use crate::measure::{cpu_secs_of, EXTERNAL, SERVER_PID};
use crate::opts::{Opts, Scenario};
use crate::raw_rates::{signing_rate, verify_rate};
use crate::servers::{external_target, hold, start_baseline, start_tessera};
use crate::setup_http::setup_http;
use crate::steady::steady;

const INTROSPECT_PATH: &str = "/oauth2/token/introspect";
const REVOKE_PATH: &str = "/oauth2/token/revoke";
const TOKEN_PATH: &str = "/oauth2/token";
const LOGIN_PATH: &str = "/auth/login";
/// The password of every `login-storm` user.
const LOGIN_PASSWORD: &str = "load-test password 0";
/// A connection that got a 503 (password pool full) waits this long before
/// its next request, instead of spinning on refusals.
const BUSY_PAUSE: Duration = Duration::from_millis(20);
/// Seconds each raw verify-rate measurement runs.
const RAW_VERIFY_SECS: f64 = 3.0;
/// No request may take longer than this; it counts as a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Seeding batch: one `RecordUnpersisted` message.
const SEED_BATCH: usize = 10_000;
/// Recently revoked tokens an introspection aims at in `introspect-revoke`.
const RECENT_WINDOW: usize = 256;

fn main() {
    let opts = Opts::parse();
    if let Err(e) = run(opts) {
        eprintln!("load: {e:#}");
        std::process::exit(1);
    }
}

fn run(mut opts: Opts) -> anyhow::Result<()> {
    opts.validate()?;
    let storm = opts.scenario == Scenario::LoginStorm;
    let faulted = opts.scenario == Scenario::Faults;

    EXTERNAL.store(opts.url.is_some(), Ordering::Relaxed);
    if let Some(pid) = opts.server_pid {
        anyhow::ensure!(
            opts.url.is_some() && cpu_secs_of(&format!("/proc/{pid}/stat")).is_some(),
            "--server-pid goes with --url and must name a running process"
        );
        SERVER_PID.store(pid, Ordering::Relaxed);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("== tessera load harness: scenario {:?}", opts.scenario);
    if opts.scenario == Scenario::Startup {
        return startup::startup(&opts);
    }
    if opts.scenario == Scenario::Cluster {
        return cluster::cluster(&opts);
    }
    if opts.scenario == Scenario::DevicePoll {
        return device_poll::device_poll(&opts);
    }
    if opts.scenario == Scenario::LogoutFanout {
        return logout_fanout::logout_fanout(&opts);
    }
    if opts.scenario == Scenario::PasskeyLogin {
        return passkey_login::passkey_login(&opts);
    }
    println!(
        "machine: {cores} cores, {:.1} GiB; load average at start: {}",
        mem_total_gib(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "generator: {} connections on {} threads, {} s measured after {} s warm-up{}",
        opts.connections,
        opts.threads,
        opts.duration,
        opts.warmup,
        opts.max_requests
            .map(|m| format!(", at most {m} requests"))
            .unwrap_or_default()
    );
    if let Some(r) = opts.rate {
        println!("offered load: {r:.0} req/s, paced per connection (not as fast as possible)");
    }
    if storm || faulted {
        println!(
            "login storm: {} connections, closed loop, over {} users",
            opts.login_connections, opts.users
        );
    }
    if opts.scenario == Scenario::CodeFlow {
        println!(
            "code flow: {} virtual users, each with its own connection and cookies, over {} users{}",
            opts.connections,
            opts.users.min(opts.connections),
            if opts.login_once {
                "; one login per virtual user, then authorize + token only"
            } else {
                "; every flow logs in"
            }
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()?;

    // Raw signing rate first, while nothing else runs.
    let raw = if opts.scenario == Scenario::ClientCredentials {
        let alg: KeyAlg = opts
            .alg
            .as_deref()
            .unwrap_or("RS256")
            .parse()
            .map_err(anyhow::Error::msg)?;
        let rate = signing_rate(alg, 1)?;
        println!(
            "raw signing rate ({}, pre-parsed key, one thread, in-process): {:.0} tokens/s; x {cores} cores = {:.0}/s",
            alg.as_str(),
            rate,
            rate * cores as f64
        );
        let together = signing_rate(alg, cores)?;
        println!(
            "raw signing rate measured on {cores} threads at once: {together:.0} tokens/s ({:.0}% of {cores} x one thread)",
            100.0 * together / (rate * cores as f64).max(1e-9)
        );
        Some(rate * cores as f64)
    } else {
        None
    };
    // The raw verify rate likewise, through the server's own password pool
    // (its parameters, its verify call), without HTTP.
    let verify = if storm {
        let one = verify_rate(&rt, 1)?;
        println!(
            "raw argon2id verify rate ({}, the server's password pool, no HTTP, one thread): {:.1}/s; x {cores} cores = {:.1}/s; {:.1} ms CPU and {:.0} page faults per verify",
            one.params,
            one.rate,
            one.rate * cores as f64,
            one.cpu_ms,
            one.faults
        );
        let all = verify_rate(&rt, cores)?;
        println!(
            "raw argon2id verify rate measured on {cores} threads at once: {:.1}/s ({:.0}% of {cores} x one thread); {:.1} ms CPU and {:.0} page faults per verify",
            all.rate,
            100.0 * all.rate / (one.rate * cores as f64).max(1e-9),
            all.cpu_ms,
            all.faults
        );
        Some((one, all))
    } else {
        None
    };

    let mut target = match &opts.url {
        Some(url) => external_target(url, &opts)?,
        None => start_tessera(&opts)?,
    };
    rt.block_on(setup_http(&mut target, &opts))?;
    let fixture = rt.block_on(prepare(&target, &opts))?;

    if let Some(path) = &opts.token_file {
        let mut text = String::new();
        for t in &fixture.pool {
            text.push_str(t);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} tokens to {}", fixture.pool.len(), path.display());
    }

    let wants_baseline = !opts.no_baseline
        && match opts.scenario {
            Scenario::Introspect | Scenario::IntrospectRevoke => true,
            Scenario::ClientCredentials | Scenario::Revoke => opts.baseline,
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
            | Scenario::PasskeyLogin => false,
        };
    let baseline = if wants_baseline || opts.hold.is_some() {
        Some(start_baseline(opts.workers, fixture.active_body.clone())?)
    } else {
        None
    };

    if let Some(secs) = opts.hold {
        hold(&target, baseline.as_ref(), &opts, secs);
    } else if let Some((one, all)) = verify {
        login_storm(&rt, &target, &fixture, &opts, &one, &all);
    } else if opts.scenario == Scenario::CodeFlow {
        code_flow(&rt, &target, &fixture, &opts)?;
    } else if faulted {
        faults(&rt, &target, &fixture, &opts);
    } else if opts.scenario == Scenario::Dpop {
        dpop(&rt, &target, &fixture, &opts)?;
    } else if opts.scenario == Scenario::ClientJwt {
        client_jwt(&rt, &target, &fixture, &opts)?;
    } else if opts.scenario == Scenario::Register {
        registration::registration(&rt, &target, &fixture, &opts)?;
    } else {
        steady(&rt, &target, &fixture, &opts, baseline.as_ref(), raw)?;
    }

    if let Some(b) = baseline {
        b.stop();
    }
    target.stop();
    Ok(())
}

fn mem_total_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0)
}
