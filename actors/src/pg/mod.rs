//! The PostgreSQL backend: every owner's storage trait over one database,
//! with the same promises as sled (see the README, "PostgreSQL").
//!
//! - **Its own runtime.** sqlx's connections belong to the tokio runtime
//!   they were opened on, and every actor runs on its own arbiter. So the
//!   pool lives on a small multi-threaded runtime of its own, and an owner
//!   reaches it through [`Pg::block`] (a synchronous answer: a load, a
//!   conditional write) or through the group committer (a durable future).
//! - **Group commit.** Owners stage their writes and hand them over as one
//!   unit when they ask for durability; the committer writes every unit
//!   that arrived together in one transaction (`synchronous_commit` on) and
//!   answers each. A failed transaction fails every unit in it, and nothing
//!   of it is kept.
//! - **Single use in SQL.** A code, a refresh rotation, a TOTP step or a
//!   mailed code is decided by a conditional `UPDATE … WHERE` (or a row
//!   lock), so exactly one caller wins even across processes.
//! - **Never read on the hot path.** Owners load everything at start into
//!   the same views they publish under sled.
//! - **Faults.** Every statement has a timeout; while the database cannot
//!   be reached, writes fail (the server answers `503`), `writable()` says
//!   so, and a probe brings it back without a restart.

mod committer;
mod connect;
pub(crate) mod device;
mod directory;
pub mod feed;
mod keys;
pub(crate) mod limits;
mod owners;
pub(crate) mod pushed;
pub mod single_use;
mod sweep;
pub mod tables;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::store::StoreError;
use crate::stores::{Durable, StoreHealth, Stores};

use committer::Unit;
pub use committer::{Op, Pending};
pub use connect::{PgOptions, SCHEMA_VERSION};
use tables::Table;

/// A table's rows: (key, record).
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// One database, shared by every owner's PostgreSQL store.
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    rt: Rt,
    pool: PgPool,
    units: mpsc::UnboundedSender<Unit>,
    health: Arc<Health>,
    timeout: Duration,
    /// Where the database is, for messages (`host:port/db`, no password).
    target: String,
    /// This process's id on the change feed, when it is a cluster node:
    /// its writes then carry events.
    origin: Option<i64>,
    /// Every owner's staged writes, so a flush of everything (shutdown,
    /// the health check's durability) takes them too.
    stagers: std::sync::Mutex<Vec<std::sync::Weak<Pending>>>,
    /// The connection holding the server lock, while it is held.
    held: Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
}

/// The backend's runtime, shut down in the background when dropped: a
/// runtime must not be dropped (which waits) from another runtime's thread.
pub(crate) struct Rt(Option<tokio::runtime::Runtime>);

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// What the probe and the committer learn about the database.
#[derive(Default)]
pub(crate) struct Health {
    down: AtomicBool,
    size: AtomicU64,
    /// The highest feed seq this process's own writes took.
    seq: AtomicI64,
}

impl Health {
    pub(crate) fn committed(&self, seq: Option<i64>) {
        if let Some(s) = seq {
            self.seq.fetch_max(s, Ordering::AcqRel);
        }
    }

    fn set_down(&self, down: bool, why: &dyn std::fmt::Display) {
        let was = self.down.swap(down, Ordering::Relaxed);
        if down && !was {
            tracing::error!(error = %why, "PostgreSQL is unavailable: writes answer 503 until it is back");
        } else if !down && was {
            tracing::info!("PostgreSQL is back: writes are accepted again");
        }
    }
}

impl Pg {
    /// Connect, check (and unless told not to, apply) the schema, and start
    /// the committer, the health probe and the expiry sweep.
    pub fn connect(opts: &PgOptions) -> Result<Pg, StoreError> {
        connect::connect(opts, true)
    }

    /// Connect without checking the schema: for `tessera migrate`, which
    /// then calls [`Pg::migrate`].
    pub fn connect_for_migration(opts: &PgOptions) -> Result<Pg, StoreError> {
        connect::connect(opts, false)
    }

    /// The pool, for what runs on this backend's runtime.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// This process's id on the change feed, when it writes events.
    pub fn origin(&self) -> Option<i64> {
        self.inner.origin
    }

