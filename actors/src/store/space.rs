//! The free-space reserve: checked before anything is written, so a full
//! disk never reaches sled (which does not recover from a failed write in a
//! running process).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The free-space reserve and whether the last check found it missing.
#[derive(Debug)]
pub(super) struct Space {
    pub(super) dir: PathBuf,
    pub(super) reserve: AtomicU64,
    pub(super) low: AtomicBool,
}

impl Space {
    /// `Err` (the reason) while the filesystem under the data directory has
    /// less than the reserve available; records the answer for
    /// [`Store::space_ok`]. When the free space cannot be read, the write
    /// itself decides.
    pub(super) fn check(&self) -> Result<(), String> {
        let reserve = self.reserve.load(Ordering::Relaxed);
        let verdict = match available_bytes(&self.dir) {
            Some(free) if free < reserve => Err(format!(
                "no space left: {free} bytes available for the store, below its reserve of \
                 {reserve} bytes (store.reserve_bytes)"
            )),
            _ => Ok(()),
        };
        let low = verdict.is_err();
        let was = self.low.swap(low, Ordering::Relaxed);
        if low && !was {
            tracing::warn!(
                dir = %self.dir.display(),
                reserve,
                "free space is below the store's reserve; writes answer 503 until space is freed"
            );
        } else if !low && was {
            tracing::info!(dir = %self.dir.display(), "free space is back; writes resume");
        }
        verdict
    }
}

/// Bytes an unprivileged writer can still use on the filesystem of `dir`.
fn available_bytes(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}
