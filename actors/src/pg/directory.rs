//! The directory over PostgreSQL. A message's writes are one unit, as with
//! sled: here a real transaction, opened by the unit's first write and
//! committed (or rolled back) when the directory says so. Conditional
//! writes read the row `FOR UPDATE` inside it, so several processes racing
//! for one TOTP step, one code or one client id get exactly one winner.
//!
//! Every call waits for its answer on the directory's own thread: the
//! directory handles one message at a time, and its writes (accounts,
//! clients, codes) are far rarer than token issuance.

use std::sync::Arc;

use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::Mutex;

use super::tables::Table;
use super::{committer, conn_error, db_error, Op, Pg};
use crate::directory::codes::{CodePurpose, CodeRecord};
use crate::directory::registration::InitialToken;
use crate::directory::storage::{consent_key, decode_consent, record_key, token_index_key};
use crate::directory::{ApiKey, Client, DirectoryState, DirectoryStore, Entity, User};
use crate::domain::Scope;
use crate::secret::SecretHash;
use crate::store::{self, StoreError};
use crate::stores::Durable;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
type Unit = Arc<Mutex<Option<Transaction<'static, Postgres>>>>;

pub(super) struct PgDirectoryStore {
    pg: Pg,
    unit: Unit,
    /// The unit's writes, for the change feed's events at commit.
    written: Arc<std::sync::Mutex<Vec<Op>>>,
}

impl PgDirectoryStore {
    pub(super) fn new(pg: &Pg) -> Self {
        PgDirectoryStore {
            pg: pg.clone(),
            unit: Arc::new(Mutex::new(None)),
            written: Default::default(),
        }
    }

    /// Run `f` inside the unit's transaction: a write opens it if needed;
    /// a read uses it when one is open (so it sees the unit's own writes),
    /// else any connection.
    fn in_unit<T, F>(&self, write: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let unit = self.unit.clone();
        let pool = self.pg.pool().clone();
        self.pg.block(async move {
            let mut guard = unit.lock().await;
            if guard.is_none() && write {
                *guard = Some(pool.begin().await.map_err(conn_error)?);
            }
            match &mut *guard {
                Some(tx) => f(tx).await,
                None => {
                    let mut conn = pool.acquire().await.map_err(conn_error)?;
                    f(&mut conn).await
                }
            }
        })
    }

    fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.in_unit(true, f)
    }

    fn note(&self, op: Op) {
        if self.pg.origin().is_some() {
            self.written
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(op);
        }
    }

    fn put(&self, table: Table, id: Vec<u8>, payload: Vec<u8>) -> Result<(), StoreError> {
        let op = Op::put(table, id.clone(), payload.clone());
        self.write(move |c| {
            Box::pin(async move { committer::put_one(c, table, &id, &payload).await })
        })?;
        self.note(op);
        Ok(())
    }

    fn del(&self, table: Table, id: Vec<u8>) -> Result<bool, StoreError> {
        let op = Op::delete(table, id.clone());
        let gone = self.write(move |c| Box::pin(async move { delete_one(c, table, &id).await }))?;
        if gone {
            self.note(op);
        }
        Ok(gone)
    }

    fn get(&self, table: Table, id: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.in_unit(false, move |c| {
            Box::pin(async move { get(c, table, &id, false).await })
        })
    }

    /// Replace the record at `id` with `new` (or delete it, and `also`)
    /// only if it still decodes to `expected`; the row is locked while it
    /// is compared.
    fn replace<T>(
        &self,
        table: Table,
        id: Vec<u8>,
        expected: &T,
        new: Option<Vec<u8>>,
        also_delete: Option<Vec<u8>>,
    ) -> Result<bool, StoreError>
    where
        T: serde::de::DeserializeOwned + PartialEq + Clone + Send + 'static,
    {
        let expected = expected.clone();
        let ops = [
            Some(match &new {
                Some(v) => Op::put(table, id.clone(), v.clone()),
                None => Op::delete(table, id.clone()),
            }),
            also_delete.clone().map(|other| Op::delete(table, other)),
        ];
        let won = self.write(move |c| {
            Box::pin(async move {
                let Some(current) = get(c, table, &id, true).await? else {
                    return Ok(false);
                };
                if store::decode::<T>(&current)? != expected {
                    return Ok(false);
                }
                match new {
                    Some(v) => committer::put_one(c, table, &id, &v).await?,
                    None => {
                        delete_one(c, table, &id).await?;
                    }
                }
                if let Some(other) = also_delete {
                    delete_one(c, table, &other).await?;
                }
                Ok(true)
            })
        })?;
        if won {
            for op in ops.into_iter().flatten() {
                self.note(op);
            }
        }
        Ok(won)
    }

    fn values<T: serde::de::DeserializeOwned>(&self, table: Table) -> Result<Vec<T>, StoreError> {
        self.pg
            .load(table)?
            .iter()
            .map(|(_, v)| store::decode(v))
            .collect()
    }

    /// End the unit: commit or roll back its transaction, if it has one.
    fn finish(&self, commit: bool) -> Result<(), StoreError> {
        let unit = self.unit.clone();
        let written = std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()));
        let origin = self.pg.origin();
        let seq = self.pg.block(async move {
            let Some(mut tx) = unit.lock().await.take() else {
                return Ok(None);
            };
            if commit {
                let seq = match origin {
                    Some(origin) => {
                        let refs: Vec<&Op> = written.iter().collect();
                        super::feed::record(&mut tx, origin, &refs).await?
                    }
                    None => None,
                };
                tx.commit().await.map_err(db_error)?;
                Ok(seq)
            } else {
                tx.rollback().await.map_err(db_error)?;
                Ok(None)
            }
        })?;
        self.pg.inner.health.committed(seq);
        Ok(())
    }
}