    /// The highest feed seq this process's own writes have committed: a
    /// write acknowledged to a caller has a seq at or below it.
    pub fn committed_seq(&self) -> i64 {
        self.inner.health.seq.load(Ordering::Acquire)
    }

    /// Run `f` on the backend's runtime in the background.
    pub(crate) fn spawn_task(
        &self,
        f: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.spawn(f)
    }

    /// Run `f` on the backend's runtime and await it from any other
    /// runtime (an HTTP worker), bounded by the statement timeout.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let timeout = self.inner.timeout;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.spawn(async move {
            let r = match tokio::time::timeout(timeout, f).await {
                Ok(r) => r,
                Err(_) => Err(timed_out(timeout)),
            };
            let _ = tx.send(r);
        })?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the database runtime stopped".into()))?
    }

    /// `host:port/database` of the store, for messages.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Run `f` on the backend's runtime and wait for it, blocking this
    /// thread (an owner's arbiter, which handles one message at a time
    /// anyway). Bounded by the statement timeout.
    pub fn block<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let timeout = self.inner.timeout;
        self.wait(async move {
            match tokio::time::timeout(timeout, f).await {
                Ok(r) => r,
                Err(_) => Err(timed_out(timeout)),
            }
        })
    }

    /// [`Pg::block`] without the bound: for what may rightly take longer
    /// than one statement (a start-up load, a whole-store copy, a sweep),
    /// each of whose statements is bounded on its own.
    pub(crate) fn wait<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(async move {
            let _ = tx.send(f.await);
        })?;
        rx.recv()
            .map_err(|_| StoreError::Unavailable("the database runtime stopped".into()))?
    }

    fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) -> Result<(), StoreError> {
        match &self.inner.rt.0 {
            Some(rt) => {
                rt.spawn(f);
                Ok(())
            }
            None => Err(StoreError::Unavailable(
                "the database runtime stopped".into(),
            )),
        }
    }

    /// Hand `ops` to the group committer; resolves once they are committed
    /// (with everything handed over before them), or failed.
    pub fn commit(&self, ops: Vec<Op>) -> Durable {
        self.commit_unit(ops, Vec::new())
    }

    fn commit_unit(&self, ops: Vec<Op>, owners: Vec<Arc<Pending>>) -> Durable {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.inner.units.send(Unit {
            ops,
            done: tx,
            owners,
        });
        Box::pin(async move {
            if sent.is_err() {
                return Err(StoreError::Unavailable("the committer stopped".into()));
            }
            rx.await
                .map_err(|_| StoreError::Unavailable("the committer stopped".into()))?
        })
    }

    /// A new owner's place for staged writes, known to [`Pg::flush_all`].
    pub fn pending(&self) -> Arc<Pending> {
        let p = Arc::new(Pending::default());
        let mut all = self.inner.stagers.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&p));
        p
    }

    /// An owner's staged writes as one unit; resolves once they (and all
    /// before them) are committed. Fails too if writes of this owner taken
    /// by an earlier flush of everything were lost.
    pub fn commit_pending(&self, pending: &Arc<Pending>) -> Durable {
        let unit = self.commit(pending.take());
        let pending = pending.clone();
        Box::pin(async move {
            let r = unit.await;
            if pending.take_poison() && r.is_ok() {
                return Err(StoreError::Write(
                    "an earlier write could not be committed".into(),
                ));
            }
            r
        })
    }

    /// Every owner still alive that stages writes.
    fn stagers(&self) -> Vec<Arc<Pending>> {
        self.inner
            .stagers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect()
    }

    /// Every owner's staged writes as one unit: at shutdown, and whenever
    /// "everything written so far" must be durable.
    pub fn flush_all(&self) -> Durable {
        let mut ops = Vec::new();
        let mut owners = Vec::new();
        for p in self.stagers() {
            let taken = p.take();
            if !taken.is_empty() {
                ops.extend(taken);
                owners.push(p);
            }
        }
        self.commit_unit(ops, owners)
    }

    /// Commit what owners staged without asking for durability (a sweep's
    /// deletions, a delivered mail's removal) within a tenth of a second,
    /// as sled flushes on its own: nothing waits in memory for an owner's
    /// next durable write.
    fn start_background_flush(&self) {
        let weak = Arc::downgrade(&self.inner);
        let _ = self.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Some(inner) = weak.upgrade() else { return };
                let pg = Pg { inner };
                let waiting = pg.stagers().iter().any(|p| !p.is_empty());
                if waiting {
                    let all = pg.flush_all();
                    drop(pg);
                    // A failure is told to the owners at their next request.
                    let _ = all.await;
                }
            }
        });
    }

    /// [`Pg::commit`], waited for on this thread.
    pub fn commit_blocking(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let unit = self.commit(ops);
        self.block(unit)
    }

    /// Every row of `table` as (key, record), in key order. Not bounded
    /// by the statement timeout (a start-up load of a million tokens takes
    /// longer than a statement should); progress is logged as it streams.
    pub fn load(&self, table: Table) -> Result<Rows, StoreError> {
        let pool = self.pool().clone();
        self.wait(async move { load(&pool, table).await })
    }

    /// Write every row of `rows` in one transaction: all of them or none.
    /// Not bounded by the statement timeout as a whole (each statement
    /// is): `store copy` moves a whole store this way.
    pub fn write_all(&self, rows: Vec<Op>) -> Result<(), StoreError> {
        let pool = self.pool().clone();
        self.wait(async move {
            let refs: Vec<&Op> = rows.iter().collect();
            committer::write(&pool, &refs, None).await.map(|_| ())
        })
    }

    /// Every owner's store over this database.
    pub fn stores(&self) -> Stores {
        owners::stores(self)
    }
}

