//! Load-test harness: its own HTTP/1.1 load generator against tessera and
//! against a bare actix-web baseline, in the same run.
//!
//! ```text
//! cargo bench --bench load -- --help
//! cargo bench --bench load -- --tokens 1000000                      # introspection vs baseline
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

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde::Serialize;
use tessera::configuration::Settings;
use tessera::startup::Application;
use tessera::telemetry::resident_bytes;
use tessera_actors::clock::{Clock, SystemClock};
use tessera_actors::directory::{ClientSpec, CreateClient, CreateUser, NewUser};
use tessera_actors::keys::material::{generate, JwtType, KeyAlg, Signer};
use tessera_actors::password::PasswordPool;
use tessera_actors::secret::{self, prefix};
use tessera_actors::tokens::{Grant, NewToken, RecordUnpersisted, TokenKind};
use tessera_actors::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Introspection of resident tokens, against the baseline.
    Introspect,
    /// Introspection with every Nth request a revocation; checks that no
    /// acknowledged revocation is ever introspected active.
    IntrospectRevoke,
    /// client_credentials issuance rate, against the raw signing rate.
    ClientCredentials,
    /// Revocations only (each of a distinct live token), durable.
    Revoke,
    /// `POST /auth/login` rate against the raw argon2id verify rate, and
    /// paced introspection latency without and during a login storm.
    LoginStorm,
    /// The whole authorization code flow per virtual user: login,
    /// authorize, code, token exchange with PKCE.
    CodeFlow,
    /// Introspection quiet, then with concurrent revocations and a login
    /// storm at the same time: p99 ratio and revoked-but-active.
    Faults,
}

impl Scenario {
    /// Scenarios that log users in: they create users first.
    fn needs_users(self) -> bool {
        matches!(
            self,
            Scenario::LoginStorm | Scenario::CodeFlow | Scenario::Faults
        )
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "load",
    about = "tessera load-test harness (cargo bench --bench load -- [options])"
)]
struct Opts {
    #[arg(long, value_enum, default_value = "introspect")]
    scenario: Scenario,
    /// Keep-alive connections of the generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per run (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop a measured run after this many requests (code-flow: flows).
    #[arg(long, alias = "requests")]
    max_requests: Option<u64>,
    /// Offered load, requests/s over all connections: each connection
    /// sends on a fixed schedule instead of as soon as its previous answer
    /// arrives (latency is still measured from the actual send).
    #[arg(long)]
    rate: Option<f64>,
    /// Generator threads (tokio workers).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// HTTP workers of the in-process servers (tessera and baseline alike).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Resident live tokens seeded through the engine (in-process only).
    #[arg(long, default_value_t = 100_000)]
    tokens: usize,
    /// Real JWTs issued over HTTP (client_credentials) and mixed into what
    /// is introspected and revoked.
    #[arg(long, default_value_t = 1_000)]
    jwts: usize,
    /// Tokens whose requests are pre-built: what introspection picks from
    /// and revocation consumes (at most --tokens + --jwts).
    #[arg(long, default_value_t = 100_000)]
    pool: usize,
    /// introspect-revoke: one request in N is a revocation.
    #[arg(long, default_value_t = 10)]
    revoke_every: u64,
    /// login-storm, faults: users created (through the engine, or the
    /// admin API with --url); the storm logs them in round-robin, so one
    /// account is used once every --users logins. code-flow: virtual user
    /// N is user N modulo this (at most --connections are created).
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// login-storm: connections of the login storm (closed loop, separate
    /// from the --connections that introspect). A 503 (password pool full)
    /// is counted on its own and that connection pauses 20 ms.
    #[arg(long, default_value_t = 8)]
    login_connections: usize,
    /// login-storm: the User-Agent of the logins (the server parses it for
    /// the session list); empty sends none.
    #[arg(
        long,
        default_value = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )]
    login_user_agent: String,
    /// login-storm: each user sends a User-Agent of its own (the one above
    /// plus the user's name), so the server meets --users distinct agents.
    #[arg(long)]
    vary_user_agent: bool,
    /// In-process server: password hashes run at once (default: cores).
    #[arg(long)]
    password_workers: Option<usize>,
    /// In-process server: password hashes queued or running before a 503
    /// (default: the server's, 64).
    #[arg(long)]
    password_queue: Option<usize>,
    /// Signing algorithm of the in-process server (RS256, ES256, EdDSA).
    #[arg(long)]
    alg: Option<String>,
    /// Access token format of the in-process server (jwt, opaque).
    #[arg(long)]
    format: Option<String>,
    /// Target an already running server (loopback only), e.g. http://127.0.0.1:8080
    #[arg(long)]
    url: Option<String>,
    /// With --url: a confidential client allowed client_credentials (and
    /// introspection of its own tokens). Without them, --admin-token
    /// creates one through tessera's admin API.
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    /// With --url: tessera's admin token, to create clients and users over
    /// HTTP (`POST /admin/clients`, `POST /admin/users`).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// With --url and --admin-token: the access token format (jwt, opaque)
    /// of the client the harness creates (default: the server's).
    #[arg(long)]
    client_token_format: Option<String>,
    /// With --url: the server's process id, to report the CPU it used in
    /// each measured run (read from /proc).
    #[arg(long)]
    server_pid: Option<u32>,
    /// The target's name in the output (e.g. a peer's).
    #[arg(long, default_value = "tessera")]
    name: String,
    /// Scope asked for with client_credentials (empty: none).
    #[arg(long, default_value = "read write")]
    scope: String,
    /// Token endpoint path (default: from discovery with --url, else tessera's).
    #[arg(long)]
    token_path: Option<String>,
    /// Introspection endpoint path (default: discovery, else tessera's).
    #[arg(long)]
    introspect_path: Option<String>,
    /// Revocation endpoint path (default: discovery, else tessera's).
    #[arg(long)]
    revoke_path: Option<String>,
    /// code-flow: each virtual user logs in once and keeps its session;
    /// later flows are authorize and token exchange only.
    #[arg(long)]
    login_once: bool,
    /// code-flow: the scope of the authorization requests.
    #[arg(long, default_value = "openid profile read")]
    flow_scope: String,
    /// code-flow: the registered redirect URI (never fetched).
    #[arg(long, default_value = "https://rp.example.com/cb")]
    redirect_uri: String,
    /// Alternate baseline and tessera runs this many times; the summary
    /// is over all rounds (a shared machine is noisy).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Skip the baseline run.
    #[arg(long)]
    no_baseline: bool,
    /// Run the baseline in every scenario, not only the introspection ones.
    #[arg(long)]
    baseline: bool,
    /// Start the servers, seed, print how to point wrk at them, serve this
    /// many seconds (at most 600) and exit; no load is generated.
    #[arg(long)]
    hold: Option<u64>,
    /// Write the pool tokens here, one a line (for the wrk script).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let opts = Opts::parse();
    if let Err(e) = run(opts) {
        eprintln!("load: {e:#}");
        std::process::exit(1);
    }
}

