//! The login limits' shared counts (`login_failures`, migration 3): one
//! row per key, changed in one transaction that also writes its event, so
//! every node's limiter learns it from the feed.

use sqlx::PgPool;

use super::{conn_error, db_error, feed};
use crate::ratelimit::{Entry, Policy, SHARED_TABLE};
use crate::store::{self, StoreError};

/// One failure of `key` at `now`: the count restarts when the window has
/// passed. Answers the row as stored, every node's failures counted.
pub(crate) async fn fail(
    pool: &PgPool,
    origin: i64,
    key: &str,
    policy: Policy,
    now: i64,
) -> Result<Entry, StoreError> {
    let mut tx = pool.begin().await.map_err(conn_error)?;
    let (failures, window_start, locked_until): (i32, i64, i64) = sqlx::query_as(
        "INSERT INTO login_failures AS f (key, failures, window_start, locked_until) \
         VALUES ($1, 1, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN $2 - f.window_start > $3 THEN 1 ELSE f.failures + 1 END, \
           window_start = CASE WHEN $2 - f.window_start > $3 THEN $2 ELSE f.window_start END \
         RETURNING failures, window_start, locked_until",
    )
    .bind(key)
    .bind(now)
    .bind(policy.window)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    let failures = u32::try_from(failures).unwrap_or(0);
    let locked_until = locked_until.max(policy.lock_for(failures, now));
    sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE key = $1")
        .bind(key)
        .bind(locked_until)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let entry = Entry {
        failures,
        window_start,
        locked_until,
    };
    let row = store::encode(&entry)?;
    feed::record_rows(
        &mut tx,
        origin,
        &[(SHARED_TABLE, key.as_bytes(), Some(row.as_slice()))],
    )
    .await?;
    tx.commit().await.map_err(db_error)?;
    Ok(entry)
}

/// A success: the key's count is gone on every node.
pub(crate) async fn succeed(pool: &PgPool, origin: i64, key: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(conn_error)?;
    sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    feed::record_rows(&mut tx, origin, &[(SHARED_TABLE, key.as_bytes(), None)]).await?;
    tx.commit().await.map_err(db_error)
}