/// How many rows between two progress lines of a start-up load.
const LOAD_PROGRESS_EVERY: usize = 250_000;

async fn load(pool: &PgPool, table: Table) -> Result<Rows, StoreError> {
    use futures_util::TryStreamExt;
    let started = std::time::Instant::now();
    let sql = format!("SELECT id, payload FROM {} ORDER BY id", table.name());
    let mut rows = Vec::new();
    // One read of a whole table may take longer than any one write should:
    // the statement timeout is lifted for this transaction only.
    let mut tx = pool.begin().await.map_err(conn_error)?;
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    {
        let mut stream =
            sqlx::query_as::<_, (Vec<u8>, Vec<u8>)>(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
        while let Some(row) = stream.try_next().await.map_err(db_error)? {
            rows.push(row);
            if rows.len() % LOAD_PROGRESS_EVERY == 0 {
                tracing::info!(table = table.name(), rows = rows.len(), "loading");
            }
        }
    }
    tx.commit().await.map_err(db_error)?;
    if rows.len() >= LOAD_PROGRESS_EVERY {
        tracing::info!(
            table = table.name(),
            rows = rows.len(),
            ms = started.elapsed().as_millis() as u64,
            "loaded"
        );
    }
    Ok(rows)
}

/// A database error as the owners see it: unreachable or timed out is
/// `Unavailable` (a `503`, retried by the client), anything else a failed
/// write.
pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
        // 57014: canceled by statement_timeout; 57P01..03: admin shutdown,
        // crash shutdown, cannot connect now; 08*: connection exceptions;
        // 53*: out of connections or resources; 55000: the database does
        // not allow connections now.
        sqlx::Error::Database(ref d)
            if d.code().is_some_and(|c| {
                c == "57014"
                    || c == "55000"
                    || c.starts_with("57P")
                    || c.starts_with("08")
                    || c.starts_with("53")
            }) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Write(other.to_string()),
    }
}

/// An error while getting a connection: whatever it is, the database
/// cannot be used right now.
pub(crate) fn conn_error(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn timed_out(after: Duration) -> StoreError {
    StoreError::Unavailable(format!(
        "the database did not answer within {} ms",
        after.as_millis()
    ))
}

impl StoreHealth for Pg {
    fn writable(&self) -> bool {
        !self.inner.health.down.load(Ordering::Relaxed)
    }
    fn space_ok(&self) -> bool {
        true
    }
    fn size_on_disk(&self) -> u64 {
        self.inner.health.size.load(Ordering::Relaxed)
    }
    fn durable(&self) -> Durable {
        self.flush_all()
    }
    fn flush_blocking(&self) -> Result<(), StoreError> {
        let all = self.flush_all();
        self.block(all)
    }
    fn unavailable(&self) -> bool {
        !self.writable()
    }
}