fn run(mut opts: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.duration > 0.0 && opts.duration <= 600.0,
        "--duration must be in (0, 600]"
    );
    anyhow::ensure!(
        opts.warmup >= 0.0 && opts.warmup <= 60.0,
        "--warmup must be in [0, 60]"
    );
    anyhow::ensure!(
        (1..=4096).contains(&opts.connections),
        "--connections must be in 1..=4096"
    );
    anyhow::ensure!(
        (1..=64).contains(&opts.threads),
        "--threads must be in 1..=64"
    );
    anyhow::ensure!(opts.tokens <= 10_000_000, "--tokens is at most 10,000,000");
    anyhow::ensure!(
        (1..=20).contains(&opts.rounds),
        "--rounds must be in 1..=20"
    );
    anyhow::ensure!(
        opts.rate.is_none_or(|r| r > 0.0 && r <= 10_000_000.0),
        "--rate must be in (0, 10,000,000]"
    );
    anyhow::ensure!(opts.revoke_every >= 1, "--revoke-every must be at least 1");
    anyhow::ensure!(
        opts.hold.is_none_or(|h| h <= 600),
        "--hold is at most 600 seconds"
    );
    anyhow::ensure!(
        (1..=4096).contains(&opts.login_connections),
        "--login-connections must be in 1..=4096"
    );
    anyhow::ensure!(
        (1..=100_000).contains(&opts.users),
        "--users must be in 1..=100,000"
    );
    anyhow::ensure!(
        opts.password_workers.is_none_or(|w| (1..=256).contains(&w)),
        "--password-workers must be in 1..=256"
    );
    opts.pool = opts.pool.min(opts.tokens + opts.jwts);
    let storm = opts.scenario == Scenario::LoginStorm;
    let faulted = opts.scenario == Scenario::Faults;
    if storm || faulted {
        // Introspection is paced so that quiet and storm compare latency,
        // not throughput.
        opts.rate = Some(opts.rate.unwrap_or(5_000.0));
    }
    if opts.url.is_some() && opts.scenario.needs_users() {
        anyhow::ensure!(
            opts.admin_token.is_some(),
            "--url with {:?} needs --admin-token (or TESSERA_ADMIN_TOKEN): it creates its users and clients through the admin API",
            opts.scenario
        );
    }

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
            Scenario::LoginStorm | Scenario::CodeFlow | Scenario::Faults => false,
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
    } else {
        let base_wl = Arc::new(Workload::new(
            Mode::Introspect { check: false },
            &fixture,
            &opts,
        ));
        let mode = match opts.scenario {
            Scenario::Introspect => Mode::Introspect { check: true },
            Scenario::IntrospectRevoke => Mode::IntrospectRevoke,
            Scenario::ClientCredentials => Mode::Fixed,
            Scenario::Revoke => Mode::Revoke,
            // Run by their own functions above.
            Scenario::LoginStorm | Scenario::CodeFlow | Scenario::Faults => Mode::Login,
        };
        let wl = Arc::new(Workload::new(mode, &fixture, &opts));
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
            Scenario::LoginStorm | Scenario::CodeFlow | Scenario::Faults => {
                format!("{name} logins")
            }
        };
        let (mut base_runs, mut runs) = (Vec::new(), Vec::new());
        for round in 1..=opts.rounds {
            let tag = if opts.rounds > 1 {
                format!(" [round {round}/{}]", opts.rounds)
            } else {
                String::new()
            };
            if let Some(b) = &baseline {
                let name = format!("baseline (bare actix-web, same form body){tag}");
                base_runs.push(measure(&rt, &name, b.addr, base_wl.clone(), &opts));
            }
            runs.push(measure(
                &rt,
                &format!("{label}{tag}"),
                target.addr,
                wl.clone(),
                &opts,
            ));
        }
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
        let report =
            combine(&format!("{label}, all rounds"), runs).ok_or_else(|| anyhow!("no run"))?;
        if opts.rounds > 1 {
            if let Some(b) = &base_report {
                print_report(b);
            }
            print_report(&report);
        }
        summarize(&opts, &fixture, &report, base_report.as_ref(), raw);
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

// ---------------------------------------------------------------------------
// Servers

/// A server on its own thread with its own actix System.
struct Running {
    addr: SocketAddr,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            // Not graceful: the generator is done; the handle future is not
            // needed, the command is sent when it is created.
            drop(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The system under test.
struct Target {
    server: Running,
    addr: SocketAddr,
    host: String,
    /// The in-process engine, for seeding and RSS (None with --url).
    engine: Option<Engine>,
    client_id: String,
    client_secret: String,
    /// tessera's admin token (in-process: set by the harness).
    admin_token: Option<String>,
    /// The standard endpoints' paths.
    paths: Paths,
    describe: String,
    _dir: Option<tempfile::TempDir>,
}

/// Where the standard endpoints are.
#[derive(Debug, Clone)]
struct Paths {
    token: String,
    introspect: String,
    revoke: String,
}

impl Paths {
    fn tessera() -> Paths {
        Paths {
            token: TOKEN_PATH.into(),
            introspect: INTROSPECT_PATH.into(),
            revoke: REVOKE_PATH.into(),
        }
    }
}

impl Target {
    fn stop(self) {
        self.server.stop();
    }
}

fn start_tessera(opts: &Opts) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    let admin_token = secret::new_secret("adm_");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        workers: Some(opts.workers),
        admin_token: Some(admin_token.clone()),
        ..Settings::default()
    };
    if let Some(a) = &opts.alg {
        settings.keys.algorithm = a.clone();
    }
    if let Some(f) = &opts.format {
        settings.tokens.access_token_format = f.clone();
    }
    if let Some(w) = opts.password_workers {
        settings.sessions.password_workers = Some(w);
    }
    if let Some(q) = opts.password_queue {
        settings.sessions.password_queue = q;
    }
    let describe = format!(
        "{}, {} access tokens, password pool {} at once + queue to {}",
        settings.keys.algorithm,
        settings.tokens.access_token_format,
        settings
            .sessions
            .password_workers
            .map_or_else(|| "cores".to_string(), |w| w.to_string()),
        settings.sessions.password_queue
    );
    type Ready = anyhow::Result<(u16, actix_web::dev::ServerHandle, Engine, String, String)>;
    let (tx, rx) = mpsc::channel::<Ready>();
    let thread = std::thread::Builder::new()
        .name("tessera-server".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let app = match Application::build(settings).await {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let spec = ClientSpec {
                    client_id: Some("loadtest".into()),
                    name: Some("load test client".into()),
                    scope: Some("read write".into()),
                    ..ClientSpec::default()
                };
                let created = match app.engine().directory.send(CreateClient(spec)).await {
                    Ok(Ok((c, Some(s)))) => Ok((c.client_id.clone(), s)),
                    Ok(Ok((_, None))) => Err(anyhow!("the load test client has no secret")),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(e.into()),
                };
                let ready =
                    created.map(|(id, s)| (app.port(), app.handle(), app.engine().clone(), id, s));
                let ok = ready.is_ok();
                let _ = tx.send(ready);
                if ok {
                    let _ = app.run_until_stopped().await;
                }
            });
        })?;
    let (port, handle, engine, client_id, client_secret) = rx
        .recv()
        .map_err(|_| anyhow!("the tessera server thread died"))??;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    println!(
        "tessera: in-process on {addr} ({} HTTP workers, {describe})",
        opts.workers
    );
    Ok(Target {
        server: Running {
            addr,
            handle: Some(handle),
            thread: Some(thread),
        },
        addr,
        host: "127.0.0.1".into(),
        engine: Some(engine),
        client_id,
        client_secret,
        admin_token: Some(admin_token),
        paths: Paths::tessera(),
        describe,
        _dir: Some(dir),
    })
}

fn external_target(url: &str, opts: &Opts) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must be http://host:port (plain HTTP on loopback)"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .with_context(|| format!("resolving {hostport}"))?
        .collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!(
            "--url must name a loopback address (127.0.0.1, ::1, localhost); {hostport} does not"
        );
    }
    let (id, secret) = match (opts.client_id.clone(), opts.client_secret.clone()) {
        (Some(id), Some(secret)) => (id, secret),
        // Created through the admin API by `setup_http`.
        (None, None) if opts.admin_token.is_some() => (String::new(), String::new()),
        _ => bail!(
            "--url needs --client-id and --client-secret of a client allowed client_credentials, or --admin-token to create one"
        ),
    };
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| anyhow!("no address"))?;
    println!("{}: external at {addr}", opts.name);
    Ok(Target {
        server: Running {
            addr,
            handle: None,
            thread: None,
        },
        addr,
        host: hostport.to_string(),
        engine: None,
        client_id: id,
        client_secret: secret,
        admin_token: opts.admin_token.clone(),
        paths: Paths::tessera(),
        describe: "external server's configuration".into(),
        _dir: None,
    })
}

/// The baseline: a bare actix-web server with the same worker count and one
/// POST handler that parses the form body and answers a fixed JSON body.
fn start_baseline(workers: usize, body: Vec<u8>) -> anyhow::Result<Running> {
    use actix_web::{web, App, HttpResponse, HttpServer};

    async fn handler(
        form: web::Form<HashMap<String, String>>,
        body: web::Data<web::Bytes>,
    ) -> HttpResponse {
        if form.is_empty() {
            return HttpResponse::BadRequest().finish();
        }
        HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .insert_header(("pragma", "no-cache"))
            .content_type("application/json")
            .body(body.get_ref().clone())
    }

    type Ready = io::Result<(SocketAddr, actix_web::dev::ServerHandle)>;
    let (tx, rx) = mpsc::channel::<Ready>();
    let body = web::Bytes::from(body);
    let thread = std::thread::Builder::new()
        .name("baseline-server".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(body.clone()))
                        .default_service(web::post().to(handler))
                })
                .workers(workers)
                .bind(("127.0.0.1", 0));
                let server = match server {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let addr = server.addrs().first().copied();
                let server = server.run();
                match addr {
                    Some(a) => {
                        let _ = tx.send(Ok((a, server.handle())));
                        let _ = server.await;
                    }
                    None => {
                        let _ = tx.send(Err(io::Error::other("baseline bound no address")));
                    }
                }
            });
        })?;
    let (addr, handle) = rx
        .recv()
        .map_err(|_| anyhow!("the baseline server thread died"))??;
    println!("baseline: bare actix-web on {addr} ({workers} HTTP workers)");
    Ok(Running {
        addr,
        handle: Some(handle),
        thread: Some(thread),
    })
}

// ---------------------------------------------------------------------------
// Seeding

/// What the runs work on.
struct Fixture {
    host: String,
    auth: String,
    /// Tokens whose requests are pre-built (seeded sample and JWTs, shuffled).
    pool: Vec<String>,
    /// A real active introspection answer, served verbatim by the baseline.
    active_body: Vec<u8>,
    /// Resident tokens and the RSS they cost (in-process only).
    seeded: usize,
    rss: Option<(u64, u64)>,
    /// login-storm, code-flow, faults: usernames created through the
    /// engine or the admin API (password [`LOGIN_PASSWORD`]).
    users: Vec<String>,
    /// The standard endpoints' paths.
    paths: Paths,
    /// The client_credentials request body.
    cc_body: String,
    /// code-flow: the public first-party client made for it.
    flow_client: Option<String>,
}

