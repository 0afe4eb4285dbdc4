//! The `tessera` binary: `serve`, and the admin subcommands.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tessera::cli::{
    self, ApiKeyCmd, ClientCmd, EntityCmd, KeysCmd, RegistrationTokenCmd, Target, UserCmd,
};
use tessera::configuration::Settings;
use tessera::startup::Application;
use tessera_actors::directory::{ClientSpec, CreateClient, DirectoryError, RotateClientSecret};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version = tessera::build_info::LONG_VERSION,
    about = "OAuth 2.1 / OpenID Connect authorization server and token engine"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Store directory (default ./data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A running server's base URL: the admin commands go to its admin API
    /// while it holds the store (default: the bind address, then the
    /// public URL).
    #[arg(long, global = true, env = "TESSERA_URL")]
    url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks one).
        #[arg(long)]
        bind: Option<String>,
        /// Create a demo client and print it with a ready-to-paste curl.
        #[arg(long)]
        demo: bool,
    },
    /// Manage OAuth clients (through /admin/clients while a server holds the store).
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage signing keys (through /admin/keys while a server holds the store).
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage users (through /admin/users while a server holds the store).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage entities and their members (through /admin/entities while a server holds the store).
    #[command(subcommand)]
    Entity(EntityCmd),
    /// Manage entities' API keys (through /admin/entities/{id}/apikeys while a server holds the store).
    #[command(subcommand)]
    Apikey(ApiKeyCmd),
    /// Initial access tokens for client registration (through
    /// /admin/registration-tokens while a server holds the store).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCmd),
    /// Apply the PostgreSQL schema's pending migrations (store.backend = "postgres").
    Migrate,
    /// Move a store between backends.
    #[command(subcommand)]
    Store(StoreCmd),
    /// The cluster's nodes, from the shared database.
    #[command(subcommand)]
    Cluster(ClusterCmd),
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// Every node with its heartbeat, readiness and lag behind the feed.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCmd {
    /// Copy every record from one store to another (stop the server first):
    /// a sled directory or a postgres:// URL on either side. The target ends
    /// up empty or complete; a second run is a no-op.
    Copy {
        /// Source: a sled data directory or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// Target: a sled data directory (new or empty) or a postgres:// URL.
        #[arg(long)]
        to: String,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("tessera: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        settings.data_dir = d;
    }
    tessera::telemetry::init_tracing(&settings.log);
    match cli.command {
        Command::Serve { bind, demo } => {
            if let Some(b) = bind {
                settings.bind = b;
            }
            serve(settings, demo)
        }
        Command::Client(cmd) => cli::client(&target(&settings, cli.url), cmd),
        Command::Keys(cmd) => cli::keys(&target(&settings, cli.url), cmd),
        Command::User(cmd) => cli::user(&target(&settings, cli.url), cmd),
        Command::Entity(cmd) => cli::entity(&target(&settings, cli.url), cmd),
        Command::Apikey(cmd) => cli::apikey(&target(&settings, cli.url), cmd),
        Command::RegistrationToken(cmd) => {
            cli::registration_token(&target(&settings, cli.url), cmd)
        }
        Command::Migrate => migrate(&settings),
        Command::Store(StoreCmd::Copy { from, to }) => store_copy(&from, &to),
        Command::Cluster(ClusterCmd::Status { json }) => cluster_status(&settings, json),
    }
}

fn cluster_status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    if settings.store.backend != tessera::configuration::Backend::Postgres {
        anyhow::bail!("a cluster runs on store.backend = \"postgres\"");
    }
    let pg = tessera_actors::pg::Pg::connect(&settings.store.pg_options()?)?;
    let timeout = std::time::Duration::from_millis(settings.cluster.node_timeout_ms);
    let nodes = tessera_actors::cluster::Cluster::status(&pg, timeout)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&nodes)?);
        return Ok(());
    }
    println!(
        "{:<32} {:<5} {:<5} {:>12} {:>10} {:>14} {:>10}",
        "NODE", "LIVE", "READY", "APPLIED", "LAG", "HEARTBEAT AGO", "UP"
    );
    for n in &nodes {
        println!(
            "{:<32} {:<5} {:<5} {:>12} {:>10} {:>13.1}s {:>9.0}s",
            n.node_id,
            if n.live { "yes" } else { "no" },
            if n.ready { "yes" } else { "no" },
            n.applied_seq,
            n.lag_events,
            n.heartbeat_age_seconds,
            n.up_seconds
        );
    }
    if nodes.is_empty() {
        println!("(no node has joined the cluster on this database)");
    }
    Ok(())
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    if settings.store.backend != tessera::configuration::Backend::Postgres {
        anyhow::bail!(
            "tessera migrate is for store.backend = \"postgres\"; sled needs no migration"
        );
    }
    let pg = tessera_actors::pg::Pg::connect_for_migration(&settings.store.pg_options()?)?;
    let (before, after) = pg.migrate()?;
    if before == after {
        println!("schema is at version {after}: nothing to do");
    } else {
        println!("schema migrated from version {before} to {after}");
    }
    Ok(())
}

fn store_copy(from: &str, to: &str) -> anyhow::Result<()> {
    use tessera::cli::store_copy::{copy, Location};
    let (from, to) = (Location::parse(from), Location::parse(to));
    let report = copy(&from, &to)?;
    for (table, n) in &report.counts {
        println!("{table:<18} {n:>10}");
    }
    let total: usize = report.counts.iter().map(|(_, n)| n).sum();
    if report.unchanged {
        println!("{to} already holds these {total} records: nothing copied");
    } else {
        println!("copied {total} records from {from} to {to}; every record compared equal");
    }
    Ok(())
}

fn target(settings: &Settings, url: Option<String>) -> Target<'_> {
    Target { settings, url }
}

#[actix_web::main]
async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    println!(
        "tessera listening on {}://127.0.0.1:{}",
        app.scheme(),
        app.port()
    );
    if let Some(port) = app.health_port() {
        println!("health endpoints (plain HTTP) on port {port}");
    }
    println!("issuer: {}", app.issuer());
    if demo {
        print_demo(&app).await?;
    }
    app.run_until_stopped().await?;
    Ok(())
}

async fn print_demo(app: &Application) -> anyhow::Result<()> {
    let engine = app.engine();
    let spec = ClientSpec {
        client_id: Some("demo".into()),
        name: Some("Demo client".into()),
        scope: Some("read write".into()),
        ..ClientSpec::default()
    };
    let secret = match engine.directory.send(CreateClient(spec)).await? {
        Ok((_, s)) => s,
        // Restarted with --demo: the client exists, so issue it a fresh secret.
        Err(DirectoryError::Exists(_)) => Some(
            engine
                .directory
                .send(RotateClientSecret("demo".into()))
                .await??,
        ),
        Err(e) => return Err(e.into()),
    };
    let secret = secret.unwrap_or_default();
    let base = app.issuer();
    println!();
    println!("demo client_id:     demo");
    println!("demo client_secret: {secret}");
    println!();
    println!("# get a token:");
    println!("TOKEN=$(curl -s -u demo:{secret} -d grant_type=client_credentials -d scope=read {base}/oauth2/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')");
    println!("# introspect it:");
    println!("curl -s -u demo:{secret} -d token=$TOKEN {base}/oauth2/token/introspect");
    println!("# revoke it:");
    println!("curl -s -u demo:{secret} -d token=$TOKEN {base}/oauth2/token/revoke");
    Ok(())
}
