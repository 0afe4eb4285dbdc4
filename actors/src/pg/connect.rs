//! Opening the database: the runtime, the pool, the schema check and
//! migrations, then the committer, the health probe and the expiry sweep.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::{committer, db_error, sweep, Health, Inner, Pg};
use crate::store::StoreError;

/// The schema version this binary writes: the newest embedded migration.
pub const SCHEMA_VERSION: i64 = 9;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How the database is reached.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database?sslmode=…`
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Longest a statement (or waiting for a connection) may take; past it
    /// the write fails with a `503`, never a hung request.
    pub statement_timeout: Duration,
    /// Apply pending migrations at start (otherwise `tessera migrate` does,
    /// and an out-of-date schema refuses to start).
    pub migrate: bool,
    /// Write an event for every change, with this origin: a cluster node.
    pub origin: Option<i64>,
    /// How the connections name themselves to the server
    /// (`pg_stat_activity.application_name`).
    pub application_name: String,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            pool_size: 10,
            statement_timeout: Duration::from_secs(5),
            migrate: true,
            origin: None,
            application_name: "tessera".into(),
        }
    }
}

impl PgOptions {
    /// `host:port/database` of the URL, for messages (never the password);
    /// `None` if the URL cannot be read.
    pub fn redacted(&self) -> Option<String> {
        let p = PgConnectOptions::from_str(&self.url).ok()?;
        Some(format!(
            "{}:{}/{}",
            p.get_host(),
            p.get_port(),
            p.get_database().unwrap_or("postgres")
        ))
    }
}

pub(super) fn connect(opts: &PgOptions, check: bool) -> Result<Pg, StoreError> {
    let parsed = PgConnectOptions::from_str(&opts.url)
        .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
    let target = format!(
        "{}:{}/{}",
        parsed.get_host(),
        parsed.get_port(),
        parsed.get_database().unwrap_or("postgres")
    );
    let timeout = opts.statement_timeout;
    let ms = timeout.as_millis().to_string();
    let connect = parsed
        .application_name(&opts.application_name)
        // Each acknowledged write waits for the WAL flush, whatever the
        // server's default says; a statement stuck past the timeout is
        // cancelled by the server itself.
        .options([
            ("synchronous_commit", "on"),
            ("statement_timeout", ms.as_str()),
        ]);
    let rt = super::Rt(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tessera-pg")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the database runtime: {e}"))
            })?,
    ));
    let Some(handle) = rt.0.as_ref().map(|r| r.handle().clone()) else {
        return Err(StoreError::Unavailable("no database runtime".into()));
    };
    let pool_size = opts.pool_size.max(2);
    let migrate = opts.migrate;
    let target_msg = target.clone();
    let opened: Result<PgPool, StoreError> = std::thread::scope(|s| {
        s.spawn(|| {
            handle.block_on(async {
                let pool = PgPoolOptions::new()
                    .max_connections(pool_size)
                    .acquire_timeout(timeout)
                    .connect_with(connect)
                    .await
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot connect to PostgreSQL at {target_msg}: {e}"
                        ))
                    })?;
                if check {
                    check_schema(&pool, migrate).await?;
                }
                Ok(pool)
            })
        })
        .join()
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the database runtime panicked".into(),
            ))
        })
    });
    let pool = opened?;
    let health = Arc::new(Health::default());
    let (units, rx) = mpsc::unbounded_channel();
    handle.spawn(committer::run(
        pool.clone(),
        rx,
        health.clone(),
        timeout,
        opts.origin,
    ));
    handle.spawn(probe(pool.clone(), health.clone()));
    handle.spawn(sweep::run(pool.clone()));
    let pg = Pg {
        inner: Arc::new(Inner {
            rt,
            pool,
            units,
            health,
            timeout,
            target,
            origin: opts.origin,
            held: Default::default(),
            stagers: Default::default(),
        }),
    };
    pg.start_background_flush();
    Ok(pg)
}

/// The applied schema version, 0 for an empty database.
async fn applied_version(pool: &PgPool) -> Result<i64, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
    Ok(v.unwrap_or(0))
}

/// Refuse a schema newer than this binary; apply missing migrations if
/// allowed, else refuse an older one.
async fn check_schema(pool: &PgPool, migrate: bool) -> Result<(), StoreError> {
    let applied = applied_version(pool).await?;
    if applied > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "the database schema is version {applied}, newer than this binary's version \
             {SCHEMA_VERSION}: run a tessera release that knows version {applied}"
        )));
    }
    if applied < SCHEMA_VERSION {
        if !migrate {
            return Err(StoreError::Schema(format!(
                "the database schema is version {applied} and this binary needs version \
                 {SCHEMA_VERSION}: run `tessera migrate` (or set store.migrate = true)"
            )));
        }
        apply(pool).await?;
    }
    Ok(())
}

/// Apply every pending migration; answers (before, after).
pub(super) async fn apply(pool: &PgPool) -> Result<(i64, i64), StoreError> {
    let before = applied_version(pool).await?;
    if before > SCHEMA_VERSION {
        return Err(StoreError::Schema(format!(
            "the database schema is version {before}, newer than this binary's version \
             {SCHEMA_VERSION}"
        )));
    }
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Schema(format!("migration failed: {e}")))?;
    Ok((before, applied_version(pool).await?))
}

/// Checks the database every second while it is down (and every five
/// while it is up), so writes come back without a restart; also keeps the
/// database size for the metrics.
async fn probe(pool: PgPool, health: Arc<Health>) {
    let mut tick: u64 = 0;
    loop {
        let down = health.down.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(if down { 1 } else { 5 })).await;
        tick += 1;
        let size = sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await;
        match size {
            Ok(bytes) => {
                health.size.store(
                    u64::try_from(bytes).unwrap_or(0),
                    std::sync::atomic::Ordering::Relaxed,
                );
                health.set_down(false, &"");
            }
            Err(e) => {
                let e = db_error(e);
                if matches!(e, StoreError::Unavailable(_)) {
                    health.set_down(true, &e);
                } else if tick.is_multiple_of(12) {
                    tracing::warn!(error = %e, "database size probe failed");
                }
            }
        }
    }
}

impl super::Pg {
    /// Whether this process's connections to the database are encrypted
    /// (`sslmode` in the URL), as the server sees them.
    pub fn tls_in_use(&self) -> Result<bool, StoreError> {
        let pool = self.pool().clone();
        self.block(async move {
            let ssl: Option<bool> =
                sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .fetch_optional(&pool)
                    .await
                    .map_err(db_error)?;
            Ok(ssl.unwrap_or(false))
        })
    }

    /// Apply every pending migration (the `tessera migrate` command);
    /// answers the schema version before and after.
    pub fn migrate(&self) -> Result<(i64, i64), StoreError> {
        let pool = self.pool().clone();
        self.block(async move { apply(&pool).await })
    }
}

/// The advisory lock that says "a tessera server uses this database":
/// servers hold it shared, and a command that must run alone (the CLI's
/// local mode, `store copy`) takes it exclusively or steps aside.
const SERVER_LOCK: i64 = 0x7465_7373_0002;

impl super::Pg {
    /// Take the server lock on a connection kept for the life of this
    /// handle: shared for a server, exclusive for a command that must be
    /// alone. Answers whether it was had.
    pub fn hold_server_lock(&self, exclusive: bool) -> Result<bool, StoreError> {
        let pool = self.pool().clone();
        let held = self.inner.held.clone();
        self.block(async move {
            let mut conn = pool.acquire().await.map_err(db_error)?.detach();
            let sql = if exclusive {
                "SELECT pg_try_advisory_lock($1)"
            } else {
                "SELECT pg_try_advisory_lock_shared($1)"
            };
            let got: bool = sqlx::query_scalar(sql)
                .bind(SERVER_LOCK)
                .fetch_one(&mut conn)
                .await
                .map_err(db_error)?;
            if got {
                *held.lock().await = Some(conn);
            }
            Ok(got)
        })
    }
}