/// The client_credentials form body asking for `scope` (none if empty).
fn cc_body(scope: &str) -> String {
    if scope.trim().is_empty() {
        "grant_type=client_credentials".to_string()
    } else {
        format!("grant_type=client_credentials&scope={}", form_value(scope))
    }
}

async fn prepare(target: &Target, opts: &Opts) -> anyhow::Result<Fixture> {
    let auth = basic(&target.client_id, &target.client_secret);
    let host = target.host.clone();

    // Real JWTs (or opaque tokens, per the server's format) over HTTP.
    let started = Instant::now();
    let cc = cc_body(&opts.scope);
    let issue = Arc::new(post(&host, &target.paths.token, &auth, &cc));
    let jwts = issue_tokens(target.addr, issue, opts.jwts, opts.connections.min(16)).await?;
    println!(
        "issued {} tokens over HTTP (client_credentials) in {:.2} s",
        jwts.len(),
        started.elapsed().as_secs_f64()
    );

    let mut rng = Rng::new(0x7e55_e7a0);
    let mut pool = jwts;
    let mut seeded = 0;
    let mut rss = None;
    if let Some(engine) = &target.engine {
        let sample = opts.pool.saturating_sub(pool.len()).min(opts.tokens);
        let (from_seed, r) = seed(engine, &target.client_id, opts.tokens, sample).await?;
        pool.extend(from_seed);
        seeded = opts.tokens;
        rss = r;
    } else if opts.tokens > 0 {
        println!("(--url: no engine to seed; only the {} tokens issued over HTTP are resident from this run)", pool.len());
    }
    pool.truncate(opts.pool.max(1));
    rng.shuffle(&mut pool);
    anyhow::ensure!(
        !pool.is_empty(),
        "no tokens to work on (raise --jwts or --tokens)"
    );

    // One real introspection: its answer is what the baseline sends back.
    let first = pool.first().cloned().unwrap_or_default();
    let req = post(
        &host,
        &target.paths.introspect,
        &auth,
        &format!("token={}", form_value(&first)),
    );
    let (status, body) = request_once(target.addr, &req).await?;
    anyhow::ensure!(
        status == 200 && contains(&body, br#""active":true"#),
        "a seeded token does not introspect active: {status} {}",
        String::from_utf8_lossy(&body)
    );
    println!("active introspection answer: {} bytes", body.len());

    let users = if opts.scenario.needs_users() {
        // A virtual user of the code flow is one user: no more are needed.
        let n = if opts.scenario == Scenario::CodeFlow {
            opts.users.min(opts.connections)
        } else {
            opts.users
        };
        let users = match &target.engine {
            Some(engine) => seed_users(engine, n).await?,
            None => create_users_http(target, n).await?,
        };
        {
            // One real login: the storm's answers are checked against it.
            let first = users.first().ok_or_else(|| anyhow!("no users"))?;
            let req = post_json(
                &host,
                LOGIN_PATH,
                &opts.login_user_agent,
                &login_body(first),
            );
            let (status, body) = request_once(target.addr, &req).await?;
            anyhow::ensure!(
                status == 200 && contains(&body, br#""mode":"authentication""#),
                "a created user cannot log in: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        users
    } else {
        Vec::new()
    };
    let flow_client = if opts.scenario == Scenario::CodeFlow {
        Some(create_flow_client(target, opts).await?)
    } else {
        None
    };
    Ok(Fixture {
        host,
        auth,
        pool,
        active_body: body,
        seeded,
        rss,
        users,
        paths: target.paths.clone(),
        cc_body: cc,
        flow_client,
    })
}

/// Create `n` active users through the engine's directory, all with one
/// argon2id hash of [`LOGIN_PASSWORD`] made by the server's own pool.
async fn seed_users(engine: &Engine, n: usize) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let hash = engine
        .passwords
        .hash(LOGIN_PASSWORD.to_string())
        .await
        .map_err(|e| anyhow!("hashing the load-test password: {e}"))?;
    let names: Vec<String> = (0..n).map(|i| format!("storm{i:06}")).collect();
    // Each creation is a durable write; a few in flight overlap them.
    let next = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(names);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (next, names, hash) = (next.clone(), names.clone(), hash.clone());
        let directory = engine.directory.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                directory
                    .send(CreateUser(NewUser {
                        username: name.clone(),
                        email: format!("{name}@example.com"),
                        password_hash: hash.clone(),
                        email_verified: true,
                        name: Some(format!("Load {name}")),
                        ..NewUser::default()
                    }))
                    .await
                    .map_err(|e| anyhow!("directory mailbox: {e}"))?
                    .map_err(|e| anyhow!("creating {name}: {e}"))?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "created {n} users through the engine in {:.2} s ({})",
        started.elapsed().as_secs_f64(),
        hash.split('$').take(4).collect::<Vec<_>>().join("$")
    );
    Ok(Arc::try_unwrap(names).unwrap_or_else(|a| (*a).clone()))
}

/// Seed `n` live opaque access tokens of `client_id` through the engine, in
/// batches of `RecordUnpersisted`. Answers the first `sample` token strings
/// and the RSS before and after.
async fn seed(
    engine: &Engine,
    client_id: &str,
    n: usize,
    sample: usize,
) -> anyhow::Result<(Vec<String>, Option<(u64, u64)>)> {
    let grant = Grant {
        client_id: client_id.to_string(),
        sub: client_id.to_string(),
        username: None,
        scope: "read write".into(),
        aud: vec![Arc::from(client_id)],
        sid: None,
    };
    let now = SystemClock.now();
    // Long enough to outlive any run; short enough to be a plausible token.
    let exp = now + 4 * 3600;
    // The sample is generated before the first RSS reading, so the strings
    // the generator keeps are not counted against the server.
    let kept: Vec<String> = (0..sample)
        .map(|_| secret::new_secret(prefix::ACCESS_TOKEN))
        .collect();
    let before_len = engine.tokens.len();
    let before = resident_bytes();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..n {
        let fresh;
        let token = match kept.get(i) {
            Some(t) => t.as_str(),
            None => {
                fresh = secret::new_secret(prefix::ACCESS_TOKEN);
                fresh.as_str()
            }
        };
        batch.push(NewToken {
            key: secret::token_key(token),
            jti: uuid::Uuid::new_v4().as_u128(),
            family: 0,
            iat: now,
            exp,
            kind: TokenKind::AccessToken,
            grant: grant.clone(),
        });
        if batch.len() == SEED_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(SEED_BATCH));
            engine.issuer.send(RecordUnpersisted(full)).await?;
        }
    }
    drop(grant);
    engine.issuer.send(RecordUnpersisted(batch)).await?;
    let after = resident_bytes();
    let resident = engine.tokens.len() - before_len;
    anyhow::ensure!(
        resident == n,
        "seeded {n} tokens but {resident} became resident"
    );
    println!(
        "seeded {n} resident tokens through the engine in {:.2} s ({} in the index now)",
        started.elapsed().as_secs_f64(),
        engine.tokens.len()
    );
    let rss = before.zip(after);
    if let Some((b, a)) = rss {
        println!(
            "RSS {:.1} MiB -> {:.1} MiB: {:.0} bytes per resident token",
            b as f64 / 1048576.0,
            a as f64 / 1048576.0,
            per_token(b, a, n)
        );
    }
    Ok((kept, rss))
}

fn per_token(before: u64, after: u64, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / n as f64
}

