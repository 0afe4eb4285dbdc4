//! Where `SessionRegistry` keeps its sessions. Whole records by id; the
//! registry decides what is live, so the store only loads, puts and
//! deletes.

use crate::store::{self, trees, Store, StoreError};
use crate::stores::Durable;

use super::Session;

/// Persistence of browser sessions: the only writer is `SessionRegistry`.
pub trait SessionStore: Send + 'static {
    /// Every stored session, expired ones included (the registry filters,
    /// and its sweep deletes them).
    fn load_all(&self) -> Result<Vec<Session>, StoreError>;
    fn put(&self, s: &Session) -> Result<(), StoreError>;
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError>;
    /// Resolves once everything written so far is durable (group commit).
    fn durable(&self) -> Durable;
}

pub struct SledSessionStore {
    tree: sled::Tree,
    store: Store,
}

impl SledSessionStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledSessionStore {
            tree: store.tree(trees::SESSIONS)?,
            store: store.clone(),
        })
    }
}

impl SessionStore for SledSessionStore {
    fn load_all(&self) -> Result<Vec<Session>, StoreError> {
        self.tree
            .iter()
            .values()
            .map(|v| store::decode(&v?))
            .collect()
    }
    fn put(&self, s: &Session) -> Result<(), StoreError> {
        self.tree.insert(s.id.as_bytes(), store::encode(s)?)?;
        Ok(())
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.tree.remove(id.as_bytes())?;
        Ok(())
    }
    fn durable(&self) -> Durable {
        let store = self.store.clone();
        Box::pin(async move { store.durable().await })
    }
}
