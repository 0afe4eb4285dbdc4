//! Where `RevocationList` keeps revoked ids and subject cutoffs, each with
//! the instant after which it can be forgotten.

use crate::store::{self, trees, Store, StoreError};
use crate::stores::Durable;

/// Persistence of the revoked set: the only writer is `RevocationList`.
pub trait RevocationStore: Send + 'static {
    fn load(&self) -> Result<Vec<(u128, i64)>, StoreError>;
    /// Subject cutoffs: (subject, cutoff, until).
    fn load_subjects(&self) -> Result<Vec<(String, i64, i64)>, StoreError>;
    fn put_subject(&self, sub: &str, cutoff: i64, until: i64) -> Result<(), StoreError>;
    fn remove_subject(&self, sub: &str) -> Result<(), StoreError>;
    fn put(&self, entries: &[(u128, i64)]) -> Result<(), StoreError>;
    fn remove(&self, ids: &[u128]) -> Result<(), StoreError>;
    /// Resolves once everything written so far is durable (group commit).
    fn durable(&self) -> Durable;
}

pub struct SledRevocationStore {
    tree: sled::Tree,
    subjects: sled::Tree,
    store: Store,
}

impl SledRevocationStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledRevocationStore {
            tree: store.tree(trees::REVOKED)?,
            subjects: store.tree(trees::REVOKED_SUBJECTS)?,
            store: store.clone(),
        })
    }
}

impl RevocationStore for SledRevocationStore {
    fn load_subjects(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.subjects.iter() {
            let (k, v) = kv?;
            let sub = String::from_utf8(k.to_vec())
                .map_err(|_| StoreError::Decode("subject is not UTF-8".into()))?;
            let (cutoff, until): (i64, i64) = store::decode(&v)?;
            out.push((sub, cutoff, until));
        }
        Ok(out)
    }
    fn put_subject(&self, sub: &str, cutoff: i64, until: i64) -> Result<(), StoreError> {
        self.subjects
            .insert(sub.as_bytes(), store::encode(&(cutoff, until))?)?;
        Ok(())
    }
    fn remove_subject(&self, sub: &str) -> Result<(), StoreError> {
        self.subjects.remove(sub.as_bytes())?;
        Ok(())
    }
    fn load(&self) -> Result<Vec<(u128, i64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let key: [u8; 16] = k
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Decode("revocation key is not 16 bytes".into()))?;
            out.push((u128::from_be_bytes(key), store::decode::<i64>(&v)?));
        }
        Ok(out)
    }
    fn put(&self, entries: &[(u128, i64)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, until) in entries {
            batch.insert(&id.to_be_bytes(), store::encode(until)?);
        }
        Ok(self.tree.apply_batch(batch)?)
    }
    fn remove(&self, ids: &[u128]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for id in ids {
            batch.remove(&id.to_be_bytes());
        }
        Ok(self.tree.apply_batch(batch)?)
    }
    fn durable(&self) -> Durable {
        self.store.durable_boxed()
    }
}
