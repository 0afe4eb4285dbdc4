//! Command-line options and the scenarios they select.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
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
    /// Start-up time and RSS with --tokens live opaque tokens in the
    /// store, on sled and on PostgreSQL in the same run.
    Startup,
    /// `tessera serve` processes on one PostgreSQL database: one node
    /// alone, then three (introspection with revocations flowing,
    /// revocation visibility lag, strict-mode revocation latency).
    Cluster,
    /// DPoP and token exchange, each against a baseline in the same run:
    /// introspection of DPoP-bound tokens against Bearer tokens,
    /// client_credentials with a fresh ES256 proof per request against
    /// without, and token exchange with an actor token beside plain
    /// client_credentials (at least two rounds, in A B B A order).
    Dpop,
    /// client_credentials with a private_key_jwt (ES256) assertion against
    /// client_secret_basic, and signed (RFC 9701) against JSON
    /// introspection answers (at least two rounds, A B B A).
    ClientJwt,
    /// Dynamic client registration (open mode) against the admin API
    /// creating the same public client (at least two rounds, A B B A).
    Register,
    /// `--devices` pending device authorizations (RFC 8628) polling the
    /// token endpoint at their interval: the server's CPU (a child
    /// process), as a share of one core.
    DevicePoll,
    /// OIDC back-channel logout: a session held by 20 clients (20 loopback
    /// receivers, one slow) ends; the logout answer's time against the
    /// delivery timeout, and until every client had its logout token.
    LogoutFanout,
    /// Passwordless sign-in with a passkey (a software authenticator)
    /// against sign-in with a password, on one server (at least two
    /// rounds, A B B A): sign-ins per second and latency.
    PasskeyLogin,
}

