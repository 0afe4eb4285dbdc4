//! Group commit: every unit of writes that arrived together goes into one
//! transaction, and each unit's caller is answered once it is committed.
//!
//! Units are committed in the order they were handed over, so an owner's
//! later unit never lands before its earlier one. Within a transaction,
//! consecutive writes to the same table become one statement over arrays
//! (`UNNEST`), which is what lets a few hundred writers share one commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::tables::{Columns, Table};
use super::{conn_error, db_error, timed_out, Health};
use crate::store::StoreError;

/// Most rows one transaction carries; more wait for the next.
const MAX_BATCH_OPS: usize = 4096;
/// Most rows one statement carries (a whole-store copy is one transaction
/// of many statements).
const MAX_STATEMENT_ROWS: usize = 10_000;

/// One write.
#[derive(Debug, Clone)]
pub enum Op {
    /// Insert or replace the record at `id`.
    Put {
        table: Table,
        id: Vec<u8>,
        payload: Vec<u8>,
    },
    /// Delete the record at `id` (nothing if there is none).
    Delete { table: Table, id: Vec<u8> },
}

impl Op {
    pub fn put(table: Table, id: impl Into<Vec<u8>>, payload: Vec<u8>) -> Op {
        Op::Put {
            table,
            id: id.into(),
            payload,
        }
    }
    pub fn delete(table: Table, id: impl Into<Vec<u8>>) -> Op {
        Op::Delete {
            table,
            id: id.into(),
        }
    }
    fn table(&self) -> Table {
        match self {
            Op::Put { table, .. } | Op::Delete { table, .. } => *table,
        }
    }
}

/// One caller's writes, answered together.
pub(super) struct Unit {
    pub ops: Vec<Op>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
    /// Owners whose staged writes were taken into this unit by someone
    /// else (a flush of everything): if it fails they are told at their
    /// next durability request, so none is ever told yes for a write that
    /// was lost.
    pub owners: Vec<Arc<Pending>>,
}

/// An owner's writes waiting for its next durability request.
#[derive(Default)]
pub struct Pending {
    ops: std::sync::Mutex<Vec<Op>>,
    poisoned: std::sync::atomic::AtomicBool,
}

impl Pending {
    pub fn stage(&self, ops: impl IntoIterator<Item = Op>) {
        self.ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ops);
    }
    pub fn is_empty(&self) -> bool {
        self.ops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
    pub fn take(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock().unwrap_or_else(|e| e.into_inner()))
    }
    /// Whether writes of this owner were lost since it last asked (and
    /// forget it: it is told once).
    pub fn take_poison(&self) -> bool {
        self.poisoned
            .swap(false, std::sync::atomic::Ordering::AcqRel)
    }
}

