//! Every owner's storage, gathered into the one value the engine starts
//! with. Choosing a backend happens here and nowhere else: an owner only
//! ever sees its own trait object, and the server only sees the health
//! trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::audit::{AuditStore, SledAuditStore};
use crate::directory::{DirectoryStore, SledDirectoryStore};
use crate::federation::{FederationStore, SledFederationStore};
use crate::keys::{KeyStore, SledKeyStore};
use crate::logout::{LogoutStore, SledLogoutStore};
use crate::mailer::{MailStore, SledMailStore};
use crate::revocation::{RevocationStore, SledRevocationStore};
use crate::sessions::{SessionStore, SledSessionStore};
use crate::store::{Store, StoreError};
use crate::tokens::{SledTokenStore, TokenStore};

/// Resolves once everything written so far is durable. A backend may share
/// one flush (or one transaction commit) among every writer waiting at the
/// same moment.
pub type Durable = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// What the server needs to know about the backend as a whole: whether
/// writes can still be made durable, and how big it is. Read by `/health`
/// and the metrics.
pub trait StoreHealth: Send + Sync + 'static {
    /// `false` once a write failed for good (a full disk under sled); writes
    /// answer `503` until the process is restarted.
    fn writable(&self) -> bool;
    /// `false` while the backend refuses writes for a transient reason (the
    /// free-space reserve is short); writes come back by themselves.
    fn space_ok(&self) -> bool;
    /// Bytes the backend occupies.
    fn size_on_disk(&self) -> u64;
    /// Resolves once everything written so far is durable. Also what the
    /// account flows wait on to take as long as a real write when they
    /// imitate one (so timing says nothing about whether an account exists).
    fn durable(&self) -> Durable;
    /// Make everything written so far durable, blocking; at shutdown.
    fn flush_blocking(&self) -> Result<(), StoreError>;
    /// `true` while the database cannot be reached (PostgreSQL): writes
    /// answer `503` and come back by themselves once it answers again.
    fn unavailable(&self) -> bool {
        false
    }
}

impl StoreHealth for Store {
    fn writable(&self) -> bool {
        Store::writable(self)
    }
    fn space_ok(&self) -> bool {
        Store::space_ok(self)
    }
    fn size_on_disk(&self) -> u64 {
        Store::size_on_disk(self)
    }
    fn durable(&self) -> Durable {
        self.durable_boxed()
    }
    fn flush_blocking(&self) -> Result<(), StoreError> {
        Store::flush_blocking(self)
    }
}

/// One storage value per owner, and the backend's health. Each owner takes
/// its own out when the engine starts it.
pub struct Stores {
    pub keys: Box<dyn KeyStore>,
    pub tokens: Box<dyn TokenStore>,
    pub revocations: Box<dyn RevocationStore>,
    pub directory: Box<dyn DirectoryStore>,
    pub sessions: Box<dyn SessionStore>,
    pub mail: Box<dyn MailStore>,
    pub logout: Box<dyn LogoutStore>,
    pub federation: Box<dyn FederationStore>,
    pub audit: Box<dyn AuditStore>,
    pub health: Arc<dyn StoreHealth>,
}

impl Stores {
    /// Every owner over the one embedded sled database.
    pub fn sled(store: &Store) -> Result<Stores, StoreError> {
        Ok(Stores {
            keys: Box::new(SledKeyStore::new(store)?),
            tokens: Box::new(SledTokenStore::new(store)?),
            revocations: Box::new(SledRevocationStore::new(store)?),
            directory: Box::new(SledDirectoryStore::new(store)?),
            sessions: Box::new(SledSessionStore::new(store)?),
            mail: Box::new(SledMailStore::new(store)?),
            logout: Box::new(SledLogoutStore::new(store)?),
            federation: Box::new(SledFederationStore::new(store)?),
            audit: Box::new(SledAuditStore::new(store)?),
            health: Arc::new(store.clone()),
        })
    }

    /// Every owner over one PostgreSQL database.
    pub fn postgres(pg: &crate::pg::Pg) -> Stores {
        pg.stores()
    }
}
