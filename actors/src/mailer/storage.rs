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
    /// Take the mail for one delivery attempt until `until` (unix
    /// seconds), so that of several processes sharing the queue exactly
    /// one sends it. A process alone always wins.
    fn claim(&self, _id: &uuid::Uuid, _now: i64, _until: i64) -> Result<Claim, StoreError> {
        Ok(Claim::Won)
    }
}

/// Who may attempt a mail now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This process, until the lease it asked for.
    Won,
    /// Another process, until then (unix seconds).
    Leased(i64),
    /// No one: the mail is gone (another process delivered it).
    Gone,
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
