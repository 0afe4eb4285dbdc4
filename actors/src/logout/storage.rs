//! Where `LogoutQueue` keeps its deliveries: whole records by id, dead
//! letters included. Under sled a tree of its own; under PostgreSQL the
//! `logout_deliveries` table (see `pg.rs`).

use crate::store::{decode, encode, trees, Store, StoreError};
use crate::stores::Durable;

pub use crate::mailer::storage::Claim;

use super::Delivery;

/// Persistence of the back-channel logout queue: the only writer is
/// `LogoutQueue` (one per process; the processes of a cluster share the
/// table and claim each row before an attempt).
pub trait LogoutStore: Send + 'static {
    /// Every delivery, queued and dead.
    fn load_all(&self) -> Result<Vec<Delivery>, StoreError>;
    /// Add new deliveries; one whose id is already stored is left as it is
    /// (two processes noticing the same session's end queue it once).
    fn add(&self, ds: &[Delivery]) -> Result<(), StoreError>;
    /// Write a delivery's new state (an attempt failed, it became dead).
    fn put(&self, d: &Delivery) -> Result<(), StoreError>;
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError>;
    /// Resolves once everything written so far is durable.
    fn durable(&self) -> Durable;
    /// Whether other processes share the queue (a cluster): the queue then
    /// looks at the store now and then for what they added or delivered.
    fn shared(&self) -> bool {
        false
    }
    /// Take the delivery for one attempt until `until` (unix seconds), if
    /// no other process has it and no older delivery to the same client
    /// is still waiting. A process alone always wins.
    fn claim(&self, _d: &Delivery, _now: i64, _until: i64) -> Result<Claim, StoreError> {
        Ok(Claim::Won)
    }
}

pub struct SledLogoutStore {
    tree: sled::Tree,
    store: Store,
}

impl SledLogoutStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledLogoutStore {
            tree: store.tree(trees::LOGOUT_DELIVERIES)?,
            store: store.clone(),
        })
    }
}

impl LogoutStore for SledLogoutStore {
    fn load_all(&self) -> Result<Vec<Delivery>, StoreError> {
        self.tree.iter().values().map(|v| decode(&v?)).collect()
    }
    fn add(&self, ds: &[Delivery]) -> Result<(), StoreError> {
        for d in ds {
            let v = encode(d)?;
            // Inserted only where nothing is stored under the id yet.
            let _ = self
                .tree
                .compare_and_swap(d.id.as_bytes(), None::<&[u8]>, Some(v))?;
        }
        Ok(())
    }
    fn put(&self, d: &Delivery) -> Result<(), StoreError> {
        self.tree.insert(d.id.as_bytes(), encode(d)?)?;
        Ok(())
    }
    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        self.tree.remove(id.as_bytes())?;
        Ok(())
    }
    fn durable(&self) -> Durable {
        self.store.durable_boxed()
    }
}
