//! Where `SessionRegistry` keeps its sessions. Whole records by id; the
//! registry decides what is live, so the store only loads, puts and
//! deletes.

use crate::store::records::SledRecords;
use crate::store::{trees, Store, StoreError};
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

pub struct SledSessionStore(SledRecords);

impl SledSessionStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        SledRecords::new(store, trees::SESSIONS).map(SledSessionStore)
    }
}

impl SessionStore for SledSessionStore {
    fn load_all(&self) -> Result<Vec<Session>, StoreError> {
        self.0.load_all()
    }
    fn put(&self, s: &Session) -> Result<(), StoreError> {
        self.0.put(&s.id, s)
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.0.delete(id)
    }
    fn durable(&self) -> Durable {
        self.0.durable()
    }
}
