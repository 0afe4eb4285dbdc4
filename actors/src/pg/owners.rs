//! Every owner's storage trait over PostgreSQL, but the directory's (in
//! `directory.rs`). Writes are staged in the owner's store and handed to
//! the group committer as one unit when the owner asks for durability;
//! single-use transitions are conditional `UPDATE`s decided by the database.

use std::sync::Arc;

use super::tables::Table;
use super::{db_error, Op, Pending, Pg};
use crate::federation::{FederationLink, FederationStore, PendingLogin};
use crate::mailer::storage::Claim;
use crate::mailer::{MailStore, QueuedMail};
use crate::revocation::RevocationStore;
use crate::secret::SecretHash;
use crate::sessions::{Session, SessionStore};
use crate::store::{self, StoreError};
use crate::stores::{Durable, Stores};
use crate::tokens::{AuthCode, RefreshMeta, Table as TokenTable, TokenStore};

pub(super) fn stores(pg: &Pg) -> Stores {
    Stores {
        keys: Box::new(super::keys::PgKeyStore(pg.clone())),
        tokens: Box::new(PgTokenStore(Staged::new(pg))),
        revocations: Box::new(PgRevocationStore(Staged::new(pg))),
        directory: Box::new(super::directory::PgDirectoryStore::new(pg)),
        sessions: Box::new(PgRecords::<Session>::new(pg, Table::Sessions)),
        mail: Box::new(PgRecords::<QueuedMail>::new(pg, Table::Mail)),
        logout: Box::new(crate::logout::PgLogoutStore::new(pg)),
        federation: Box::new(PgFederationStore(pg.clone())),
        audit: Box::new(crate::audit::PgAuditStore::new(pg)),
        health: Arc::new(pg.clone()),
    }
}

/// Writes waiting for their owner's next durability request.
struct Staged {
    pg: Pg,
    pending: Arc<Pending>,
}

impl Staged {
    fn new(pg: &Pg) -> Staged {
        Staged {
            pg: pg.clone(),
            pending: pg.pending(),
        }
    }
    fn stage(&self, ops: impl IntoIterator<Item = Op>) {
        self.pending.stage(ops);
    }
    /// Everything staged so far, as one unit for the group committer.
    fn durable(&self) -> Durable {
        self.pg.commit_pending(&self.pending)
    }
    /// Commit what is staged, and wait out every unit handed over before,
    /// ahead of a statement that must see them (a code put by one message
    /// may ride in another message's unit still on its way).
    fn settle(&self) -> Result<(), StoreError> {
        let unit = self.pg.commit_pending(&self.pending);
        self.pg.block(unit)
    }
}

fn key16(id: &[u8], what: &str) -> Result<u128, StoreError> {
    let k: [u8; 16] = id
        .try_into()
        .map_err(|_| StoreError::Decode(format!("{what} key is not 16 bytes")))?;
    Ok(u128::from_be_bytes(k))
}

struct PgTokenStore(Staged);

fn token_table(t: TokenTable) -> Table {
    match t {
        TokenTable::Access => Table::AccessTokens,
        TokenTable::Code => Table::AuthCodes,
        TokenTable::Refresh => Table::RefreshTokens,
        TokenTable::Entity => Table::EntityTokens,
    }
}

impl PgTokenStore {
    /// Write `new` only if the row's single use is not spent yet; the
    /// database decides, so one caller wins across every process.
    fn flip(&self, table: Table, key: u128, new: Vec<u8>) -> Result<bool, StoreError> {
        self.0.settle()?;
        let pool = self.0.pg.pool().clone();
        let origin = self.0.pg.origin();
        let (won, seq) = self.0.pg.block(async move {
            let mut tx = pool.begin().await.map_err(super::conn_error)?;
            let sql = format!(
                "UPDATE {} SET payload = $2, done = true WHERE id = $1 AND NOT done",
                table.name()
            );
            let id = key.to_be_bytes();
            let won = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.as_slice())
                .bind(new.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected()
                == 1;
            let seq = match origin {
                Some(origin) if won => {
                    let op = Op::put(table, id, new);
                    super::feed::record(&mut tx, origin, &[&op]).await?
                }
                _ => None,
            };
            tx.commit().await.map_err(db_error)?;
            Ok((won, seq))
        })?;
        self.0.pg.inner.health.committed(seq);
        Ok(won)
    }

    /// One row read now, for a record another node wrote that this one has
    /// not applied yet.
    fn fetch_row(&self, table: Table, key: u128) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.0.pg.pool().clone();
        self.0.pg.block(async move {
            let sql = format!("SELECT payload FROM {} WHERE id = $1", table.name());
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql))
                .bind(key.to_be_bytes().as_slice())
                .fetch_optional(&pool)
                .await
                .map_err(db_error)
        })
    }
}

