//! Device authorization grants (RFC 8628) in the database
//! (`device_codes`, migration 7): each change of a grant is one
//! conditional `UPDATE`, so of two nodes (or two polls) racing, one wins.

use sqlx::PgPool;

use super::db_error;
use crate::secret::SecretHash;
use crate::store::StoreError;

pub(crate) const PENDING: i16 = 0;
pub(crate) const APPROVED: i16 = 1;
pub(crate) const DENIED: i16 = 2;
pub(crate) const USED: i16 = 3;

pub(crate) struct NewRow {
    pub id: SecretHash,
    pub user_code: SecretHash,
    pub client_id: String,
    pub expires_at: i64,
    pub interval: i64,
    pub payload: Vec<u8>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    pub id: Vec<u8>,
    pub client_id: String,
    pub expires_at: i64,
    pub status: i16,
    pub payload: Vec<u8>,
    pub approval: Option<Vec<u8>>,
}

/// Insert a pending grant; `false` when its user code is taken.
pub(crate) async fn insert(pool: PgPool, row: NewRow) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO device_codes \
         (id, user_code, client_id, expires_at, status, poll_interval, payload) \
         VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(row.id.as_slice())
    .bind(row.user_code.as_slice())
    .bind(row.client_id)
    .bind(row.expires_at)
    .bind(row.interval)
    .bind(row.payload)
    .execute(&pool)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

const COLUMNS: &str = "id, client_id, expires_at, status, payload, approval";

pub(crate) async fn by_id(pool: PgPool, id: SecretHash) -> Result<Option<Row>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM device_codes WHERE id = $1"
    )))
    .bind(id.as_slice())
    .fetch_optional(&pool)
    .await
    .map_err(db_error)
}

pub(crate) async fn by_user_code(
    pool: PgPool,
    user_code: SecretHash,
) -> Result<Option<Row>, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM device_codes WHERE user_code = $1"
    )))
    .bind(user_code.as_slice())
    .fetch_optional(&pool)
    .await
    .map_err(db_error)
}

/// Approve (with the encoded approval) or deny (`None`) a pending grant
/// that has not expired; answers whether this call decided it.
pub(crate) async fn decide(
    pool: PgPool,
    id: SecretHash,
    user_code: SecretHash,
    approval: Option<Vec<u8>>,
    now: i64,
) -> Result<bool, StoreError> {
    let status = if approval.is_some() { APPROVED } else { DENIED };
    let done = sqlx::query(
        "UPDATE device_codes SET status = $3, approval = $4 \
         WHERE id = $1 AND user_code = $2 AND status = 0 AND expires_at >= $5",
    )
    .bind(id.as_slice())
    .bind(user_code.as_slice())
    .bind(status)
    .bind(approval)
    .bind(now)
    .execute(&pool)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Hand out an approved grant's tokens: answers whether this call took it.
pub(crate) async fn take(pool: PgPool, id: SecretHash) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE device_codes SET status = $2 WHERE id = $1 AND status = $3")
        .bind(id.as_slice())
        .bind(USED)
        .bind(APPROVED)
        .execute(&pool)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Note a poll of a pending grant at `now`: the interval grows by `step`
/// when the previous poll was less than an interval ago. Answers the
/// interval before and after, or `None` when the grant is no longer
/// pending.
pub(crate) async fn polled(
    pool: PgPool,
    id: SecretHash,
    now: i64,
    step: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    sqlx::query_as(
        "UPDATE device_codes d SET last_poll = $2, poll_interval = \
           CASE WHEN old.last_poll IS NOT NULL AND $2 - old.last_poll < old.poll_interval \
                THEN old.poll_interval + $3 ELSE old.poll_interval END \
         FROM (SELECT id, last_poll, poll_interval FROM device_codes \
               WHERE id = $1 AND status = 0 FOR UPDATE) old \
         WHERE d.id = old.id AND d.status = 0 \
         RETURNING old.poll_interval, d.poll_interval",
    )
    .bind(id.as_slice())
    .bind(now)
    .bind(step)
    .fetch_optional(&pool)
    .await
    .map_err(db_error)
}
