//! The change feed's database side (see `migrations/0002_cluster.sql` and
//! the README, "Running a cluster"): every transaction that changes a record some node keeps
//! in memory also writes one event per change, and wakes the listeners.
//!
//! **Why "applied up to N" means every committed change up to N.** A
//! writing transaction takes the feed lock (a transaction-scoped advisory
//! lock) right before it draws its sequence numbers, and holds it until it
//! commits or rolls back. PostgreSQL makes a committing transaction
//! visible before it releases its locks, so the next transaction to draw
//! numbers starts after the previous one is visible or gone. Hence a
//! statement that sees seq N sees every committed seq below N: a reader
//! that has applied every event it read up to N has missed none, and a
//! hole below N is a rolled-back transaction that will never appear.
//!
//! The lock is taken last, after the transaction's own writes, so writers
//! queue only for the few statements of drawing numbers and committing.

use sqlx::PgConnection;

use super::tables::Table;
use super::{db_error, Op};
use crate::store::StoreError;

/// The feed lock (any constant no other lock uses).
pub(crate) const FEED_LOCK: i64 = 0x7465_7373_0003;
/// The channel a committed change wakes.
pub const CHANNEL: &str = "tessera_events";
/// The channel nodes announce what they applied on.
pub const ACKS: &str = "tessera_acks";

/// One change as a node applies it: the row's new record, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub table: Table,
    pub id: Vec<u8>,
    /// `None`: the row was deleted.
    pub payload: Option<Vec<u8>>,
}

/// An event as read back from the feed.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: i64,
    pub origin: i64,
    pub change: Change,
}

/// Write an event for each of `ops` that some node's view depends on, in
/// the caller's transaction, under the feed lock; wakes the listeners at
/// commit. Answers the highest seq drawn, if any.
pub(crate) async fn record(
    conn: &mut PgConnection,
    origin: i64,
    ops: &[&Op],
) -> Result<Option<i64>, StoreError> {
    let mut rows = Vec::new();
    for op in ops {
        let (table, id, payload) = match op {
            Op::Put { table, id, payload } => (*table, id, Some(payload.as_slice())),
            Op::Delete { table, id } => (*table, id, None),
        };
        if table.fed() {
            rows.push((table.name(), id.as_slice(), payload));
        }
    }
    record_rows(conn, origin, &rows).await
}

/// A row of a table outside [`Table`]: (table, id, new row or `None`).
pub(crate) type RawRow<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);

/// Events for rows of tables outside [`Table`] (the cluster's shared
/// state, such as login failure counts), as [`record`] writes them.
pub(crate) async fn record_rows(
    conn: &mut PgConnection,
    origin: i64,
    rows: &[RawRow<'_>],
) -> Result<Option<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let tbls: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let ids: Vec<&[u8]> = rows.iter().map(|r| r.1).collect();
    let payloads: Vec<Option<&[u8]>> = rows.iter().map(|r| r.2).collect();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    // WITH ORDINALITY keeps the writes' order in the numbers drawn.
    let top: Option<i64> = sqlx::query_scalar(
        "WITH ins AS (
            INSERT INTO events (seq, origin, tbl, id, payload)
            SELECT nextval('events_seq'), $1, t, i, p
            FROM UNNEST($2::text[], $3::bytea[], $4::bytea[]) WITH ORDINALITY AS u(t, i, p, n)
            ORDER BY n
            RETURNING seq
        ) SELECT max(seq) FROM ins",
    )
    .bind(origin)
    .bind(tbls)
    .bind(ids)
    .bind(payloads)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(seq) = top {
        // Delivered at commit, and never for a rolled-back transaction.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(seq.to_string())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(top)
}

/// What one read of the feed found.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events after the reader's position, in order.
    pub events: Vec<Event>,
    /// The highest seq read (an event of a table this binary does not
    /// know is skipped but counts).
    pub last: Option<i64>,
    /// How far the feed had been pruned, in the same snapshot: if it is
    /// beyond the reader's position, events it never saw are gone.
    pub horizon: i64,
    /// When the last event read was committed (the database's clock, in
    /// seconds since the epoch).
    pub last_committed_at: Option<f64>,
    /// Events of tables outside [`Table`].
    pub others: Vec<OtherEvent>,
}

/// An event of a table outside [`Table`] (the cluster's shared state).
#[derive(Debug, Clone)]
pub struct OtherEvent {
    pub origin: i64,
    pub table: String,
    pub id: Vec<u8>,
    pub payload: Option<Vec<u8>>,
}

/// Events after `after`, in order, at most `limit`, with the pruning
/// horizon of the same snapshot.
pub(crate) async fn read(
    conn: &mut PgConnection,
    after: i64,
    limit: i64,
) -> Result<Batch, StoreError> {
    type Row = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<f64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT h.pruned_through, e.seq, e.origin, e.tbl, e.id, e.payload, \
                extract(epoch FROM e.committed_at)::float8 \
         FROM feed_horizon h LEFT JOIN LATERAL \
           (SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) e ON true \
         ORDER BY e.seq",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut batch = Batch::default();
    for (horizon, seq, origin, tbl, id, payload, at) in rows {
        batch.horizon = horizon;
        let (Some(seq), Some(origin), Some(tbl), Some(id)) = (seq, origin, tbl, id) else {
            continue;
        };
        batch.last = Some(seq);
        batch.last_committed_at = at;
        // Shared state outside the record tables goes to its own sinks; a
        // table no sink knows (a newer node's) is skipped, its seq still
        // applied.
        let Some(table) = Table::named(&tbl) else {
            batch.others.push(OtherEvent {
                origin,
                table: tbl,
                id,
                payload,
            });
            continue;
        };
        batch.events.push(Event {
            seq,
            origin,
            change: Change { table, id, payload },
        });
    }
    Ok(batch)
}

/// The highest seq drawn so far (0 before the first event). Every event
/// up to it that will ever be visible is visible once the feed lock has
/// been taken and released, which is what [`head`] does.
pub(crate) async fn head(conn: &mut PgConnection) -> Result<i64, StoreError> {
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .map_err(db_error)?;
    // Wait out a writer that drew numbers but has not committed yet.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FEED_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    // The pruned horizon counts too: with every event pruned, the table
    // alone would say 0, and a node starting there would find itself
    // behind the horizon.
    let seq: Option<i64> = sqlx::query_scalar(
        "SELECT GREATEST((SELECT max(seq) FROM events), \
                         (SELECT pruned_through FROM feed_horizon))",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(seq.unwrap_or(0))
}