impl TokenStore for PgTokenStore {
    fn load(&self, t: TokenTable) -> Result<Vec<(u128, Vec<u8>)>, StoreError> {
        self.0
            .pg
            .load(token_table(t))?
            .into_iter()
            .map(|(k, v)| Ok((key16(&k, "token")?, v)))
            .collect()
    }
    fn put(&self, t: TokenTable, entries: Vec<(u128, Vec<u8>)>) -> Result<(), StoreError> {
        let table = token_table(t);
        self.0.stage(
            entries
                .into_iter()
                .map(|(k, v)| Op::put(table, k.to_be_bytes(), v)),
        );
        Ok(())
    }
    fn remove(&self, t: TokenTable, keys: &[u128]) -> Result<(), StoreError> {
        let table = token_table(t);
        self.0
            .stage(keys.iter().map(|k| Op::delete(table, k.to_be_bytes())));
        Ok(())
    }
    fn consume_code(&self, key: u128, consumed: &AuthCode) -> Result<bool, StoreError> {
        self.flip(Table::AuthCodes, key, store::encode(consumed)?)
    }
    fn use_refresh(&self, key: u128, used: &RefreshMeta) -> Result<bool, StoreError> {
        self.flip(Table::RefreshTokens, key, store::encode(used)?)
    }
    fn fetch(&self, t: TokenTable, key: u128) -> Result<Option<Vec<u8>>, StoreError> {
        self.fetch_row(token_table(t), key)
    }
    /// Shared with other nodes when this process is a cluster node. A
    /// server alone keeps the single-node rules (a code not redeemed
    /// before a restart is void), as on sled.
    fn shared(&self) -> bool {
        self.0.pg.origin().is_some()
    }
    fn durable(&self) -> Durable {
        self.0.durable()
    }
}

struct PgRevocationStore(Staged);

impl RevocationStore for PgRevocationStore {
    fn load(&self) -> Result<Vec<(u128, i64)>, StoreError> {
        self.0
            .pg
            .load(Table::Revoked)?
            .into_iter()
            .map(|(k, v)| Ok((key16(&k, "revocation")?, store::decode::<i64>(&v)?)))
            .collect()
    }
    fn load_subjects(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        self.0
            .pg
            .load(Table::RevokedSubjects)?
            .into_iter()
            .map(|(k, v)| {
                let sub = String::from_utf8(k)
                    .map_err(|_| StoreError::Decode("subject is not UTF-8".into()))?;
                let (cutoff, until): (i64, i64) = store::decode(&v)?;
                Ok((sub, cutoff, until))
            })
            .collect()
    }
    fn put_subject(&self, sub: &str, cutoff: i64, until: i64) -> Result<(), StoreError> {
        let v = store::encode(&(cutoff, until))?;
        self.0
            .stage([Op::put(Table::RevokedSubjects, sub.as_bytes(), v)]);
        Ok(())
    }
    fn remove_subject(&self, sub: &str) -> Result<(), StoreError> {
        self.0
            .stage([Op::delete(Table::RevokedSubjects, sub.as_bytes())]);
        Ok(())
    }
    fn put(&self, entries: &[(u128, i64)]) -> Result<(), StoreError> {
        let mut ops = Vec::with_capacity(entries.len());
        for (id, until) in entries {
            ops.push(Op::put(
                Table::Revoked,
                id.to_be_bytes(),
                store::encode(until)?,
            ));
        }
        self.0.stage(ops);
        Ok(())
    }
    fn remove(&self, ids: &[u128]) -> Result<(), StoreError> {
        self.0.stage(
            ids.iter()
                .map(|id| Op::delete(Table::Revoked, id.to_be_bytes())),
        );
        Ok(())
    }
    fn durable(&self) -> Durable {
        self.0.durable()
    }
}

/// Whole records by id (sessions, the mail queue).
struct PgRecords<T> {
    staged: Staged,
    table: Table,
    _kind: std::marker::PhantomData<fn() -> T>,
}

impl<T> PgRecords<T> {
    fn new(pg: &Pg, table: Table) -> Self {
        PgRecords {
            staged: Staged::new(pg),
            table,
            _kind: std::marker::PhantomData,
        }
    }
    fn load_all(&self) -> Result<Vec<T>, StoreError>
    where
        T: serde::de::DeserializeOwned,
    {
        // A read sees this owner's own writes, as under sled.
        self.staged.settle()?;
        self.staged
            .pg
            .load(self.table)?
            .iter()
            .map(|(_, v)| store::decode(v))
            .collect()
    }
    fn put(&self, id: &uuid::Uuid, record: &T) -> Result<(), StoreError>
    where
        T: serde::Serialize,
    {
        let v = store::encode(record)?;
        self.staged
            .stage([Op::put(self.table, id.as_bytes().as_slice(), v)]);
        Ok(())
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.staged
            .stage([Op::delete(self.table, id.as_bytes().as_slice())]);
        Ok(())
    }
}