/// The committer's loop, on the backend's runtime: wait for a unit, take
/// every other unit already waiting (up to a bound), commit them in one
/// transaction, answer them all.
pub(super) async fn run(
    pool: PgPool,
    mut units: mpsc::UnboundedReceiver<Unit>,
    health: Arc<Health>,
    timeout: Duration,
    origin: Option<i64>,
) {
    while let Some(first) = units.recv().await {
        let mut batch = vec![first];
        let mut ops = batch.iter().map(|u| u.ops.len()).sum::<usize>();
        while ops < MAX_BATCH_OPS {
            match units.try_recv() {
                Ok(u) => {
                    ops += u.ops.len();
                    batch.push(u);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&Op> = batch.iter().flat_map(|u| u.ops.iter()).collect();
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(timeout, write(&pool, &all, origin)).await {
            Ok(Ok(seq)) => {
                health.committed(seq);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timed_out(timeout)),
        };
        // The same families as sled's flusher: one dashboard for both.
        metrics::histogram!("tessera_store_flush_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("tessera_store_flush_batch_size").record(batch.len() as f64);
        if result.is_err() {
            metrics::counter!("tessera_store_flush_failures_total").increment(1);
        }
        if result.is_err() {
            for u in &batch {
                for o in &u.owners {
                    o.poisoned.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        }
        match &result {
            Ok(()) => health.set_down(false, &""),
            Err(StoreError::Unavailable(why)) => health.set_down(true, why),
            Err(_) => {}
        }
        for u in batch {
            let _ = u.done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(e.duplicate()),
            });
        }
    }
}

/// Write `ops` in order in one transaction; with an `origin` (a cluster
/// node), their events too. Answers the highest event seq written.
pub(super) async fn write(
    pool: &PgPool,
    ops: &[&Op],
    origin: Option<i64>,
) -> Result<Option<i64>, StoreError> {
    if ops.is_empty() {
        // Nothing to write, but the answer still means "the database is
        // there": a caller waiting on durability must not be told yes while
        // it is gone.
        sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map_err(db_error)?;
        return Ok(None);
    }
    let mut tx = pool.begin().await.map_err(conn_error)?;
    let mut i = 0;
    while let Some(first) = ops.get(i) {
        // The longest run of the same kind of write to the same table.
        let same = |o: &&&Op| {
            o.table() == first.table()
                && matches!(
                    (o, first),
                    (Op::Put { .. }, Op::Put { .. }) | (Op::Delete { .. }, Op::Delete { .. })
                )
        };
        let run: Vec<&Op> = ops
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(same)
            .take(MAX_STATEMENT_ROWS)
            .copied()
            .collect();
        i += run.len();
        match first {
            Op::Put { table, .. } => put_rows(&mut tx, *table, &run).await?,
            Op::Delete { table, .. } => delete_rows(&mut tx, *table, &run).await?,
        }
    }
    let seq = match origin {
        Some(origin) => super::feed::record(&mut tx, origin, ops).await?,
        None => None,
    };
    tx.commit().await.map_err(db_error)?;
    Ok(seq)
}

/// One `INSERT … ON CONFLICT` for a run of puts; the last put of a key
/// wins (one statement may not touch a row twice).
async fn put_rows(conn: &mut PgConnection, table: Table, run: &[&Op]) -> Result<(), StoreError> {
    let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(run.len());
    for (n, op) in run.iter().enumerate() {
        if let Op::Put { id, .. } = op {
            last.insert(id.as_slice(), n);
        }
    }
    let mut ids = Vec::with_capacity(last.len());
    let mut exps = Vec::with_capacity(last.len());
    let mut dones = Vec::with_capacity(last.len());
    let mut payloads = Vec::with_capacity(last.len());
    for (n, op) in run.iter().enumerate() {
        if let Op::Put { id, payload, .. } = op {
            if last.get(id.as_slice()) != Some(&n) {
                continue;
            }
            let Columns { expires_at, done } = table.columns(id, payload);
            ids.push(id.as_slice());
            exps.push(expires_at);
            dones.push(done);
            payloads.push(payload.as_slice());
        }
    }
    let sql = format!(
        "INSERT INTO {} (id, expires_at, done, payload) \
         SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::bool[], $4::bytea[]) \
         ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
         done = EXCLUDED.done, payload = EXCLUDED.payload",
        table.name()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(exps)
        .bind(dones)
        .bind(payloads)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

async fn delete_rows(conn: &mut PgConnection, table: Table, run: &[&Op]) -> Result<(), StoreError> {
    let ids: Vec<&[u8]> = run
        .iter()
        .filter_map(|op| match op {
            Op::Delete { id, .. } => Some(id.as_slice()),
            Op::Put { .. } => None,
        })
        .collect();
    let sql = format!("DELETE FROM {} WHERE id = ANY($1::bytea[])", table.name());
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// One put, inside the caller's transaction.
pub(super) async fn put_one(
    conn: &mut PgConnection,
    table: Table,
    id: &[u8],
    payload: &[u8],
) -> Result<(), StoreError> {
    let op = Op::put(table, id, payload.to_vec());
    put_rows(conn, table, &[&op]).await
}
