//! Deleting expired rows in bounded batches: never one huge `DELETE`, so a
//! sweep holds no long lock and a busy table never grows without end.
//! One node sweeps at a time (a transaction-scoped advisory lock); the
//! others skip that round.

use std::time::Duration;

use sqlx::PgPool;

use super::db_error;
use super::tables::Table;
use crate::store::StoreError;

/// Rows one statement deletes at most.
pub const BATCH: i64 = 1000;
/// How long after its expiry a row is kept: the owners drop expired records
/// from their views by their own clock, and a little slack keeps a node
/// whose clock runs behind from reloading a record another node swept.
pub const GRACE_SECS: i64 = 3600;
const EVERY: Duration = Duration::from_secs(60);
/// The advisory lock the sweeping node holds (any constant that no other
/// lock uses).
const SWEEP_LOCK: i64 = 0x7465_7373_0001;

pub(super) async fn run(pool: PgPool) {
    loop {
        tokio::time::sleep(EVERY).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match sweep(&pool, now - GRACE_SECS).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "expired rows deleted"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed; it runs again in a minute"),
        }
    }
}

/// Delete every row that expired before `before`, `BATCH` rows per
/// transaction; answers how many went.
pub async fn sweep(pool: &PgPool, before: i64) -> Result<u64, StoreError> {
    let mut statements: Vec<String> = Table::ALL
        .into_iter()
        .filter(|t| t.expires())
        .map(|t| {
            format!(
                "DELETE FROM {t} WHERE id IN \
                 (SELECT id FROM {t} WHERE expires_at < $1 LIMIT $2)",
                t = t.name()
            )
        })
        .collect();
    // The cluster's short-lived shared state: logins in flight past their
    // expiry, failure counts neither locked nor in a window any more.
    statements.push(
        "DELETE FROM federation_states WHERE id IN \
         (SELECT id FROM federation_states WHERE expires_at < $1 LIMIT $2)"
            .into(),
    );
    for once in [
        "dpop_proofs",
        "used_jtis",
        "pushed_requests",
        "device_codes",
    ] {
        statements.push(format!(
            "DELETE FROM {once} WHERE id IN \
             (SELECT id FROM {once} WHERE expires_at < $1 LIMIT $2)"
        ));
    }
    statements.push(
        "DELETE FROM login_failures WHERE key IN \
         (SELECT key FROM login_failures WHERE locked_until < $1 AND window_start < $1 - 86400 \
          LIMIT $2)"
            .into(),
    );
    let mut total = 0;
    for sql in statements {
        loop {
            let Some(gone) = delete_batch(pool, &sql, before).await? else {
                // Another node is sweeping.
                return Ok(total);
            };
            total += gone;
            if gone < BATCH as u64 {
                break;
            }
            // Let the owners' writes through between batches.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(total)
}

/// One batch of `sql` (bound to `before` and [`BATCH`]) in a transaction
/// that holds the sweep lock; `None` when another node holds it.
async fn delete_batch(pool: &PgPool, sql: &str, before: i64) -> Result<Option<u64>, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    if !ours {
        return Ok(None);
    }
    let gone = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(before)
        .bind(BATCH)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
    tx.commit().await.map_err(db_error)?;
    Ok(Some(gone))
}

impl super::Pg {
    /// Run one sweep now, deleting what expired before `before`.
    pub fn sweep_expired(&self, before: i64) -> Result<u64, StoreError> {
        let pool = self.pool().clone();
        self.wait(async move { sweep(&pool, before).await })
    }
}
