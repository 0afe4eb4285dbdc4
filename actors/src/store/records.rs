//! Whole records kept by id in one tree: the storage of an owner that only
//! loads everything, puts a record and deletes one (sessions, the mail
//! queue). Each owner's sled store wraps one of these.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, Store, StoreError};
use crate::stores::Durable;

pub struct SledRecords {
    tree: sled::Tree,
    store: Store,
}

impl SledRecords {
    pub fn new(store: &Store, tree: &str) -> Result<Self, StoreError> {
        Ok(SledRecords {
            tree: store.tree(tree)?,
            store: store.clone(),
        })
    }
    /// Every record, in key order.
    pub fn load_all<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.tree.iter().values().map(|v| decode(&v?)).collect()
    }
    pub fn put<T: Serialize>(&self, id: &uuid::Uuid, record: &T) -> Result<(), StoreError> {
        self.tree.insert(id.as_bytes(), encode(record)?)?;
        Ok(())
    }
    pub fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.tree.remove(id.as_bytes())?;
        Ok(())
    }
    /// Resolves once everything written so far is durable (group commit).
    pub fn durable(&self) -> Durable {
        self.store.durable_boxed()
    }
}
