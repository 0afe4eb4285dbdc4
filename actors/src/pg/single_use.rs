//! Single-use values seen by any node: DPoP proofs (`dpop_proofs`,
//! migration 4) and the `jti`s of client assertions and request objects
//! (`used_jtis`, migration 5).

use sqlx::PgPool;

use super::{conn_error, db_error};
use crate::store::StoreError;

/// The tables that hold single-use values, each `(id bytea, expires_at)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnceTable {
    DpopProofs,
    UsedJtis,
}

impl OnceTable {
    fn claim_sql(self) -> &'static str {
        // A dead row (past its window) may be taken over: the value could
        // not be accepted anyway, so this is a new one that collided.
        match self {
            OnceTable::DpopProofs => {
                "INSERT INTO dpop_proofs AS p (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                 WHERE p.expires_at < $3"
            }
            OnceTable::UsedJtis => {
                "INSERT INTO used_jtis AS p (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                 WHERE p.expires_at < $3"
            }
        }
    }
}

/// Record a value; `false` when some node recorded it before and it is
/// still within its window.
pub(crate) async fn claim(
    pool: PgPool,
    table: OnceTable,
    id: u128,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let mut conn = pool.acquire().await.map_err(conn_error)?;
    let done = sqlx::query(table.claim_sql())
        .bind(id.to_be_bytes().as_slice())
        .bind(expires_at)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
