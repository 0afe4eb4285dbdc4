//! Where `AuditLog` keeps its records: under sled the `audit_log` tree,
//! under PostgreSQL the `audit_log` table (see `pg.rs`); the same keys and
//! the same encoded records in both, so `tessera store copy` moves them.

use crate::store::{trees, Store, StoreError};
use crate::stores::Durable;

use super::AuditKey;

/// A stored record: (key, encoded record).
pub type AuditRow = (AuditKey, Vec<u8>);

/// Persistence of the audit log. Each process has one writer (its
/// `AuditLog`); the nodes of a cluster write their own rows into one
/// table, with keys that never collide.
pub trait AuditStore: Send + 'static {
    /// Write one record; the future resolves once it is durable.
    fn write(&self, key: AuditKey, record: Vec<u8>) -> Durable;
    /// Up to `limit` records with keys below `before` (all, without one),
    /// newest first.
    fn page(&self, before: Option<AuditKey>, limit: usize) -> Result<Vec<AuditRow>, StoreError>;
    /// Delete the records with keys below `before`, and all but the newest
    /// `keep`; answers how many went.
    fn sweep(&self, before: Option<AuditKey>, keep: Option<u64>) -> Result<u64, StoreError>;
}

pub struct SledAuditStore {
    tree: sled::Tree,
    store: Store,
}

impl SledAuditStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledAuditStore {
            tree: store.tree(trees::AUDIT_LOG)?,
            store: store.clone(),
        })
    }
}

fn key16(k: &[u8]) -> Result<AuditKey, StoreError> {
    k.try_into()
        .map_err(|_| StoreError::Decode("an audit key is not 16 bytes".into()))
}

impl AuditStore for SledAuditStore {
    fn write(&self, key: AuditKey, record: Vec<u8>) -> Durable {
        if let Err(e) = self.tree.insert(key, record) {
            let e = StoreError::from(e);
            return Box::pin(std::future::ready(Err(e)));
        }
        self.store.durable_boxed()
    }

    fn page(&self, before: Option<AuditKey>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let iter = match before {
            Some(b) => self.tree.range(..b.to_vec()),
            None => self.tree.iter(),
        };
        let mut out = Vec::new();
        for kv in iter.rev().take(limit) {
            let (k, v) = kv?;
            out.push((key16(&k)?, v.to_vec()));
        }
        Ok(out)
    }

    fn sweep(&self, before: Option<AuditKey>, keep: Option<u64>) -> Result<u64, StoreError> {
        let mut doomed: Vec<sled::IVec> = Vec::new();
        if let Some(b) = before {
            for k in self.tree.range(..b.to_vec()).keys() {
                doomed.push(k?);
            }
        }
        if let Some(keep) = keep {
            let skip = usize::try_from(keep).unwrap_or(usize::MAX);
            let first_old = doomed.last().cloned();
            for k in self.tree.iter().keys().rev().skip(skip) {
                let k = k?;
                // Those below the age bound are already counted.
                if first_old.as_ref().is_some_and(|last| k <= *last) {
                    break;
                }
                doomed.push(k);
            }
        }
        let mut batch = sled::Batch::default();
        for k in &doomed {
            batch.remove(k.clone());
        }
        self.tree.apply_batch(batch)?;
        Ok(doomed.len() as u64)
    }
}
