//! Where `Mailer` keeps its queue: whole mail records by id, dead letters
//! included.

use crate::store::records::SledRecords;
use crate::store::{trees, Store, StoreError};
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

pub struct SledMailStore(SledRecords);

impl SledMailStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        SledRecords::new(store, trees::MAIL).map(SledMailStore)
    }
}

impl MailStore for SledMailStore {
    fn load_all(&self) -> Result<Vec<QueuedMail>, StoreError> {
        self.0.load_all()
    }
    fn put(&self, m: &QueuedMail) -> Result<(), StoreError> {
        self.0.put(&m.id, m)
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.0.delete(id)
    }
    fn durable(&self) -> Durable {
        self.0.durable()
    }
}
