//! The audit log over PostgreSQL: the `audit_log` table (migration 9), of
//! the same shape as every other record table. A record goes through the
//! group committer (durable once committed); a listing reads the table by
//! key, which is time order, so every node lists every node's records.

use crate::pg::tables::Table;
use crate::pg::{db_error, Op, Pg};
use crate::store::StoreError;
use crate::stores::Durable;

use super::storage::{AuditRow, AuditStore};
use super::AuditKey;

pub struct PgAuditStore(Pg);

impl PgAuditStore {
    pub fn new(pg: &Pg) -> Self {
        PgAuditStore(pg.clone())
    }
}

fn key16(k: &[u8]) -> Result<AuditKey, StoreError> {
    k.try_into()
        .map_err(|_| StoreError::Decode("an audit key is not 16 bytes".into()))
}

impl AuditStore for PgAuditStore {
    fn write(&self, key: AuditKey, record: Vec<u8>) -> Durable {
        self.0.commit(vec![Op::put(Table::AuditLog, key, record)])
    }

    fn page(&self, before: Option<AuditKey>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let pool = self.0.pool().clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.0.block(async move {
            sqlx::query_as(
                "SELECT id, payload FROM audit_log WHERE ($1::bytea IS NULL OR id < $1) \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(before.map(|b| b.to_vec()))
            .bind(limit)
            .fetch_all(&pool)
            .await
            .map_err(db_error)
        })?;
        rows.into_iter().map(|(k, v)| Ok((key16(&k)?, v))).collect()
    }

    fn sweep(&self, before: Option<AuditKey>, keep: Option<u64>) -> Result<u64, StoreError> {
        let pool = self.0.pool().clone();
        let keep = keep.map(|k| i64::try_from(k).unwrap_or(i64::MAX));
        self.0.block(async move {
            let mut gone = 0u64;
            if let Some(b) = before {
                gone += sqlx::query("DELETE FROM audit_log WHERE id < $1")
                    .bind(b.to_vec())
                    .execute(&pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
            }
            if let Some(keep) = keep {
                // The newest `keep` stay: everything at or below the first
                // one past them goes.
                gone += sqlx::query(
                    "DELETE FROM audit_log WHERE id <= \
                     (SELECT id FROM audit_log ORDER BY id DESC OFFSET $1 LIMIT 1)",
                )
                .bind(keep)
                .execute(&pool)
                .await
                .map_err(db_error)?
                .rows_affected();
            }
            Ok(gone)
        })
    }
}