/// Issue `count` tokens over HTTP on `conns` connections; answers them.
async fn issue_tokens(
    addr: SocketAddr,
    req: Arc<Vec<u8>>,
    count: usize,
    conns: usize,
) -> anyhow::Result<Vec<String>> {
    let left = Arc::new(AtomicI64::new(i64::try_from(count).unwrap_or(i64::MAX)));
    let mut tasks = Vec::new();
    for _ in 0..conns.max(1) {
        let (req, left) = (req.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut stream = connect(addr).await?;
            let mut buf = Vec::with_capacity(4096);
            while left.fetch_sub(1, Ordering::Relaxed) > 0 {
                stream.write_all(&req).await?;
                let r = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut stream, &mut buf))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "token request timed out")
                    })??;
                let body = buf.get(r.body.clone()).unwrap_or_default();
                if r.status != 200 {
                    return Err(anyhow!(
                        "token endpoint answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(body)
                    ));
                }
                let v: serde_json::Value = serde_json::from_slice(body)?;
                let t = v
                    .get("access_token")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| anyhow!("no access_token in the token response"))?;
                out.push(t.to_string());
                if r.close {
                    stream = connect(addr).await?;
                }
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Tokens per second signed with a pre-parsed key by `threads` threads at
/// once, each signing in a tight loop for about a second.
fn signing_rate(alg: KeyAlg, threads: usize) -> anyhow::Result<f64> {
    #[derive(Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        client_id: &'a str,
        scope: &'a str,
        jti: String,
        iat: i64,
        nbf: i64,
        exp: i64,
    }
    let g = generate(alg).map_err(|e| anyhow!("{e}"))?;
    let signer =
        Signer::new(&g.public.thumbprint(), alg, &g.private_der).map_err(|e| anyhow!("{e}"))?;
    let now = SystemClock.now();
    let claims = Claims {
        iss: "http://127.0.0.1:8080",
        sub: "loadtest",
        aud: "loadtest",
        client_id: "loadtest",
        scope: "read write",
        jti: uuid::Uuid::new_v4().hyphenated().to_string(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    };
    let sign_for_a_second = || -> anyhow::Result<(u64, f64)> {
        let sign = || {
            signer
                .sign(JwtType::AccessToken, &claims)
                .map_err(|e| anyhow!("{e}"))
        };
        for _ in 0..50 {
            sign()?;
        }
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(1) {
            for _ in 0..50 {
                std::hint::black_box(sign()?);
            }
            n += 50;
        }
        Ok((n, started.elapsed().as_secs_f64()))
    };
    std::thread::scope(|scope| {
        let running: Vec<_> = (0..threads.max(1))
            .map(|_| scope.spawn(sign_for_a_second))
            .collect();
        let mut rate = 0.0;
        for r in running {
            let (n, secs) = r
                .join()
                .map_err(|_| anyhow!("a signing thread panicked"))??;
            rate += n as f64 / secs;
        }
        Ok(rate)
    })
}

/// A raw argon2id verify rate and the parameters it was measured with.
struct VerifyRate {
    rate: f64,
    /// As the PHC string names them, e.g. `argon2id v=19 m=19456,t=2,p=1`.
    params: String,
    /// Process CPU milliseconds per verify.
    cpu_ms: f64,
    /// Minor page faults of the process per verify.
    faults: f64,
}

/// Verifications per second by `threads` threads at once, each verifying
/// in a loop for [`RAW_VERIFY_SECS`]. It goes through a `PasswordPool` of
/// its own (`threads` at once, nobody else queued), so the parameters and
/// the verify call are exactly the server's; the pool's own overhead is a
/// semaphore and a `spawn_blocking`, microseconds against milliseconds.
fn verify_rate(rt: &tokio::runtime::Runtime, threads: usize) -> anyhow::Result<VerifyRate> {
    let threads = threads.max(1);
    rt.block_on(async {
        let pool = Arc::new(PasswordPool::new(threads, threads));
        let hash = pool
            .hash(LOGIN_PASSWORD.to_string())
            .await
            .map_err(|e| anyhow!("argon2id hash: {e}"))?;
        let params = hash
            .split('$')
            .skip(1)
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let cpu_before = process_cpu_secs();
        let faults_before = process_minor_faults();
        let running: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, hash) = (pool.clone(), hash.clone());
                tokio::spawn(async move {
                    let verify = || async {
                        match pool
                            .verify(LOGIN_PASSWORD.to_string(), Some(hash.clone()))
                            .await
                        {
                            Ok(true) => Ok(()),
                            Ok(false) => Err(anyhow!("the load-test password does not verify")),
                            Err(e) => Err(anyhow!("argon2id verify: {e}")),
                        }
                    };
                    verify().await?;
                    let started = Instant::now();
                    let mut n = 0u64;
                    while started.elapsed().as_secs_f64() < RAW_VERIFY_SECS {
                        verify().await?;
                        n += 1;
                    }
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    // The warm-up verify counts for CPU and page faults.
                    Ok::<_, anyhow::Error>((n + 1, rate))
                })
            })
            .collect();
        let mut rate = 0.0;
        let mut verifies = 0;
        for r in running {
            let (n, r) = r.await??;
            rate += r;
            verifies += n;
        }
        Ok(VerifyRate {
            rate,
            params,
            cpu_ms: 1000.0 * (process_cpu_secs() - cpu_before) / verifies.max(1) as f64,
            faults: process_minor_faults().saturating_sub(faults_before) as f64
                / verifies.max(1) as f64,
        })
    })
}

// ---------------------------------------------------------------------------
// login-storm

/// Per round: paced introspection alone, the login storm alone, then both
/// at once on separate connections; then the summary against the targets.
fn login_storm(
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
        let tag = if opts.rounds > 1 {
            format!(" [round {round}/{}]", opts.rounds)
        } else {
            String::new()
        };
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
        "introspection p50 {} -> {}, p99.9 {} -> {}, max {} -> {}; {:.0} -> {:.0} req/s answered of {rate:.0} offered",
        ms(q.value_at_quantile(0.50)),
        ms(u.value_at_quantile(0.50)),
        ms(q.value_at_quantile(0.999)),
        ms(u.value_at_quantile(0.999)),
        ms(q.max()),
        ms(u.max()),
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

// ---------------------------------------------------------------------------
// Setup over HTTP: discovery, the admin API

/// The path of an endpoint URL from discovery (`http://host/p` -> `/p`).
fn url_path(url: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_string());
    }
    let rest = url.split_once("://")?.1;
    let i = rest.find('/')?;
    rest.get(i..).map(str::to_string)
}

/// With `--url`: the endpoints from discovery, and a client_credentials
/// client from the admin API when none was given. The path flags win.
async fn setup_http(target: &mut Target, opts: &Opts) -> anyhow::Result<()> {
    if target.engine.is_none() {
        let req = request(
            "GET",
            &target.host,
            "/.well-known/openid-configuration",
            &[],
            None,
            "",
        );
        let found = match exchange_once(target.addr, &req).await {
            Ok(a) if a.status == 200 => a.json().ok(),
            _ => None,
        };
        match found {
            Some(d) => {
                let path = |k: &str| d.get(k).and_then(|v| v.as_str()).and_then(url_path);
                if let Some(p) = path("token_endpoint") {
                    target.paths.token = p;
                }
                if let Some(p) = path("introspection_endpoint") {
                    target.paths.introspect = p;
                }
                if let Some(p) = path("revocation_endpoint") {
                    target.paths.revoke = p;
                }
                println!(
                    "discovery: token {}, introspection {}, revocation {}",
                    target.paths.token, target.paths.introspect, target.paths.revoke
                );
            }
            None => println!("discovery: no /.well-known/openid-configuration; tessera's paths"),
        }
    }
    if let Some(p) = &opts.token_path {
        target.paths.token = p.clone();
    }
    if let Some(p) = &opts.introspect_path {
        target.paths.introspect = p.clone();
    }
    if let Some(p) = &opts.revoke_path {
        target.paths.revoke = p.clone();
    }
    if target.client_id.is_empty() {
        let mut spec = serde_json::json!({ "name": "load test client" });
        if !opts.scope.trim().is_empty() {
            spec["scope"] = opts.scope.clone().into();
        }
        if let Some(f) = &opts.client_token_format {
            spec["access_token_format"] = f.clone().into();
            target.describe = format!("a client with {f} access tokens");
        }
        let v = admin_call(target, "POST", "/admin/clients", &spec)
            .await
            .context("creating the load test client")?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("no {k} in the created client: {v}"))
        };
        target.client_id = field("client_id")?;
        target.client_secret = field("client_secret")?;
        println!("created client {} through the admin API", target.client_id);
    }
    Ok(())
}

