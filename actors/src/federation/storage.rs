//! Where `Federation` keeps the links from an upstream subject to a local
//! user. Logins in flight live in the actor's memory (a restart only makes
//! a login start over); a cluster node also shares them through the
//! database, since the callback may reach another node.

use crate::store::{trees, Store, StoreError};
use crate::stores::Durable;

/// One upstream subject and the local user it logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationLink {
    pub provider: String,
    pub subject: String,
    pub user_id: uuid::Uuid,
}

/// Persistence of federation links: the only writer is `Federation`.
pub trait FederationStore: Send + 'static {
    fn load_all(&self) -> Result<Vec<FederationLink>, StoreError>;
    /// Write the link (replacing any older one for the same subject) and
    /// make it durable. If it cannot be made durable, the older link is
    /// what stays: nothing unacknowledged lingers.
    fn put_durable(&self, link: &FederationLink) -> Durable;
    /// Share a login in flight with the other nodes (nothing when alone).
    fn put_pending(
        &self,
        _key: &crate::secret::SecretHash,
        _login: &super::PendingLogin,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// A login in flight another node started.
    fn get_pending(
        &self,
        _key: &crate::secret::SecretHash,
    ) -> Result<Option<super::PendingLogin>, StoreError> {
        Ok(None)
    }
    /// Take the shared login for good; answers whether this process took
    /// it (alone: always).
    fn take_pending(&self, _key: &crate::secret::SecretHash) -> Result<bool, StoreError> {
        Ok(true)
    }
}

pub struct SledFederationStore {
    tree: sled::Tree,
    store: Store,
}

impl SledFederationStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledFederationStore {
            tree: store.tree(trees::FEDERATION_LINKS)?,
            store: store.clone(),
        })
    }
}

/// The stored key: `provider \0 sub` (a provider name has no NUL).
pub(super) fn link_key(provider: &str, subject: &str) -> String {
    format!("{provider}\0{subject}")
}

/// A link as every backend stores it: its key and the user's 16 bytes.
pub(crate) fn encode_link(link: &FederationLink) -> (Vec<u8>, Vec<u8>) {
    (
        link_key(&link.provider, &link.subject).into_bytes(),
        link.user_id.as_bytes().to_vec(),
    )
}

/// The link a stored key and value hold.
pub(crate) fn decode_link(k: &[u8], v: &[u8]) -> Result<FederationLink, StoreError> {
    let key = std::str::from_utf8(k)
        .map_err(|_| StoreError::Decode("malformed federation link key".into()))?;
    let (provider, subject) = key
        .split_once('\0')
        .ok_or_else(|| StoreError::Decode("malformed federation link key".into()))?;
    let user_id = uuid::Uuid::from_slice(v)
        .map_err(|_| StoreError::Decode("malformed federation link".into()))?;
    Ok(FederationLink {
        provider: provider.to_string(),
        subject: subject.to_string(),
        user_id,
    })
}

impl FederationStore for SledFederationStore {
    fn load_all(&self) -> Result<Vec<FederationLink>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            out.push(decode_link(&k, &v)?);
        }
        Ok(out)
    }

    fn put_durable(&self, link: &FederationLink) -> Durable {
        let (key, value) = encode_link(link);
        let write = self.tree.insert(key.as_slice(), value);
        let store = self.store.clone();
        let tree = self.tree.clone();
        Box::pin(async move {
            let prev = write?;
            if let Err(e) = store.durable().await {
                // Nothing unacknowledged may stay in the tree.
                let undo = match prev {
                    Some(p) => tree.insert(key.as_slice(), p).map(|_| ()),
                    None => tree.remove(key.as_slice()).map(|_| ()),
                };
                if let Err(u) = undo {
                    tracing::error!(error = %u, "could not take back a federation link");
                }
                return Err(e);
            }
            Ok(())
        })
    }
}