async fn get(
    c: &mut PgConnection,
    table: Table,
    id: &[u8],
    lock: bool,
) -> Result<Option<Vec<u8>>, StoreError> {
    let sql = format!(
        "SELECT payload FROM {} WHERE id = $1{}",
        table.name(),
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await
        .map_err(db_error)
}

async fn delete_one(c: &mut PgConnection, table: Table, id: &[u8]) -> Result<bool, StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
    let gone = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .execute(c)
        .await
        .map_err(db_error)?
        .rows_affected();
    Ok(gone > 0)
}

impl DirectoryStore for PgDirectoryStore {
    fn load_all(&self) -> Result<DirectoryState, StoreError> {
        let consents = self
            .pg
            .load(Table::Consents)?
            .iter()
            .map(|(k, v)| decode_consent(k, v))
            .collect::<Result<_, _>>()?;
        Ok(DirectoryState {
            clients: self.values(Table::Clients)?,
            users: self.values(Table::Users)?,
            consents,
            entities: self.values(Table::Entities)?,
            api_keys: self.values(Table::ApiKeys)?,
        })
    }

    fn create_client(&mut self, c: &Client) -> Result<bool, StoreError> {
        let id = c.client_id.as_bytes().to_vec();
        let payload = store::encode(c)?;
        let op = Op::put(Table::Clients, id.clone(), payload.clone());
        let won = self.write(move |conn| {
            Box::pin(async move {
                let won = sqlx::query(
                    "INSERT INTO clients (id, payload) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(payload)
                .execute(conn)
                .await
                .map_err(db_error)?
                .rows_affected();
                Ok(won == 1)
            })
        })?;
        if won {
            self.note(op);
        }
        Ok(won)
    }
    fn put_client(&mut self, c: &Client) -> Result<(), StoreError> {
        self.put(
            Table::Clients,
            c.client_id.as_bytes().to_vec(),
            store::encode(c)?,
        )
    }
    fn delete_client(&mut self, id: &str) -> Result<bool, StoreError> {
        self.del(Table::Clients, id.as_bytes().to_vec())
    }

    fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        self.put(Table::Users, u.id.as_bytes().to_vec(), store::encode(u)?)
    }
    fn replace_user(&mut self, expected: &User, new: &User) -> Result<bool, StoreError> {
        let id = expected.id.as_bytes().to_vec();
        self.replace(Table::Users, id, expected, Some(store::encode(new)?), None)
    }
    fn delete_user(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        self.del(Table::Users, id.as_bytes().to_vec())
    }