impl SessionStore for PgRecords<Session> {
    fn load_all(&self) -> Result<Vec<Session>, StoreError> {
        PgRecords::load_all(self)
    }
    fn put(&self, s: &Session) -> Result<(), StoreError> {
        PgRecords::put(self, &s.id, s)
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        PgRecords::delete(self, id)
    }
    fn durable(&self) -> Durable {
        self.staged.durable()
    }
}

impl MailStore for PgRecords<QueuedMail> {
    fn load_all(&self) -> Result<Vec<QueuedMail>, StoreError> {
        PgRecords::load_all(self)
    }
    fn put(&self, m: &QueuedMail) -> Result<(), StoreError> {
        PgRecords::put(self, &m.id, m)
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        PgRecords::delete(self, id)
    }
    fn durable(&self) -> Durable {
        self.staged.durable()
    }
    /// A lease in the row's `expires_at` (mail never expires otherwise),
    /// taken with `FOR UPDATE SKIP LOCKED`: a process claiming the same
    /// mail at the same moment skips it instead of waiting. Writing the
    /// record again (a failed attempt) clears the lease.
    fn claim(&self, id: &uuid::Uuid, now: i64, until: i64) -> Result<Claim, StoreError> {
        // A server alone owns its queue: a lease left by its own previous
        // life (killed mid-attempt) must not hold the mail back.
        if self.staged.pg.origin().is_none() {
            return Ok(Claim::Won);
        }
        // The record itself must be in the table before it can be leased.
        self.staged.settle()?;
        let pool = self.staged.pg.pool().clone();
        let id = id.as_bytes().to_vec();
        self.staged.pg.block(async move {
            let won = sqlx::query(
                "UPDATE mail SET expires_at = $2 WHERE id = \
                 (SELECT id FROM mail WHERE id = $1 AND (expires_at IS NULL OR expires_at <= $3) \
                  FOR UPDATE SKIP LOCKED)",
            )
            .bind(id.as_slice())
            .bind(until)
            .bind(now)
            .execute(&pool)
            .await
            .map_err(db_error)?
            .rows_affected();
            if won == 1 {
                return Ok(Claim::Won);
            }
            let lease: Option<Option<i64>> =
                sqlx::query_scalar("SELECT expires_at FROM mail WHERE id = $1")
                    .bind(id.as_slice())
                    .fetch_optional(&pool)
                    .await
                    .map_err(db_error)?;
            Ok(match lease {
                None => Claim::Gone,
                // Locked by a claim in flight, or leased: try after it.
                Some(l) => Claim::Leased(l.unwrap_or(now).max(now + 1)),
            })
        })
    }
}

struct PgFederationStore(Pg);

impl FederationStore for PgFederationStore {
    fn load_all(&self) -> Result<Vec<FederationLink>, StoreError> {
        self.0
            .load(Table::FederationLinks)?
            .into_iter()
            .map(|(k, v)| crate::federation::storage::decode_link(&k, &v))
            .collect()
    }
    fn put_durable(&self, link: &FederationLink) -> Durable {
        let (k, v) = crate::federation::storage::encode_link(link);
        self.0.commit(vec![Op::put(Table::FederationLinks, k, v)])
    }
    fn put_pending(&self, key: &SecretHash, login: &PendingLogin) -> Result<(), StoreError> {
        if self.0.origin().is_none() {
            return Ok(());
        }
        let pool = self.0.pool().clone();
        let (id, exp, payload) = (key.to_vec(), login.expires_at, store::encode(login)?);
        self.0.block(async move {
            sqlx::query(
                "INSERT INTO federation_states (id, expires_at, payload) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
                 payload = EXCLUDED.payload",
            )
            .bind(id)
            .bind(exp)
            .bind(payload)
            .execute(&pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }
    fn get_pending(&self, key: &SecretHash) -> Result<Option<PendingLogin>, StoreError> {
        if self.0.origin().is_none() {
            return Ok(None);
        }
        let pool = self.0.pool().clone();
        let id = key.to_vec();
        let row: Option<Vec<u8>> = self.0.block(async move {
            sqlx::query_scalar("SELECT payload FROM federation_states WHERE id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await
                .map_err(db_error)
        })?;
        row.map(|v| store::decode(&v)).transpose()
    }
    fn take_pending(&self, key: &SecretHash) -> Result<bool, StoreError> {
        if self.0.origin().is_none() {
            return Ok(true);
        }
        let pool = self.0.pool().clone();
        let id = key.to_vec();
        self.0.block(async move {
            let gone = sqlx::query("DELETE FROM federation_states WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await
                .map_err(db_error)?
                .rows_affected();
            Ok(gone == 1)
        })
    }
}