impl Scenario {
    /// Scenarios that log users in: they create users first.
    pub(crate) fn needs_users(self) -> bool {
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
pub(crate) struct Opts {
    #[arg(long, value_enum, default_value = "introspect")]
    pub(crate) scenario: Scenario,
    /// Keep-alive connections of the generator.
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: usize,
    /// Measured seconds per run (at most 600).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Unmeasured seconds before each run.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) warmup: f64,
    /// Stop a measured run after this many requests (code-flow: flows).
    #[arg(long, alias = "requests")]
    pub(crate) max_requests: Option<u64>,
    /// Offered load, requests/s over all connections: each connection
    /// sends on a fixed schedule instead of as soon as its previous answer
    /// arrives (latency is still measured from the actual send).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Generator threads (tokio workers).
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// HTTP workers of the in-process servers (tessera and baseline alike).
    #[arg(long, default_value_t = 2)]
    pub(crate) workers: usize,
    /// Resident live tokens seeded through the engine (in-process only).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) tokens: usize,
    /// Real JWTs issued over HTTP (client_credentials) and mixed into what
    /// is introspected and revoked.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) jwts: usize,
    /// Tokens whose requests are pre-built: what introspection picks from
    /// and revocation consumes (at most --tokens + --jwts).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) pool: usize,
    /// introspect-revoke: one request in N is a revocation.
    #[arg(long, default_value_t = 10)]
    pub(crate) revoke_every: u64,
    /// login-storm, faults: users created (through the engine, or the
    /// admin API with --url); the storm logs them in round-robin, so one
    /// account is used once every --users logins. code-flow: virtual user
    /// N is user N modulo this (at most --connections are created).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) users: usize,
    /// login-storm: connections of the login storm (closed loop, separate
    /// from the --connections that introspect). A 503 (password pool full)
    /// is counted on its own and that connection pauses 20 ms.
    #[arg(long, default_value_t = 8)]
    pub(crate) login_connections: usize,
    /// login-storm: the User-Agent of the logins (the server parses it for
    /// the session list); empty sends none.
    #[arg(
        long,
        default_value = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    )]
    pub(crate) login_user_agent: String,
    /// login-storm: each user sends a User-Agent of its own (the one above
    /// plus the user's name), so the server meets --users distinct agents.
    #[arg(long)]
    pub(crate) vary_user_agent: bool,
    /// In-process server: password hashes run at once (default: cores).
    #[arg(long)]
    pub(crate) password_workers: Option<usize>,
    /// In-process server: password hashes queued or running before a 503
    /// (default: the server's, 64).
    #[arg(long)]
    pub(crate) password_queue: Option<usize>,
    /// Signing algorithm of the in-process server (RS256, ES256, EdDSA).
    #[arg(long)]
    pub(crate) alg: Option<String>,
    /// Access token format of the in-process server (jwt, opaque).
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// client-jwt: the algorithm of the client's assertions (ES256,
    /// EdDSA, RS256, PS256).
    #[arg(long, default_value = "ES256")]
    pub(crate) assertion_alg: String,
    /// Store of the in-process server: sled (a temporary directory) or
    /// postgres (a fresh database on --database-url's server, dropped after).
    #[arg(long, default_value = "sled")]
    pub(crate) backend: String,
    /// With --backend postgres: the server to make the database on.
    #[arg(
        long,
        env = "TESSERA_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub(crate) database_url: String,
    /// Target an already running server (loopback only), e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// With --url: a confidential client allowed client_credentials (and
    /// introspection of its own tokens). Without them, --admin-token
    /// creates one through tessera's admin API.
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    #[arg(long)]
    pub(crate) client_secret: Option<String>,
    /// With --url: tessera's admin token, to create clients and users over
    /// HTTP (`POST /admin/clients`, `POST /admin/users`).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
    /// With --url and --admin-token: the access token format (jwt, opaque)
    /// of the client the harness creates (default: the server's).
    #[arg(long)]
    pub(crate) client_token_format: Option<String>,
    /// With --url: the server's process id, to report the CPU it used in
    /// each measured run (read from /proc).
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// The target's name in the output (e.g. a peer's).
    #[arg(long, default_value = "tessera")]
    pub(crate) name: String,
    /// Scope asked for with client_credentials (empty: none).
    #[arg(long, default_value = "read write")]
    pub(crate) scope: String,
    /// Token endpoint path (default: from discovery with --url, else tessera's).
    #[arg(long)]
    pub(crate) token_path: Option<String>,
    /// Introspection endpoint path (default: discovery, else tessera's).
    #[arg(long)]
    pub(crate) introspect_path: Option<String>,
    /// Revocation endpoint path (default: discovery, else tessera's).
    #[arg(long)]
    pub(crate) revoke_path: Option<String>,
    /// code-flow: each virtual user logs in once and keeps its session;
    /// later flows are authorize and token exchange only.
    #[arg(long)]
    pub(crate) login_once: bool,
    /// code-flow: the scope of the authorization requests.
    #[arg(long, default_value = "openid profile read")]
    pub(crate) flow_scope: String,
    /// code-flow: the registered redirect URI (never fetched).
    #[arg(long, default_value = "https://rp.example.com/cb")]
    pub(crate) redirect_uri: String,
    /// Alternate baseline and tessera runs this many times; the summary
    /// is over all rounds (a shared machine is noisy).
    #[arg(long, default_value_t = 1)]
    pub(crate) rounds: usize,
    /// Skip the baseline run.
    #[arg(long)]
    pub(crate) no_baseline: bool,
    /// Run the baseline in every scenario, not only the introspection ones.
    #[arg(long)]
    pub(crate) baseline: bool,
    /// Start the servers, seed, print how to point wrk at them, serve this
    /// many seconds (at most 600) and exit; no load is generated.
    #[arg(long)]
    pub(crate) hold: Option<u64>,
    /// Write the pool tokens here, one a line (for the wrk script).
    #[arg(long)]
    pub(crate) token_file: Option<PathBuf>,
    /// cluster: the server binary the nodes run (default: the one cargo
    /// built with this harness, in the same profile).
    #[arg(long)]
    pub(crate) tessera_bin: Option<PathBuf>,
    /// cluster: revocations/s offered on node a while the lag is sampled.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) revoke_rate: f64,
    /// cluster: revocations/s flowing while introspection is measured on
    /// another node, and offered in strict mode.
    #[arg(long, default_value_t = 200.0)]
    pub(crate) cluster_revoke_rate: f64,
    /// introspect: serve the in-process tessera over TLS as well (a second
    /// listener of the same server) and measure introspection over TLS
    /// keep-alive against plain, and the cost of new TLS connections.
    #[arg(long)]
    pub(crate) tls: bool,
    /// --tls: at most this many new connections in each new-connection
    /// phase (each phase also stops after --duration seconds).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) handshakes: u64,
    /// device-poll: pending device authorizations, each polling at the
    /// server's interval.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) devices: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub(crate) bench: bool,
}

