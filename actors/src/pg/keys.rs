//! The key set over PostgreSQL: whole key records by `kid`, and every
//! change of the set planned from the set as stored, under a lock, so that
//! of several nodes one rotates and the others find it done.

use super::tables::Table;
use super::{db_error, Op, Pg};
use crate::keys::{KeyStore, StoredKey};
use crate::store::{self, StoreError};

pub(super) struct PgKeyStore(pub(super) Pg);

impl KeyStore for PgKeyStore {
    fn load(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.0
            .load(Table::Keys)?
            .iter()
            .map(|(_, v)| store::decode(v))
            .collect()
    }
    fn commit(&self, upsert: &[StoredKey], remove: &[String]) -> Result<(), StoreError> {
        let mut ops = Vec::with_capacity(upsert.len() + remove.len());
        for k in upsert {
            ops.push(Op::put(Table::Keys, k.kid.as_bytes(), store::encode(k)?));
        }
        for kid in remove {
            ops.push(Op::delete(Table::Keys, kid.as_bytes()));
        }
        self.0.commit_blocking(ops)
    }

    /// Under the key lock, in one transaction: every node changes the set
    /// one at a time, each planning from the set as stored.
    fn change(
        &self,
        plan: &mut crate::keys::storage::Plan<'_>,
    ) -> Result<Vec<StoredKey>, crate::keys::RotateError> {
        let pool = self.0.pool().clone();
        let (tx, rows) = self.0.block(async move {
            let mut tx = pool.begin().await.map_err(super::conn_error)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(KEYS_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT payload FROM keys ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
            Ok((tx, rows))
        })?;
        let keys: Vec<StoredKey> = rows
            .iter()
            .map(|v| store::decode(v))
            .collect::<Result<_, _>>()?;
        // On an error the transaction is dropped, which rolls it back.
        let (upsert, remove) = plan(&keys)?;
        let mut ops = Vec::with_capacity(upsert.len() + remove.len());
        for k in &upsert {
            ops.push(Op::put(Table::Keys, k.kid.as_bytes(), store::encode(k)?));
        }
        for kid in &remove {
            ops.push(Op::delete(Table::Keys, kid.as_bytes()));
        }
        let origin = self.0.origin();
        let seq = self.0.block(async move {
            let mut tx = tx;
            let refs: Vec<&Op> = ops.iter().collect();
            for op in &refs {
                match op {
                    Op::Put { table, id, payload } => {
                        super::committer::put_one(&mut tx, *table, id, payload).await?
                    }
                    Op::Delete { table, id } => {
                        let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(id.as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                }
            }
            let seq = match origin {
                Some(origin) => super::feed::record(&mut tx, origin, &refs).await?,
                None => None,
            };
            tx.commit().await.map_err(db_error)?;
            Ok(seq)
        })?;
        self.0.inner.health.committed(seq);
        Ok(crate::keys::storage::after(keys, upsert, &remove))
    }
}

/// The lock a change of the key set holds (any constant no other lock uses).
const KEYS_LOCK: i64 = 0x7465_7373_0004;
