//! DPoP proofs seen by any node (`dpop_proofs`, migration 4).

use sqlx::PgPool;

use super::{conn_error, db_error};
use crate::store::StoreError;

/// Record a proof; `false` when some node recorded it before and it is
/// still within its window.
pub(crate) async fn claim(
    pool: PgPool,
    id: u128,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await.map_err(conn_error)?;
    // A dead row (past its window) may be taken over: the proof could not
    // be accepted anyway, so this is a new one that collided.
    let done = sqlx::query(
        "INSERT INTO dpop_proofs AS p (id, expires_at) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
         WHERE p.expires_at < $3",
    )
    .bind(id.to_be_bytes().as_slice())
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