impl Opts {
    /// Refuse options out of range, and fill in what depends on the
    /// scenario.
    pub(crate) fn validate(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.duration > 0.0 && self.duration <= 600.0,
            "--duration must be in (0, 600]"
        );
        anyhow::ensure!(
            self.warmup >= 0.0 && self.warmup <= 60.0,
            "--warmup must be in [0, 60]"
        );
        anyhow::ensure!(
            (1..=4096).contains(&self.connections),
            "--connections must be in 1..=4096"
        );
        anyhow::ensure!(
            (1..=64).contains(&self.threads),
            "--threads must be in 1..=64"
        );
        anyhow::ensure!(self.tokens <= 10_000_000, "--tokens is at most 10,000,000");
        anyhow::ensure!(
            (1..=20).contains(&self.rounds),
            "--rounds must be in 1..=20"
        );
        anyhow::ensure!(
            self.rate.is_none_or(|r| r > 0.0 && r <= 10_000_000.0),
            "--rate must be in (0, 10,000,000]"
        );
        anyhow::ensure!(self.revoke_every >= 1, "--revoke-every must be at least 1");
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.devices),
            "--devices must be in 1..=1,000,000"
        );
        anyhow::ensure!(
            self.backend == "sled" || self.backend == "postgres",
            "--backend is sled or postgres"
        );
        anyhow::ensure!(
            self.hold.is_none_or(|h| h <= 600),
            "--hold is at most 600 seconds"
        );
        anyhow::ensure!(
            (1..=4096).contains(&self.login_connections),
            "--login-connections must be in 1..=4096"
        );
        anyhow::ensure!(
            (1..=100_000).contains(&self.users),
            "--users must be in 1..=100,000"
        );
        anyhow::ensure!(
            self.password_workers.is_none_or(|w| (1..=256).contains(&w)),
            "--password-workers must be in 1..=256"
        );
        if self.scenario == Scenario::ClientJwt {
            // Assertions are signed before each run and live 240 s.
            anyhow::ensure!(
                self.warmup + self.duration <= 200.0,
                "--scenario client-jwt: --warmup + --duration must be at most 200 s"
            );
            anyhow::ensure!(self.jwts >= 1, "--scenario client-jwt needs --jwts >= 1");
            anyhow::ensure!(
                ["ES256", "EdDSA", "RS256", "PS256"].contains(&self.assertion_alg.as_str()),
                "--assertion-alg must be ES256, EdDSA, RS256 or PS256"
            );
            // The assertion's cost is weighed against a request signing an
            // ES256 access token, as issue 17's proofs were.
            self.alg.get_or_insert_with(|| "ES256".into());
        }
        if self.scenario == Scenario::Dpop {
            // Proofs are signed before each run and the server takes a
            // proof for 60 s after its iat.
            anyhow::ensure!(
                self.warmup + self.duration <= 45.0,
                "--scenario dpop: --warmup + --duration must be at most 45 s"
            );
            anyhow::ensure!(self.jwts >= 1, "--scenario dpop needs --jwts >= 1");
            // Issue 17's target for a proof at the token endpoint is with
            // ES256 server keys.
            self.alg.get_or_insert_with(|| "ES256".into());
        }
        if self.tls {
            anyhow::ensure!(
                self.scenario == Scenario::Introspect && self.url.is_none() && self.hold.is_none(),
                "--tls goes with --scenario introspect on the in-process server (no --url, no --hold)"
            );
            anyhow::ensure!(self.handshakes >= 1, "--handshakes must be at least 1");
        }
        self.pool = self.pool.min(self.tokens + self.jwts);
        if matches!(self.scenario, Scenario::LoginStorm | Scenario::Faults) {
            // Introspection is paced so that quiet and storm compare latency,
            // not throughput.
            self.rate = Some(self.rate.unwrap_or(5_000.0));
        }
        if self.url.is_some() && self.scenario.needs_users() {
            anyhow::ensure!(
                self.admin_token.is_some(),
                "--url with {:?} needs --admin-token (or TESSERA_ADMIN_TOKEN): it creates its users and clients through the admin API",
                self.scenario
            );
        }
        Ok(())
    }

    /// What a run's label says about its round: nothing with one round.
    pub(crate) fn round_tag(&self, round: usize) -> String {
        if self.rounds > 1 {
            format!(" [round {round}/{}]", self.rounds)
        } else {
            String::new()
        }
    }
}
