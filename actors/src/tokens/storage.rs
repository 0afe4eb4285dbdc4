//! Where `TokenIssuer` keeps its records: one table per kind, whole records
//! by token key. Single-use transitions (a code consumed, a rotating
//! refresh token used) are conditional writes that answer whether they won.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{AuthCode, RefreshMeta};
use crate::store::{self, trees, Store, StoreError};
use crate::stores::Durable;

/// The tables `TokenIssuer` persists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Access,
    Code,
    Refresh,
    Entity,
}

/// Persistence of token records: the only writer is `TokenIssuer`.
pub trait TokenStore: Send + 'static {
    fn load(&self, t: Table) -> Result<Vec<(u128, Vec<u8>)>, StoreError>;
    fn put(&self, t: Table, entries: Vec<(u128, Vec<u8>)>) -> Result<(), StoreError>;
    fn remove(&self, t: Table, keys: &[u128]) -> Result<(), StoreError>;
    /// Store `consumed` only if the stored code is not consumed yet;
    /// answers whether it won.
    fn consume_code(&self, key: u128, consumed: &AuthCode) -> Result<bool, StoreError>;
    /// Store `used` only if the stored refresh token is not used yet;
    /// answers whether it won.
    fn use_refresh(&self, key: u128, used: &RefreshMeta) -> Result<bool, StoreError>;
    /// Resolves once everything written so far is durable (group commit).
    fn durable(&self) -> Durable;
    /// One record read from the store now: what another process sharing
    /// the store wrote and this one has not applied yet. A single process
    /// holds every record in memory already.
    fn fetch(&self, _t: Table, _key: u128) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// Whether other processes share this store, deciding single use in
    /// it: then a code not yet redeemed stays valid across a restart
    /// (the store, not this process's memory, says whether it was).
    fn shared(&self) -> bool {
        false
    }
}

pub struct SledTokenStore {
    access: sled::Tree,
    codes: sled::Tree,
    refresh: sled::Tree,
    entity: sled::Tree,
    store: Store,
}

impl SledTokenStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledTokenStore {
            access: store.tree(trees::TOKENS)?,
            codes: store.tree(trees::CODES)?,
            refresh: store.tree(trees::REFRESH)?,
            entity: store.tree(trees::ENTITY_TOKENS)?,
            store: store.clone(),
        })
    }
    /// Write `new` only while the stored record is still `open`. The actor
    /// is the only writer, so reading then writing cannot race here.
    fn flip<T: DeserializeOwned + Serialize>(
        &self,
        t: Table,
        key: u128,
        open: impl FnOnce(&T) -> bool,
        new: &T,
    ) -> Result<bool, StoreError> {
        let tree = self.tree(t);
        let k = key.to_be_bytes();
        let Some(v) = tree.get(k)? else {
            return Ok(false);
        };
        if !open(&store::decode(&v)?) {
            return Ok(false);
        }
        tree.insert(k, store::encode(new)?)?;
        Ok(true)
    }

    fn tree(&self, t: Table) -> &sled::Tree {
        match t {
            Table::Access => &self.access,
            Table::Code => &self.codes,
            Table::Refresh => &self.refresh,
            Table::Entity => &self.entity,
        }
    }
}

impl TokenStore for SledTokenStore {
    fn load(&self, t: Table) -> Result<Vec<(u128, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree(t).iter() {
            let (k, v) = kv?;
            let key: [u8; 16] = k
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Decode("token key is not 16 bytes".into()))?;
            out.push((u128::from_be_bytes(key), v.to_vec()));
        }
        Ok(out)
    }
    fn put(&self, t: Table, entries: Vec<(u128, Vec<u8>)>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in entries {
            batch.insert(&k.to_be_bytes(), v);
        }
        Ok(self.tree(t).apply_batch(batch)?)
    }
    fn remove(&self, t: Table, keys: &[u128]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(&k.to_be_bytes());
        }
        Ok(self.tree(t).apply_batch(batch)?)
    }
    fn consume_code(&self, key: u128, consumed: &AuthCode) -> Result<bool, StoreError> {
        self.flip(Table::Code, key, |c: &AuthCode| !c.consumed, consumed)
    }
    fn use_refresh(&self, key: u128, used: &RefreshMeta) -> Result<bool, StoreError> {
        self.flip(Table::Refresh, key, |m: &RefreshMeta| !m.used, used)
    }
    fn durable(&self) -> Durable {
        self.store.durable_boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> AuthCode {
        AuthCode {
            client_id: "c".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            user_id: uuid::Uuid::new_v4(),
            scope: "openid".into(),
            nonce: None,
            pkce: None,
            auth_time: 1,
            sid: None,
            amr: vec!["pwd".into()],
            iat: 1,
            exp: 61,
            family: 5,
            consumed: false,
            dpop_jkt: None,
            resources: Vec::new(),
            claims: Default::default(),
        }
    }

    #[test]
    fn a_code_is_consumed_once() {
        let dir = std::env::temp_dir().join(format!("tessera-tok-test-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir).unwrap();
        let s = SledTokenStore::new(&store).unwrap();
        let c = code();
        s.put(Table::Code, vec![(42, store::encode(&c).unwrap())])
            .unwrap();
        let used = AuthCode {
            consumed: true,
            ..c
        };
        assert!(
            s.consume_code(42, &used).unwrap(),
            "the first exchange wins"
        );
        assert!(!s.consume_code(42, &used).unwrap(), "the second loses");
        assert!(!s.consume_code(7, &used).unwrap(), "an unknown code loses");
    }
}
