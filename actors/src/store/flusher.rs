//! The flusher thread: group commit for every durable write, the periodic
//! flush of writes nobody waits for, and the generation counter that lets
//! a later open notice lost acknowledged writes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::open::{sync_file, write_marker, MARKER};
use super::space::Space;
use super::{Faults, StoreError};

/// Why every flush fails after a real write failure.
pub(super) const WRITE_FAILED: &str =
    "an earlier write failed (disk full?); restart the server once space is free";
/// How often the flusher writes out what no durable write has flushed yet
/// (sled's own background flusher is off: it would write past the reserve).
pub(super) const PERIODIC_FLUSH: Duration = Duration::from_millis(500);

/// The group-commit thread. When the last `Store` clone goes, the thread is
/// told to finish and joined, so the database is closed (and its lock
/// released) by the time the drop returns.
pub(super) struct FlusherHandle {
    tx: std::sync::Mutex<Option<mpsc::Sender<FlushWaiter>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl FlusherHandle {
    pub(super) fn send(&self, w: FlushWaiter) -> Result<(), StoreError> {
        let guard = self.tx.lock().map_err(|_| StoreError::FlusherGone)?;
        guard
            .as_ref()
            .ok_or(StoreError::FlusherGone)?
            .send(w)
            .map_err(|_| StoreError::FlusherGone)
    }
}

impl Drop for FlusherHandle {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut t) = self.thread.lock() {
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

pub(super) type FlushWaiter = oneshot::Sender<Result<(), StoreError>>;

/// Record a real write failure (sled is done for in this process); logs
/// the first one.
pub(super) fn mark_failed(write_failed: &AtomicBool, error: &str) {
    if !write_failed.swap(true, Ordering::Relaxed) {
        tracing::error!(
            error = %error,
            "the store could not write (disk full?); writes answer 503 and \
             reads keep serving until the server is restarted with space free"
        );
    }
}

/// The group-commit loop. Each flush first bumps the generation counter in
/// the meta tree, and once the flush is durable the marker records it: a
/// database that later comes back with a smaller counter lost acknowledged
/// writes (sled stopped its recovery at damage) and is refused.
///
/// Before anything is written the free-space reserve is checked; while it
/// is short, flushes fail transiently and nothing reaches the disk, so the
/// first flush after space returns writes everything pending. With no
/// request for [`PERIODIC_FLUSH`], the loop flushes on its own (no
/// generation bump: nothing waits on it), as sled's background flusher did.
pub(super) fn spawn_flusher(
    db: sled::Db,
    meta: sled::Tree,
    mut generation: u64,
    db_file: PathBuf,
    faults: Arc<Faults>,
    write_failed: Arc<AtomicBool>,
    space: Arc<Space>,
) -> Result<FlusherHandle, StoreError> {
    let (tx, rx) = mpsc::channel::<FlushWaiter>();
    let marker = db_file.with_file_name(MARKER);
    let thread = std::thread::Builder::new()
        .name("tessera-flusher".into())
        .spawn(move || {
            // Ends when every Store clone (and so every sender) is dropped.
            loop {
                let first = match rx.recv_timeout(PERIODIC_FLUSH) {
                    Ok(w) => w,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        periodic_flush(&db, &faults, &write_failed, &space);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                let mut waiters = vec![first];
                waiters.extend(rx.try_iter());
                let started = Instant::now();
                let injected = faults.fail_flush.load(Ordering::Relaxed);
                let mut transient = injected;
                let result = if injected {
                    Err("injected fault: no space left on device".to_string())
                } else if write_failed.load(Ordering::Relaxed) {
                    // What sled failed to write may be lost: no later flush
                    // may vouch for it.
                    Err(WRITE_FAILED.to_string())
                } else if let Err(why) = space.check() {
                    // Nothing written: this flush fails, a later one can
                    // still succeed.
                    transient = true;
                    Err(why)
                } else {
                    let next = generation + 1;
                    meta.insert("gen", &next.to_be_bytes())
                        .and_then(|_| db.flush())
                        .map(|_| {
                            sync_file(&db_file);
                            generation = next;
                            write_marker(&marker, &db_file, generation);
                        })
                        .map_err(|e| e.to_string())
                };
                metrics::histogram!("tessera_store_flush_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("tessera_store_flush_batch_size").record(waiters.len() as f64);
                if let Err(e) = &result {
                    metrics::counter!("tessera_store_flush_failures_total").increment(1);
                    if !transient {
                        mark_failed(&write_failed, e);
                    }
                }
                for w in waiters {
                    let _ = w.send(result.clone().map_err(StoreError::Write));
                }
            }
            // Clean close: the file's final length is the new floor.
            let next = generation + 1;
            if !write_failed.load(Ordering::Relaxed)
                && space.check().is_ok()
                && meta.insert("gen", &next.to_be_bytes()).is_ok()
                && db.flush().is_ok()
            {
                sync_file(&db_file);
                write_marker(&marker, &db_file, next);
            }
        })
        .map_err(|e| StoreError::Write(format!("could not start the store flusher thread: {e}")))?;
    Ok(FlusherHandle {
        tx: std::sync::Mutex::new(Some(tx)),
        thread: std::sync::Mutex::new(Some(thread)),
    })
}

/// The flush of a quiet moment: writes out what no durable flush has yet
/// (writes that do not wait for the disk). Skipped while a fault is
/// injected, after a failed write, or while the reserve is short.
fn periodic_flush(db: &sled::Db, faults: &Faults, write_failed: &AtomicBool, space: &Space) {
    if faults.fail_flush.load(Ordering::Relaxed) || write_failed.load(Ordering::Relaxed) {
        return;
    }
    if space.check().is_err() {
        return;
    }
    if let Err(e) = db.flush() {
        metrics::counter!("tessera_store_flush_failures_total").increment(1);
        mark_failed(write_failed, &e.to_string());
    }
}