    fn consent(&self, user: &uuid::Uuid, client: &str) -> Result<Option<Scope>, StoreError> {
        match self.get(Table::Consents, consent_key(user, client))? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }
    fn put_consent(
        &mut self,
        user: &uuid::Uuid,
        client: &str,
        scope: &Scope,
    ) -> Result<(), StoreError> {
        self.put(
            Table::Consents,
            consent_key(user, client),
            store::encode(scope)?,
        )
    }

    fn put_entity(&mut self, e: &Entity) -> Result<(), StoreError> {
        self.put(Table::Entities, e.id.as_bytes().to_vec(), store::encode(e)?)
    }
    fn delete_entity(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        self.del(Table::Entities, id.as_bytes().to_vec())
    }
    fn put_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError> {
        self.put(Table::ApiKeys, k.id.as_bytes().to_vec(), store::encode(k)?)
    }
    fn delete_api_key(&mut self, id: &uuid::Uuid) -> Result<bool, StoreError> {
        self.del(Table::ApiKeys, id.as_bytes().to_vec())
    }
    fn touch_api_key(&mut self, k: &ApiKey) -> Result<(), StoreError> {
        // Outside the unit and not waited for: the group committer takes it
        // with whatever else is going.
        let op = Op::put(
            Table::ApiKeys,
            k.id.as_bytes().as_slice(),
            store::encode(k)?,
        );
        drop(self.pg.commit(vec![op]));
        Ok(())
    }

    fn code(
        &self,
        purpose: CodePurpose,
        user: &uuid::Uuid,
    ) -> Result<Option<CodeRecord>, StoreError> {
        match self.get(Table::AccountCodes, record_key(purpose, user))? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }
    fn code_by_link(&self, hash: &SecretHash) -> Result<Option<CodeRecord>, StoreError> {
        match self.get(Table::AccountCodes, token_index_key(hash))? {
            Some(k) => match self.get(Table::AccountCodes, k)? {
                Some(v) => Ok(Some(store::decode(&v)?)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }
    fn put_code(&mut self, rec: &CodeRecord) -> Result<(), StoreError> {
        let key = record_key(rec.purpose, &rec.user_id);
        if rec.key.is_none() {
            self.put(Table::AccountCodes, token_index_key(&rec.hash), key.clone())?;
        }
        self.put(Table::AccountCodes, key, store::encode(rec)?)
    }
    fn replace_code(
        &mut self,
        expected: &CodeRecord,
        new: Option<&CodeRecord>,
    ) -> Result<bool, StoreError> {
        let key = record_key(expected.purpose, &expected.user_id);
        let new = new.map(store::encode).transpose()?;
        // Deleting a link's record takes its index entry with it; a code
        // with fewer attempts left keeps it.
        let index =
            (new.is_none() && expected.key.is_none()).then(|| token_index_key(&expected.hash));
        self.replace(Table::AccountCodes, key, expected, new, index)
    }

    fn initial_token(&self, hash: &SecretHash) -> Result<Option<InitialToken>, StoreError> {
        match self.get(Table::RegistrationTokens, hash.to_vec())? {
            Some(v) => Ok(Some(store::decode(&v)?)),
            None => Ok(None),
        }
    }
    fn initial_tokens(&self) -> Result<Vec<InitialToken>, StoreError> {
        self.values(Table::RegistrationTokens)
    }
    fn put_initial_token(&mut self, t: &InitialToken) -> Result<(), StoreError> {
        self.put(
            Table::RegistrationTokens,
            t.hash.to_vec(),
            store::encode(t)?,
        )
    }
    fn replace_initial_token(
        &mut self,
        expected: &InitialToken,
        new: Option<&InitialToken>,
    ) -> Result<bool, StoreError> {
        let new = new.map(store::encode).transpose()?;
        self.replace(
            Table::RegistrationTokens,
            expected.hash.to_vec(),
            expected,
            new,
            None,
        )
    }

    fn commit(&mut self) -> Durable {
        let r = self.finish(true);
        Box::pin(std::future::ready(r))
    }
    fn rollback(&mut self) {
        if let Err(e) = self.finish(false) {
            tracing::error!(error = %e, "could not roll back a directory unit");
        }
    }
}
