//! Changes other nodes made, from the cluster's feed: each one put into
//! (or taken out of) this node's records and the token index exactly as a
//! start-up load would have.

use actix::prelude::*;

use super::{AuthCode, EntityToken, RefreshMeta, StoredToken, Table, TokenIssuer};
use crate::cluster::Apply;
use crate::pg::feed::Change;
use crate::pg::tables::Table as SqlTable;
use crate::store::{self, StoreError};

fn key_of(id: &[u8]) -> Option<u128> {
    Some(u128::from_be_bytes(id.try_into().ok()?))
}

impl TokenIssuer {
    fn apply_change(&mut self, c: &Change) -> Result<(), StoreError> {
        let Some(key) = key_of(&c.id) else {
            return Err(StoreError::Decode("token key is not 16 bytes".into()));
        };
        let now = self.clock.now();
        match (c.table, &c.payload) {
            (SqlTable::AccessTokens, Some(v)) => {
                let t: StoredToken = store::decode(v)?;
                if t.exp > now {
                    self.index_stored(key, t);
                }
            }
            (SqlTable::AccessTokens, None) => self.index.remove(key),
            (SqlTable::AuthCodes, Some(v)) => {
                let code: AuthCode = store::decode(v)?;
                self.codes.insert(key, code);
            }
            (SqlTable::AuthCodes, None) => {
                self.codes.remove(&key);
            }
            (SqlTable::RefreshTokens, Some(v)) => {
                let m: RefreshMeta = store::decode(v)?;
                self.put_refresh(key, m, now);
            }
            (SqlTable::RefreshTokens, None) => {
                if let Some(m) = self.refresh.remove(&key) {
                    self.index.remove(key);
                    self.forget_refresh(key, &m);
                }
            }
            (SqlTable::EntityTokens, Some(v)) => {
                let t: EntityToken = store::decode(v)?;
                self.put_entity_token(key, t, now);
            }
            (SqlTable::EntityTokens, None) => self.drop_entity_token(key),
            _ => {}
        }
        Ok(())
    }

    /// A refresh record as another node (or the store) has it now.
    pub(super) fn put_refresh(&mut self, key: u128, m: RefreshMeta, now: i64) {
        if m.exp > now && !m.used {
            let rec = self.refresh_record(&m);
            self.index.insert(key, rec);
            self.note_refresh(key, &m);
        } else {
            // Used (rotated) or expired: kept for reuse detection only,
            // inactive from now on, as the rotating node does it.
            self.index.remove(key);
        }
        self.refresh.insert(key, m);
    }

    /// A record that is not in memory, read from a store shared with other
    /// nodes: the feed may not have brought it yet.
    pub(super) fn fetch_code(&mut self, key: u128) -> Result<(), StoreError> {
        if self.codes.contains_key(&key) || !self.store.shared() {
            return Ok(());
        }
        if let Some(v) = self.store.fetch(Table::Code, key)? {
            let code: AuthCode = store::decode(&v)?;
            self.codes.insert(key, code);
        }
        Ok(())
    }

    /// As [`TokenIssuer::fetch_code`], for a refresh token.
    pub(super) fn fetch_refresh(&mut self, key: u128) -> Result<(), StoreError> {
        if self.refresh.contains_key(&key) || !self.store.shared() {
            return Ok(());
        }
        if let Some(v) = self.store.fetch(Table::Refresh, key)? {
            let m: RefreshMeta = store::decode(&v)?;
            let now = self.clock.now();
            self.put_refresh(key, m, now);
        }
        Ok(())
    }
}

impl Handler<Apply> for TokenIssuer {
    type Result = ();
    fn handle(&mut self, msg: Apply, _: &mut Self::Context) {
        for c in msg.0.iter() {
            if let Err(e) = self.apply_change(c) {
                tracing::error!(error = %e, table = c.table.name(), "a token change from the feed could not be applied");
            }
        }
        metrics::gauge!("tessera_tokens_live").set(self.index.len() as f64);
    }
}

/// Read the record of a token another node issued and this one has not
/// applied yet, if the store is shared (a revocation must find it).
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct FetchToken(pub u128);

impl Handler<FetchToken> for TokenIssuer {
    type Result = Result<(), StoreError>;
    fn handle(&mut self, msg: FetchToken, _: &mut Self::Context) -> Self::Result {
        if self.index.get(msg.0).is_some() || !self.store.shared() {
            return Ok(());
        }
        for (t, table) in [
            (Table::Access, SqlTable::AccessTokens),
            (Table::Refresh, SqlTable::RefreshTokens),
            (Table::Entity, SqlTable::EntityTokens),
        ] {
            if let Some(v) = self.store.fetch(t, msg.0)? {
                return self.apply_change(&Change {
                    table,
                    id: msg.0.to_be_bytes().to_vec(),
                    payload: Some(v),
                });
            }
        }
        Ok(())
    }
}
