//! The embedded store: one sled database, one named tree per owner, and the
//! group-committed durability every acknowledged write waits for.
//!
//! Each tree has exactly one writer (the actor named beside it). Values are
//! serde-encoded with a leading version byte so a record format can evolve.

mod codec;
mod faults;
mod flusher;
mod open;
pub mod records;
mod space;
#[cfg(test)]
mod tests;
pub mod trees;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

pub use codec::{decode, encode};
pub use faults::Faults;
use flusher::{mark_failed, FlusherHandle, WRITE_FAILED};
use open::sync_file;
use space::Space;

/// Default free-space reserve: more than sled writes in one buffer, so a
/// flush that passed the check does not run the disk dry itself.
pub const DEFAULT_RESERVE_BYTES: u64 = 16 * 1024 * 1024;

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Bytes that must stay available on the data directory's filesystem.
    /// Below it, flushes are refused with a transient error (writes answer
    /// `503`) and nothing is written, so a full disk never reaches sled and
    /// writes come back by themselves once space is freed.
    pub reserve_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            reserve_bytes: DEFAULT_RESERVE_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {path} is corrupt or truncated: {reason}; the files were left untouched"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the store at {path} is in use by another process (is a tessera server running on it?)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store write failed: {0}")]
    Write(String),
    #[error("stored value could not be decoded: {0}")]
    Decode(String),
    #[error("the store's flusher has stopped")]
    FlusherGone,
    /// The database cannot be reached, or did not answer in time: the
    /// write may be retried once it is back.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database's schema does not match this binary.
    #[error("{0}")]
    Schema(String),
}

impl StoreError {
    /// The same error for another waiter of a shared commit.
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
            other => StoreError::Write(other.to_string()),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Write(e.to_string())
    }
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: Arc<PathBuf>,
    flusher: Arc<FlusherHandle>,
    faults: Arc<Faults>,
    /// Set when a real write failed (a full disk). sled does not come back
    /// from a failed write in a running process, so every later flush is
    /// refused too, and the server needs a restart once space is back.
    write_failed: Arc<AtomicBool>,
    /// The free-space reserve checked before anything is written.
    space: Arc<Space>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// Whether the store can still make writes durable: `false` after a
    /// real write failure (a full disk), until the process is restarted.
    pub fn writable(&self) -> bool {
        !self.write_failed.load(Ordering::Relaxed)
    }

    /// Whether the last check found the free-space reserve available. While
    /// it is not, writes are refused (transiently) and nothing is written;
    /// the flusher checks again at least every half second.
    pub fn space_ok(&self) -> bool {
        !self.space.low.load(Ordering::Relaxed)
    }

    /// The free-space reserve in bytes.
    pub fn reserve_bytes(&self) -> u64 {
        self.space.reserve.load(Ordering::Relaxed)
    }

    /// Change the free-space reserve; the next flush checks against it.
    pub fn set_reserve_bytes(&self, bytes: u64) {
        self.space.reserve.store(bytes, Ordering::Relaxed);
    }

    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Wait until everything written so far is durable. Concurrent callers
    /// share one flush (group commit): the flusher drains every request that
    /// arrived while the previous flush ran and answers them all at once.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.flusher.send(tx)?;
        rx.await.map_err(|_| StoreError::FlusherGone)?
    }

    /// [`Store::durable`] as an owned future, for the storage traits.
    pub fn durable_boxed(&self) -> crate::stores::Durable {
        let store = self.clone();
        Box::pin(async move { store.durable().await })
    }

    /// Blocking flush, for shutdown and the CLI. Refused like a durable
    /// flush after a failed write or while the free-space reserve is short.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        if self.write_failed.load(Ordering::Relaxed) {
            return Err(StoreError::Write(WRITE_FAILED.into()));
        }
        self.space.check().map_err(StoreError::Write)?;
        if let Err(e) = self.db.flush() {
            mark_failed(&self.write_failed, &e.to_string());
            return Err(e.into());
        }
        sync_file(&self.path.join("db"));
        Ok(())
    }
}
