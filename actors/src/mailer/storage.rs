//! Where `Mailer` keeps its queue: whole mail records by id, dead letters
//! included.

use crate::store::{self, trees, Store, StoreError};
use crate::stores::Durable;

use super::QueuedMail;

/// Persistence of the outbound queue: the only writer is `Mailer`.
pub trait MailStore: Send + 'static {
    /// Every mail, queued and dead, oldest first (ids are time-ordered).
    fn load_all(&self) -> Result<Vec<QueuedMail>, StoreError>;
    fn put(&self, m: &QueuedMail) -> Result<(), StoreError>;
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError>;
    /// Resolves once everything written so far is durable (group commit).
    fn durable(&self) -> Durable;
}

pub struct SledMailStore {
    tree: sled::Tree,
    store: Store,
}

impl SledMailStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledMailStore {
            tree: store.tree(trees::MAIL)?,
            store: store.clone(),
        })
    }
}

impl MailStore for SledMailStore {
    fn load_all(&self) -> Result<Vec<QueuedMail>, StoreError> {
        self.tree
            .iter()
            .values()
            .map(|v| store::decode(&v?))
            .collect()
    }
    fn put(&self, m: &QueuedMail) -> Result<(), StoreError> {
        self.tree.insert(m.id.as_bytes(), store::encode(m)?)?;
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