/// One admin API call (JSON body, bearer admin token); the JSON answer of
/// a 2xx.
async fn admin_call(
    target: &Target,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let a = admin_send(target, method, path, body).await?;
    anyhow::ensure!(
        (200..300).contains(&a.status),
        "{method} {path} answered {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

async fn admin_send(
    target: &Target,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<Answer> {
    let token = target
        .admin_token
        .as_deref()
        .ok_or_else(|| anyhow!("{method} {path} needs --admin-token"))?;
    let bearer = format!("Bearer {token}");
    let req = request(
        method,
        &target.host,
        path,
        &[("Authorization", &bearer)],
        Some("application/json"),
        &body.to_string(),
    );
    exchange_once(target.addr, &req).await
}

/// Create `n` users through the admin API (each is an argon2 hash on the
/// server): `storm000000`... with [`LOGIN_PASSWORD`], e-mail verified. A
/// name already taken (`409`, an earlier run against the same server) is
/// taken as made with the same password; the login check after catches it
/// if not. A `503` (password pool full) is retried after a pause.
async fn create_users_http(target: &Target, n: usize) -> anyhow::Result<Vec<String>> {
    const TASKS: usize = 4;
    const TRIES: usize = 100;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let names: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("storm{i:06}")).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let (made, existed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let target = Arc::new((target.addr, target.host.clone(), target.admin_token.clone()));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (next, names, made, existed, target) = (
            next.clone(),
            names.clone(),
            made.clone(),
            existed.clone(),
            target.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (addr, host, token) = &*target;
            let bearer = format!("Bearer {}", token.as_deref().unwrap_or_default());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let body = serde_json::json!({
                    "username": name,
                    "email": format!("{name}@example.com"),
                    "password": LOGIN_PASSWORD,
                    "email_verified": true,
                    "name": format!("Load {name}"),
                })
                .to_string();
                let req = request(
                    "POST",
                    host,
                    "/admin/users",
                    &[("Authorization", &bearer)],
                    Some("application/json"),
                    &body,
                );
                let mut tries = 0;
                loop {
                    tries += 1;
                    anyhow::ensure!(
                        tries <= TRIES && Instant::now() < deadline,
                        "creating {name}: gave up after {TRIES} tries or 600 s"
                    );
                    let a = exchange_once(*addr, &req).await?;
                    match a.status {
                        201 | 200 => {
                            made.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        409 => {
                            existed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        503 => tokio::time::sleep(BUSY_PAUSE * 5).await,
                        s => bail!(
                            "POST /admin/users {name}: {s} {}",
                            String::from_utf8_lossy(&a.body)
                        ),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "users through the admin API in {:.2} s: {} created, {} already there",
        started.elapsed().as_secs_f64(),
        made.load(Ordering::Relaxed),
        existed.load(Ordering::Relaxed)
    );
    Ok(Arc::try_unwrap(names).unwrap_or_else(|a| (*a).clone()))
}

/// code-flow: a public, first-party client (PKCE, no consent page) with
/// `--redirect-uri`, made through the admin API.
async fn create_flow_client(target: &Target, opts: &Opts) -> anyhow::Result<String> {
    let spec = serde_json::json!({
        "name": "load test code flow",
        "public": true,
        "first_party": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [opts.redirect_uri],
        "scope": opts.flow_scope,
    });
    let v = admin_call(target, "POST", "/admin/clients", &spec)
        .await
        .context("creating the code-flow client")?;
    let id = v
        .get("client_id")
        .and_then(|x| x.as_str())
        .ok_or_else(|| anyhow!("no client_id in {v}"))?
        .to_string();
    println!("created public first-party client {id} for the code flow through the admin API");
    Ok(id)
}

// ---------------------------------------------------------------------------
// code-flow

/// What every virtual user of the code flow shares.
struct FlowSpec {
    host: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    token_path: String,
    /// Per user: the complete `POST /auth/login` request.
    logins: Vec<Vec<u8>>,
    login_once: bool,
}

/// Why a step got no answer.
enum StepError {
    Connection,
    Timeout,
}

/// Send `req` on the virtual user's connection (connecting if needed) and
/// read the answer into `buf`. The connection is dropped on an error and
/// after a `Connection: close`.
async fn send_on(
    addr: SocketAddr,
    stream: &mut Option<TcpStream>,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> Result<Response, StepError> {
    if stream.is_none() {
        *stream = Some(connect(addr).await.map_err(|_| StepError::Connection)?);
    }
    let Some(st) = stream.as_mut() else {
        return Err(StepError::Connection);
    };
    if st.write_all(req).await.is_err() {
        *stream = None;
        return Err(StepError::Connection);
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, read_response(st, buf)).await {
        Ok(Ok(r)) => {
            if r.close {
                *stream = None;
            }
            Ok(r)
        }
        Ok(Err(_)) => {
            *stream = None;
            Err(StepError::Connection)
        }
        Err(_) => {
            *stream = None;
            Err(StepError::Timeout)
        }
    }
}

/// Keep the cookies a response sets; drop the ones it clears.
fn absorb_cookies(jar: &mut Vec<(String, String)>, head: &[u8]) {
    for (n, v) in headers(head) {
        if !n.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let (pair, attrs) = v.split_once(';').unwrap_or((v.as_str(), ""));
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        jar.retain(|(k, _)| k != name);
        if !value.is_empty() && !attrs.to_ascii_lowercase().contains("max-age=0") {
            jar.push((name.to_string(), value.to_string()));
        }
    }
}

fn micros_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The steps of a flow, for the per-step error counts.
const STEP_LOGIN: usize = 0;
const STEP_AUTHORIZE: usize = 1;
const STEP_TOKEN: usize = 2;

/// One virtual user: a browser with its own connection and cookie jar,
/// running flows until told to stop. A flow that fails at a step is
/// counted against that step and started again from the login.
async fn flow_user(addr: SocketAddr, spec: Arc<FlowSpec>, ctl: Arc<Control>, vu: u64) -> Stats {
    let mut s = Stats::new();
    let mut buf = Vec::with_capacity(8192);
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let login = spec
        .logins
        .get(usize::try_from(vu).unwrap_or(0) % spec.logins.len().max(1))
        .cloned()
        .unwrap_or_default();
    let mut next_send = ctl
        .pace
        .map(|iv| ctl.started + iv.mul_f64(vu.saturating_sub(1) as f64 / ctl.conns.max(1) as f64));
    let fail = |s: &mut Stats, step: usize, e: Option<StepError>| {
        if let Some(c) = s.step_errors.get_mut(step) {
            *c += 1;
        }
        match e {
            Some(StepError::Connection) => s.conn_errors += 1,
            Some(StepError::Timeout) => s.timeouts += 1,
            None => {}
        }
    };
    while Instant::now() < ctl.deadline {
        if let (Some(iv), Some(at)) = (ctl.pace, next_send.as_mut()) {
            tokio::time::sleep_until((*at).into()).await;
            *at += iv;
        }
        if !ctl.go() {
            break;
        }
        let flow_started = Instant::now();

        // 1. Log in (a fresh browser), unless the session is kept.
        if !spec.login_once || jar.is_empty() {
            jar.clear();
            let t = Instant::now();
            let r = match send_on(addr, &mut stream, &login, &mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut s, STEP_LOGIN, Some(e));
                    continue;
                }
            };
            let micros = micros_since(t);
            match r.status {
                200 if contains(
                    buf.get(r.body.clone()).unwrap_or_default(),
                    br#""mode":"authentication""#,
                ) =>
                {
                    s.completed += 1;
                    s.login_h.saturating_record(micros);
                    absorb_cookies(&mut jar, buf.get(..r.head).unwrap_or_default());
                }
                503 => {
                    s.busy += 1;
                    tokio::time::sleep(BUSY_PAUSE).await;
                    continue;
                }
                status => {
                    s.completed += 1;
                    if status == 429 {
                        s.limited += 1;
                    }
                    if (200..300).contains(&status) {
                        s.bad_body += 1;
                    } else {
                        s.non_2xx += 1;
                    }
                    fail(&mut s, STEP_LOGIN, None);
                    tokio::time::sleep(BUSY_PAUSE).await;
                    continue;
                }
            }
            if jar.is_empty() {
                s.bad_body += 1;
                fail(&mut s, STEP_LOGIN, None);
                continue;
            }
        }

        // 2. Authorize with PKCE; the answer is a redirect with the code.
        let verifier = secret::b64url(&secret::random_bytes::<32>());
        let challenge = secret::b64url(&secret::sha256(verifier.as_bytes()));
        let state = secret::b64url(&secret::random_bytes::<12>());
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &spec.client_id)
            .append_pair("redirect_uri", &spec.redirect_uri)
            .append_pair("scope", &spec.scope)
            .append_pair("state", &state)
            .append_pair("nonce", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = request(
            "GET",
            &spec.host,
            &format!("/oauth2/authorize?{query}"),
            &[("Cookie", &cookie)],
            None,
            "",
        );
        let t = Instant::now();
        let r = match send_on(addr, &mut stream, &req, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                fail(&mut s, STEP_AUTHORIZE, Some(e));
                continue;
            }
        };
        let micros = micros_since(t);
        s.completed += 1;
        if !matches!(r.status, 302 | 303) {
            // 200 would be a consent page: the client is first-party, so
            // this is an error like any other.
            if (200..300).contains(&r.status) {
                s.bad_body += 1;
            } else {
                s.non_2xx += 1;
            }
            fail(&mut s, STEP_AUTHORIZE, None);
            jar.clear();
            continue;
        }
        let location = headers(buf.get(..r.head).unwrap_or_default())
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v)
            .unwrap_or_default();
        let params: HashMap<String, String> = location
            .split_once('?')
            .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let code = match params.get("code") {
            Some(code)
                if location.starts_with(&spec.redirect_uri)
                    && params.get("state") == Some(&state) =>
            {
                code.clone()
            }
            _ => {
                // An error redirect, or to the login page (session lost).
                s.bad_body += 1;
                fail(&mut s, STEP_AUTHORIZE, None);
                jar.clear();
                continue;
            }
        };
        s.authorize_h.saturating_record(micros);

        // 3. The code for tokens, with the verifier (public client).
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &spec.redirect_uri)
            .append_pair("code_verifier", &verifier)
            .append_pair("client_id", &spec.client_id)
            .finish();
        let req = request(
            "POST",
            &spec.host,
            &spec.token_path,
            &[],
            Some("application/x-www-form-urlencoded"),
            &body,
        );
        let t = Instant::now();
        let r = match send_on(addr, &mut stream, &req, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                fail(&mut s, STEP_TOKEN, Some(e));
                continue;
            }
        };
        let micros = micros_since(t);
        s.completed += 1;
        if r.status != 200 {
            s.non_2xx += 1;
            fail(&mut s, STEP_TOKEN, None);
            continue;
        }
        if !contains(
            buf.get(r.body.clone()).unwrap_or_default(),
            br#""access_token""#,
        ) {
            s.bad_body += 1;
            fail(&mut s, STEP_TOKEN, None);
            continue;
        }
        s.exchange_h.saturating_record(micros);
        s.flows += 1;
        s.all.saturating_record(micros_since(flow_started));
    }
    s
}

/// Run `conns` virtual users for `secs` (or `max` flows).
fn run_flows(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    spec: &Arc<FlowSpec>,
    conns: usize,
    secs: f64,
    max: Option<u64>,
    rate: Option<f64>,
) -> (Stats, Duration) {
    rt.block_on(async {
        let ctl = Control::new(conns, secs, max, rate);
        let tasks: Vec<_> = (0..conns)
            .map(|i| tokio::spawn(flow_user(addr, spec.clone(), ctl.clone(), i as u64 + 1)))
            .collect();
        (join_stats(tasks).await, ctl.started.elapsed())
    })
}

fn code_flow(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    f: &Fixture,
    opts: &Opts,
) -> anyhow::Result<()> {
    let client_id = f
        .flow_client
        .clone()
        .ok_or_else(|| anyhow!("no code-flow client"))?;
    let spec = Arc::new(FlowSpec {
        host: f.host.clone(),
        client_id,
        redirect_uri: opts.redirect_uri.clone(),
        scope: opts.flow_scope.clone(),
        token_path: f.paths.token.clone(),
        logins: f
            .users
            .iter()
            .map(|u| post_json(&f.host, LOGIN_PATH, &opts.login_user_agent, &login_body(u)))
            .collect(),
        login_once: opts.login_once,
    });
    let mut runs = Vec::new();
    for round in 1..=opts.rounds {
        let tag = if opts.rounds > 1 {
            format!(" [round {round}/{}]", opts.rounds)
        } else {
            String::new()
        };
        if opts.warmup > 0.0 {
            let _ = run_flows(
                rt,
                target.addr,
                &spec,
                opts.connections,
                opts.warmup,
                None,
                opts.rate,
            );
        }
        let cpu_before = process_cpu_secs();
        let faults_before = process_minor_faults();
        let server_before = server_cpu_secs();
        let (stats, elapsed) = run_flows(
            rt,
            target.addr,
            &spec,
            opts.connections,
            opts.duration,
            opts.max_requests,
            opts.rate,
        );
        let r = Report {
            label: format!("{} authorization code flow{tag}", opts.name),
            stats,
            elapsed,
            cpu: process_cpu_secs() - cpu_before,
            faults: process_minor_faults().saturating_sub(faults_before),
            server_cpu: server_cpu_secs().zip(server_before).map(|(a, b)| a - b),
        };
        print_report(&r);
        runs.push(r);
    }
    let r = combine(&format!("{} code flow, all rounds", opts.name), runs)
        .ok_or_else(|| anyhow!("no run"))?;
    if opts.rounds > 1 {
        print_report(&r);
    }
    let s = &r.stats;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!();
    println!(
        "=== summary (CodeFlow, {} virtual users over {} users, {}{})",
        opts.connections,
        f.users.len(),
        if opts.login_once {
            "one login each, then authorize + token"
        } else {
            "login + authorize + token every flow"
        },
        match &opts.url {
            Some(u) => format!(", external server at {u}"),
            None => String::new(),
        }
    );
    println!(
        "completed flows: {} = {:.1} flows/s; HTTP requests {:.0}/s",
        s.flows,
        s.flows as f64 / secs,
        r.rps()
    );
    for (name, h) in [
        ("whole flow", &s.all),
        ("login", &s.login_h),
        ("authorize", &s.authorize_h),
        ("token", &s.exchange_h),
    ] {
        if !h.is_empty() {
            println!(
                "{name}: p50 {}  p99 {}  max {}",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            );
        }
    }
    println!(
        "failed flows by step: login {}, authorize {}, token {}; password pool full (503) {}; rate-limited (429) {}",
        s.step_errors[STEP_LOGIN],
        s.step_errors[STEP_AUTHORIZE],
        s.step_errors[STEP_TOKEN],
        s.busy,
        s.limited
    );
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    result_line(serde_json::json!({
        "name": opts.name,
        "scenario": "code-flow",
        "connections": opts.connections,
        "login_once": opts.login_once,
        "flows_per_s": s.flows as f64 / secs,
        "flow_p50_ms": q(&s.all, 0.5),
        "flow_p99_ms": q(&s.all, 0.99),
        "login_p99_ms": q(&s.login_h, 0.99),
        "authorize_p99_ms": q(&s.authorize_h, 0.99),
        "token_p99_ms": q(&s.exchange_h, 0.99),
        "failed_flows": s.step_errors.iter().sum::<u64>(),
        "busy_503": s.busy,
        "limited_429": s.limited,
    }));
    Ok(())
}

// ---------------------------------------------------------------------------
// faults

/// Per round: paced introspection alone (the quiet p99), then the
/// introspect-revoke mix at the same pacing while a login storm runs on
/// its own connections. The mix works on one half of the pool and the
/// quiet run on the other, so the quiet run never meets a revoked token.
fn faults(rt: &tokio::runtime::Runtime, target: &Target, f: &Fixture, opts: &Opts) {
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
        let tag = if opts.rounds > 1 {
            format!(" [round {round}/{}]", opts.rounds)
        } else {
            String::new()
        };
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
    println!(
        "introspection p50 {} -> {}, p99.9 {} -> {}, max {} -> {}",
        ms(q.value_at_quantile(0.5)),
        ms(u.value_at_quantile(0.5)),
        ms(q.value_at_quantile(0.999)),
        ms(u.value_at_quantile(0.999)),
        ms(q.max()),
        ms(u.max())
    );
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

/// A machine-readable line with a run's headline numbers (for scripts).
fn result_line(v: serde_json::Value) {
    println!("result: {v}");
}

// ---------------------------------------------------------------------------
// Requests

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
}

fn form_value(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A complete HTTP/1.1 keep-alive POST of a form, client_secret_basic.
fn post(host: &str, path: &str, basic: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A complete HTTP/1.1 keep-alive POST of a JSON body, no credentials;
/// with a `User-Agent` unless `ua` is empty.
fn post_json(host: &str, path: &str, ua: &str, body: &str) -> Vec<u8> {
    let ua = if ua.is_empty() {
        String::new()
    } else {
        format!("User-Agent: {ua}\r\n")
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{ua}Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON login body of `user` (`login` takes a username or an e-mail).
fn login_body(user: &str) -> String {
    serde_json::json!({ "login": user, "password": LOGIN_PASSWORD }).to_string()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A small xorshift generator: the harness needs speed, not quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------
// Workloads

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Introspect pool tokens; with `check`, every answer must be active.
    Introspect {
        check: bool,
    },
    IntrospectRevoke,
    Revoke,
    /// One fixed request (client_credentials).
    Fixed,
    /// `POST /auth/login` of each user in turn.
    Login,
}

const LIVE: u8 = 0;
const REVOKING: u8 = 1;
const REVOKED: u8 = 2;

struct Workload {
    mode: Mode,
    introspect: Vec<Vec<u8>>,
    revoke: Vec<Vec<u8>>,
    fixed: Vec<u8>,
    logins: Vec<Vec<u8>>,
    /// Per pool token: LIVE, REVOKING (request sent), REVOKED (200 received).
    state: Vec<AtomicU8>,
    /// Next pool token to revoke.
    cursor: AtomicUsize,
    /// Requests handed out (introspect-revoke picks every Nth to revoke).
    issued: AtomicU64,
    revoke_every: u64,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Introspect { idx: usize, revoked_at_send: bool },
    Revoke { idx: usize },
    Fixed,
    Login { idx: usize },
}

impl Workload {
    fn new(mode: Mode, f: &Fixture, opts: &Opts) -> Workload {
        Workload::with_tokens(mode, f, &f.pool, opts)
    }

    /// A workload over `tokens` (a part of the pool).
    fn with_tokens(mode: Mode, f: &Fixture, tokens: &[String], opts: &Opts) -> Workload {
        let intro = |t: &String| {
            post(
                &f.host,
                &f.paths.introspect,
                &f.auth,
                &format!("token={}", form_value(t)),
            )
        };
        let rev = |t: &String| {
            post(
                &f.host,
                &f.paths.revoke,
                &f.auth,
                &format!("token={}&token_type_hint=access_token", form_value(t)),
            )
        };
        let (introspect, revoke) = match mode {
            Mode::Introspect { .. } => (tokens.iter().map(intro).collect(), Vec::new()),
            Mode::IntrospectRevoke => (
                tokens.iter().map(intro).collect(),
                tokens.iter().map(rev).collect(),
            ),
            Mode::Revoke => (Vec::new(), tokens.iter().map(rev).collect()),
            Mode::Fixed | Mode::Login => (Vec::new(), Vec::new()),
        };
        let logins = match mode {
            Mode::Login => f
                .users
                .iter()
                .map(|u| {
                    let ua = if opts.vary_user_agent {
                        format!("{} {u}", opts.login_user_agent).trim().to_string()
                    } else {
                        opts.login_user_agent.clone()
                    };
                    post_json(&f.host, LOGIN_PATH, &ua, &login_body(u))
                })
                .collect(),
            _ => Vec::new(),
        };
        Workload {
            mode,
            introspect,
            revoke,
            fixed: post(&f.host, &f.paths.token, &f.auth, &f.cc_body),
            logins,
            state: (0..tokens.len()).map(|_| AtomicU8::new(LIVE)).collect(),
            cursor: AtomicUsize::new(0),
            issued: AtomicU64::new(0),
            revoke_every: opts.revoke_every,
        }
    }

    /// The next request; `None` when there is nothing left to revoke.
    fn next(&self, rng: &mut Rng) -> Option<Op> {
        match self.mode {
            Mode::Fixed => Some(Op::Fixed),
            // Round-robin over the users: each account logs in once every
            // --users logins.
            Mode::Login => Some(Op::Login {
                idx: (self.issued.fetch_add(1, Ordering::Relaxed) % self.logins.len().max(1) as u64)
                    as usize,
            }),
            Mode::Introspect { .. } => Some(Op::Introspect {
                idx: rng.below(self.introspect.len()),
                revoked_at_send: false,
            }),
            Mode::Revoke => self.take_revocation(),
            Mode::IntrospectRevoke => {
                let n = self.issued.fetch_add(1, Ordering::Relaxed);
                if n % self.revoke_every == self.revoke_every - 1 {
                    if let Some(op) = self.take_revocation() {
                        return Some(op);
                    }
                }
                // Half the introspections aim at the most recently revoked
                // tokens, where a stale answer would show.
                let c = self
                    .cursor
                    .load(Ordering::Acquire)
                    .min(self.introspect.len());
                let idx = if c > 0 && rng.next() & 1 == 0 {
                    c - 1 - rng.below(c.min(RECENT_WINDOW))
                } else {
                    rng.below(self.introspect.len())
                };
                let revoked_at_send = self
                    .state
                    .get(idx)
                    .is_some_and(|s| s.load(Ordering::Acquire) == REVOKED);
                Some(Op::Introspect {
                    idx,
                    revoked_at_send,
                })
            }
        }
    }

    fn take_revocation(&self) -> Option<Op> {
        let idx = self.cursor.fetch_add(1, Ordering::AcqRel);
        let s = self.state.get(idx)?;
        s.store(REVOKING, Ordering::Release);
        Some(Op::Revoke { idx })
    }

    fn bytes(&self, op: &Op) -> &[u8] {
        let b = match op {
            Op::Introspect { idx, .. } => self.introspect.get(*idx),
            Op::Revoke { idx } => self.revoke.get(*idx),
            Op::Fixed => Some(&self.fixed),
            Op::Login { idx } => self.logins.get(*idx),
        };
        b.map_or(&[][..], |v| v.as_slice())
    }

    fn done(&self, op: Op, status: u16, body: &[u8], s: &mut Stats) {
        // A full password pool is load shedding, not a failure: counted
        // on its own.
        if status == 503 {
            s.busy += 1;
            return;
        }
        if status == 429 {
            s.limited += 1;
        }
        if !(200..300).contains(&status) {
            s.non_2xx += 1;
            return;
        }
        match op {
            Op::Introspect {
                idx,
                revoked_at_send,
            } => {
                let active = contains(body, br#""active":true"#);
                if active {
                    s.active += 1;
                } else {
                    s.inactive += 1;
                }
                let check = matches!(
                    self.mode,
                    Mode::Introspect { check: true } | Mode::IntrospectRevoke
                );
                if !check {
                    return;
                }
                if active && revoked_at_send {
                    s.revoked_but_active += 1;
                }
                // Never revoked, not even by a request sent since: must be active.
                let live_now = self
                    .state
                    .get(idx)
                    .is_some_and(|st| st.load(Ordering::Acquire) == LIVE);
                if !active && live_now {
                    s.live_but_inactive += 1;
                }
            }
            Op::Revoke { idx } => {
                if let Some(st) = self.state.get(idx) {
                    st.store(REVOKED, Ordering::Release);
                }
                s.revocations += 1;
            }
            Op::Fixed => {
                if !contains(body, br#""access_token""#) {
                    s.bad_body += 1;
                }
            }
            Op::Login { .. } => {
                if contains(body, br#""mode":"authentication""#) {
                    s.logins += 1;
                } else {
                    s.bad_body += 1;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The generator

struct Stats {
    all: Histogram<u64>,
    introspect: Histogram<u64>,
    revoke: Histogram<u64>,
    completed: u64,
    non_2xx: u64,
    conn_errors: u64,
    timeouts: u64,
    bad_body: u64,
    active: u64,
    inactive: u64,
    revoked_but_active: u64,
    live_but_inactive: u64,
    revocations: u64,
    exhausted: bool,
    /// Successful logins.
    logins: u64,
    /// 503: the password pool refused (not in `non_2xx`).
    busy: u64,
    /// 429: a failure rate limit (also in `non_2xx`).
    limited: u64,
    /// code-flow: per-step latencies and completed flows (whose whole
    /// latency goes into `all`).
    login_h: Histogram<u64>,
    authorize_h: Histogram<u64>,
    exchange_h: Histogram<u64>,
    flows: u64,
    /// code-flow: flows that failed at login, authorize, token.
    step_errors: [u64; 3],
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Stats {
    fn new() -> Stats {
        Stats {
            all: histogram(),
            introspect: histogram(),
            revoke: histogram(),
            completed: 0,
            non_2xx: 0,
            conn_errors: 0,
            timeouts: 0,
            bad_body: 0,
            active: 0,
            inactive: 0,
            revoked_but_active: 0,
            live_but_inactive: 0,
            revocations: 0,
            exhausted: false,
            logins: 0,
            busy: 0,
            limited: 0,
            login_h: histogram(),
            authorize_h: histogram(),
            exchange_h: histogram(),
            flows: 0,
            step_errors: [0; 3],
        }
    }
    fn merge(&mut self, o: &Stats) {
        let _ = self.all.add(&o.all);
        let _ = self.introspect.add(&o.introspect);
        let _ = self.revoke.add(&o.revoke);
        self.completed += o.completed;
        self.non_2xx += o.non_2xx;
        self.conn_errors += o.conn_errors;
        self.timeouts += o.timeouts;
        self.bad_body += o.bad_body;
        self.active += o.active;
        self.inactive += o.inactive;
        self.revoked_but_active += o.revoked_but_active;
        self.live_but_inactive += o.live_but_inactive;
        self.revocations += o.revocations;
        self.exhausted |= o.exhausted;
        self.logins += o.logins;
        self.busy += o.busy;
        self.limited += o.limited;
        let _ = self.login_h.add(&o.login_h);
        let _ = self.authorize_h.add(&o.authorize_h);
        let _ = self.exchange_h.add(&o.exchange_h);
        self.flows += o.flows;
        for (a, b) in self.step_errors.iter_mut().zip(o.step_errors) {
            *a += b;
        }
    }
}

struct Control {
    started: Instant,
    deadline: Instant,
    remaining: AtomicI64,
    /// With --rate: the interval between two sends of one connection.
    pace: Option<Duration>,
    conns: usize,
}

impl Control {
    /// `conns` connections for `secs` (or `max` requests in all), paced to
    /// `rate` req/s in all when given.
    fn new(conns: usize, secs: f64, max: Option<u64>, rate: Option<f64>) -> Arc<Control> {
        let now = Instant::now();
        Arc::new(Control {
            started: now,
            pace: rate.map(|r| Duration::from_secs_f64(conns as f64 / r)),
            conns,
            deadline: now + Duration::from_secs_f64(secs),
            remaining: AtomicI64::new(
                max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX)),
            ),
        })
    }

    fn go(&self) -> bool {
        Instant::now() < self.deadline && self.remaining.fetch_sub(1, Ordering::Relaxed) > 0
    }
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// One keep-alive connection: request, response, repeat, until told to stop.
async fn connection(addr: SocketAddr, wl: Arc<Workload>, ctl: Arc<Control>, seed: u64) -> Stats {
    let mut s = Stats::new();
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut buf = Vec::with_capacity(8192);
    // Paced connections start staggered over one interval.
    let mut next_send = ctl.pace.map(|iv| {
        ctl.started + iv.mul_f64(seed.saturating_sub(1) as f64 / ctl.conns.max(1) as f64)
    });
    'connect: while Instant::now() < ctl.deadline {
        let mut stream = match connect(addr).await {
            Ok(st) => st,
            Err(_) => {
                s.conn_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        loop {
            if let (Some(iv), Some(at)) = (ctl.pace, next_send.as_mut()) {
                tokio::time::sleep_until((*at).into()).await;
                *at += iv;
            }
            if !ctl.go() {
                break 'connect;
            }
            let Some(op) = wl.next(&mut rng) else {
                s.exhausted = true;
                break 'connect;
            };
            let started = Instant::now();
            if stream.write_all(wl.bytes(&op)).await.is_err() {
                s.conn_errors += 1;
                continue 'connect;
            }
            let r =
                match tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut stream, &mut buf))
                    .await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => {
                        s.conn_errors += 1;
                        continue 'connect;
                    }
                    Err(_) => {
                        s.timeouts += 1;
                        continue 'connect;
                    }
                };
            let micros = u64::try_from(started.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            // A 503 is a quick refusal: counted, not part of the latency.
            if r.status != 503 {
                s.all.saturating_record(micros);
                match op {
                    Op::Introspect { .. } => s.introspect.saturating_record(micros),
                    Op::Revoke { .. } => s.revoke.saturating_record(micros),
                    Op::Fixed | Op::Login { .. } => {}
                }
                s.completed += 1;
            }
            wl.done(
                op,
                r.status,
                buf.get(r.body.clone()).unwrap_or_default(),
                &mut s,
            );
            if r.close {
                continue 'connect;
            }
            if r.status == 503 {
                tokio::time::sleep(BUSY_PAUSE).await;
            }
        }
    }
    s
}

struct Response {
    status: u16,
    /// The status line and headers: `buf[..head]`.
    head: usize,
    body: std::ops::Range<usize>,
    close: bool,
}

/// Read one response into `buf`: the head up to the blank line, then
/// `Content-Length` bytes of body. Chunked bodies are not expected here.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Response> {
    buf.clear();
    let head_end = loop {
        let scanned = buf.len().saturating_sub(3);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(p) = buf
            .get(scanned..)
            .and_then(|b| b.windows(4).position(|w| w == b"\r\n\r\n"))
        {
            break scanned + p + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head too large",
            ));
        }
    };
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status line"))?;
    let mut length = 0usize;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunked responses are not supported",
            ));
        }
    }
    let end = head_end + length;
    while buf.len() < end {
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Response {
        status,
        head: head_end,
        body: head_end..end,
        close,
    })
}

async fn request_once(addr: SocketAddr, req: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let a = exchange_once(addr, req).await?;
    Ok((a.status, a.body))
}

/// One answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "a {} answer is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request on a fresh connection.
async fn exchange_once(addr: SocketAddr, req: &[u8]) -> anyhow::Result<Answer> {
    let mut s = connect(addr).await?;
    s.write_all(req).await?;
    let mut buf = Vec::new();
    let r = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut s, &mut buf)).await??;
    Ok(Answer {
        status: r.status,
        body: buf.get(r.body).unwrap_or_default().to_vec(),
    })
}

/// The headers of a response head (status line skipped), values trimmed.
fn headers(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A complete HTTP/1.1 keep-alive request with extra headers and a body
/// of `content_type` (none when `None`).
fn request(
    method: &str,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
    content_type: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in extra {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(ct) = content_type {
        r.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

struct Report {
    label: String,
    stats: Stats,
    elapsed: Duration,
    /// CPU seconds this process (servers and generator) used in the run.
    cpu: f64,
    /// Minor page faults of this process in the run.
    faults: u64,
    /// CPU seconds the --server-pid process used in the run.
    server_cpu: Option<f64>,
}

impl Report {
    fn rps(&self) -> f64 {
        self.stats.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn errors(&self) -> u64 {
        self.stats.non_2xx + self.stats.conn_errors + self.stats.timeouts
    }
}

/// One set of connections: a workload, how many connections, and their
/// pacing.
#[derive(Clone)]
struct Load {
    label: String,
    wl: Arc<Workload>,
    conns: usize,
    rate: Option<f64>,
}

/// Run one load for `secs` (or `max` requests).
async fn phase(
    addr: SocketAddr,
    wl: Arc<Workload>,
    conns: usize,
    secs: f64,
    max: Option<u64>,
    rate: Option<f64>,
) -> (Stats, Duration) {
    let ctl = Control::new(conns, secs, max, rate);
    let tasks: Vec<_> = (0..conns)
        .map(|i| tokio::spawn(connection(addr, wl.clone(), ctl.clone(), i as u64 + 1)))
        .collect();
    (join_stats(tasks).await, ctl.started.elapsed())
}

/// Wait for every connection's task and merge what they measured; a task
/// that died counts as a connection error.
async fn join_stats(tasks: Vec<tokio::task::JoinHandle<Stats>>) -> Stats {
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
fn run_phase(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    loads: &[Load],
    secs: f64,
    max: Option<u64>,
) -> Vec<(Stats, Duration)> {
    rt.block_on(async {
        let running: Vec<_> = loads
            .iter()
            .map(|l| tokio::spawn(phase(addr, l.wl.clone(), l.conns, secs, max, l.rate)))
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
fn measure_loads(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    loads: &[Load],
    opts: &Opts,
) -> Vec<Report> {
    if opts.warmup > 0.0 {
        let _ = run_phase(rt, addr, loads, opts.warmup, None);
    }
    let cpu_before = process_cpu_secs();
    let faults_before = process_minor_faults();
    let server_before = server_cpu_secs();
    let results = run_phase(rt, addr, loads, opts.duration, opts.max_requests);
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
        })
        .collect();
    for r in &reports {
        print_report(r);
    }
    reports
}

fn measure(
    rt: &tokio::runtime::Runtime,
    label: &str,
    addr: SocketAddr,
    wl: Arc<Workload>,
    opts: &Opts,
) -> Report {
    let load = Load {
        label: label.to_string(),
        wl,
        conns: opts.connections,
        rate: opts.rate,
    };
    let mut reports = measure_loads(rt, addr, &[load], opts);
    reports.pop().unwrap_or_else(|| Report {
        label: label.to_string(),
        stats: Stats::new(),
        elapsed: Duration::ZERO,
        cpu: 0.0,
        faults: 0,
        server_cpu: None,
    })
}

/// User plus system CPU time of this process so far, in seconds. Compared
/// with the cores and the wall time it shows how much of the machine the
/// run had (other processes on a shared machine show as a shortfall).
fn process_cpu_secs() -> f64 {
    cpu_secs_of("/proc/self/stat").unwrap_or(0.0)
}

/// --server-pid, when given (0: none).
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
/// Whether the server is another process (--url): the process CPU is then
/// the generator's alone.
static EXTERNAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// CPU seconds of the --server-pid process so far.
fn server_cpu_secs() -> Option<f64> {
    match SERVER_PID.load(Ordering::Relaxed) {
        0 => None,
        pid => cpu_secs_of(&format!("/proc/{pid}/stat")),
    }
}

/// User plus system CPU seconds from a `/proc/.../stat` file.
fn cpu_secs_of(path: &str) -> Option<f64> {
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
fn process_minor_faults() -> u64 {
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

/// All rounds as one: requests and histograms summed over the summed time.
fn combine(label: &str, runs: Vec<Report>) -> Option<Report> {
    let mut it = runs.into_iter();
    let mut first = it.next()?;
    for r in it {
        first.stats.merge(&r.stats);
        first.elapsed += r.elapsed;
        first.cpu += r.cpu;
        first.faults += r.faults;
        first.server_cpu = first.server_cpu.zip(r.server_cpu).map(|(a, b)| a + b);
    }
    first.label = label.to_string();
    Some(first)
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

fn print_report(r: &Report) {
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

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn summarize(opts: &Opts, f: &Fixture, r: &Report, base: Option<&Report>, raw: Option<f64>) {
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
        Scenario::LoginStorm | Scenario::CodeFlow | Scenario::Faults => {}
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

// ---------------------------------------------------------------------------
// --hold: serve for an external load tool

fn hold(target: &Target, baseline: Option<&Running>, opts: &Opts, secs: u64) {
    println!();
    println!("serving for {secs} s; point wrk at these (from the repository root):");
    let tokens = opts
        .token_file
        .as_ref()
        .map_or_else(|| "TOKEN_FILE".to_string(), |p| p.display().to_string());
    println!(
        "  wrk -t2 -c64 -d10s --latency -s benches/wrk_introspect.lua http://{}{INTROSPECT_PATH} -- {} {} {tokens}",
        target.addr, target.client_id, target.client_secret
    );
    if let Some(b) = baseline {
        println!(
            "  wrk -t2 -c64 -d10s --latency -s benches/wrk_introspect.lua http://{}{INTROSPECT_PATH} -- {} {} {tokens}",
            b.addr, target.client_id, target.client_secret
        );
    }
    std::thread::sleep(Duration::from_secs(secs));
}
