//! Where `KeyRotator` keeps the key set: whole key records by `kid`. A
//! rotation is one commit of upserts and removals, durable before it is
//! answered, so a crash leaves the old set or the new one.

use crate::store::{self, trees, Store, StoreError};

use super::{RotateError, StoredKey};

/// Persistence of the key set: the only writer is `KeyRotator`.
pub trait KeyStore: Send + 'static {
    fn load(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Apply upserts and removals atomically and durably.
    fn commit(&self, upsert: &[StoredKey], remove: &[String]) -> Result<(), StoreError>;
    /// Change the key set as `plan` says, given the set as stored now, with
    /// no other process changing it meanwhile (several nodes share one
    /// store: one of them rotates, the others see it done). Answers the set
    /// after the change.
    fn change(&self, plan: &mut Plan<'_>) -> Result<Vec<StoredKey>, RotateError> {
        let keys = self.load()?;
        let (upsert, remove) = plan(&keys)?;
        if !upsert.is_empty() || !remove.is_empty() {
            self.commit(&upsert, &remove)?;
        }
        Ok(after(keys, upsert, &remove))
    }
}

/// What to upsert and remove, given the stored key set.
pub type Plan<'a> =
    dyn FnMut(&[StoredKey]) -> Result<(Vec<StoredKey>, Vec<String>), RotateError> + 'a;

/// The key set once `upsert` and `remove` are applied to `keys`.
pub fn after(
    mut keys: Vec<StoredKey>,
    upsert: Vec<StoredKey>,
    remove: &[String],
) -> Vec<StoredKey> {
    keys.retain(|k| !remove.contains(&k.kid) && !upsert.iter().any(|u| u.kid == k.kid));
    keys.extend(upsert);
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    keys
}

pub struct SledKeyStore {
    tree: sled::Tree,
    store: Store,
}

impl SledKeyStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledKeyStore {
            tree: store.tree(trees::KEYS)?,
            store: store.clone(),
        })
    }
}

impl KeyStore for SledKeyStore {
    fn load(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.tree
            .iter()
            .values()
            .map(|v| store::decode::<StoredKey>(&v?))
            .collect()
    }
    fn commit(&self, upsert: &[StoredKey], remove: &[String]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in upsert {
            batch.insert(k.kid.as_bytes(), store::encode(k)?);
        }
        for kid in remove {
            batch.remove(kid.as_bytes());
        }
        // What the batch replaces, to put back if it cannot be made durable
        // (a short free-space reserve): a reload must not publish a key the
        // disk does not hold.
        let mut undo = sled::Batch::default();
        for kid in upsert.iter().map(|k| &k.kid).chain(remove) {
            match self.tree.get(kid.as_bytes())? {
                Some(prev) => undo.insert(kid.as_bytes(), prev),
                None => undo.remove(kid.as_bytes()),
            }
        }
        self.tree.apply_batch(batch)?;
        let flushed = self.store.flush_blocking();
        if flushed.is_err() {
            let _ = self.tree.apply_batch(undo);
        }
        flushed
    }
}
