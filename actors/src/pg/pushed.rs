//! Pushed authorization requests shared by the nodes of a cluster
//! (`pushed_requests`, migration 5).

use sqlx::PgPool;

use super::db_error;
use crate::secret::SecretHash;
use crate::store::StoreError;

pub(crate) async fn put(
    pool: PgPool,
    id: SecretHash,
    expires_at: i64,
    payload: Vec<u8>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO pushed_requests (id, expires_at, payload) VALUES ($1, $2, $3)")
        .bind(id.as_slice())
        .bind(expires_at)
        .bind(payload)
        .execute(&pool)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The request's expiry, binding and payload.
pub(crate) async fn get(
    pool: PgPool,
    id: SecretHash,
) -> Result<Option<(i64, Option<Vec<u8>>, Vec<u8>)>, StoreError> {
    sqlx::query_as("SELECT expires_at, binding, payload FROM pushed_requests WHERE id = $1")
        .bind(id.as_slice())
        .fetch_optional(&pool)
        .await
        .map_err(db_error)
}

/// Bind the request to a browser, if no browser has it yet and it is
/// still alive; answers whether this call bound it.
pub(crate) async fn bind(
    pool: PgPool,
    id: SecretHash,
    binding: SecretHash,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE pushed_requests SET binding = $2, expires_at = $3 \
         WHERE id = $1 AND binding IS NULL AND expires_at >= $4",
    )
    .bind(id.as_slice())
    .bind(binding.as_slice())
    .bind(expires_at)
    .bind(now)
    .execute(&pool)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Remove the request; answers whether this call removed it.
pub(crate) async fn take(pool: PgPool, id: SecretHash) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM pushed_requests WHERE id = $1")
        .bind(id.as_slice())
        .execute(&pool)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
