//! The embedded store: one sled database, one named tree per owner, and the
//! group-committed durability every acknowledged write waits for.
//!
//! Each tree has exactly one writer (the actor named beside it). Values are
//! serde-encoded with a leading version byte so a record format can evolve.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

/// Tree names and their single owner.
pub mod trees {
    /// Owned by the store itself: format marker.
    pub const META: &str = "meta";
    /// Owned by `KeyRotator`.
    pub const KEYS: &str = "keys";
    /// Owned by `Directory`.
    pub const CLIENTS: &str = "clients";
    /// Owned by `Directory`.
    pub const USERS: &str = "users";
    /// Owned by `Directory`.
    pub const CONSENTS: &str = "consents";
    /// Owned by `SessionRegistry`.
    pub const SESSIONS: &str = "sessions";
    /// Owned by `TokenIssuer`.
    pub const TOKENS: &str = "tokens";
    /// Owned by `RevocationList`.
    pub const REVOKED: &str = "revoked";
    /// Owned by `RevocationList`.
    pub const REVOKED_SUBJECTS: &str = "revoked_subjects";
    /// Owned by `TokenIssuer`.
    pub const CODES: &str = "codes";
    /// Owned by `TokenIssuer`.
    pub const REFRESH: &str = "refresh";
    /// Owned by `Directory`: entities (tenants) and their members.
    pub const ENTITIES: &str = "entities";
    /// Owned by `Directory`: entities' API keys, by id.
    pub const API_KEYS: &str = "api_keys";
    /// Owned by `TokenIssuer`: entity authentication tokens, by token key.
    pub const ENTITY_TOKENS: &str = "entity_tokens";
    /// Owned by `Mailer`: the outbound queue and its dead letters.
    pub const MAIL: &str = "mail";
    /// Owned by `Directory`: mailed one-time codes and links.
    pub const ACCOUNT_CODES: &str = "account_codes";
    /// Owned by `Federation`: upstream subject → local user.
    pub const FEDERATION_LINKS: &str = "federation_links";
}

/// On-disk format of the whole store. Bumped on incompatible change.
const FORMAT: &[u8] = b"tessera-store-v1";
/// Written beside sled's files once the store is initialised. If it exists
/// but the database has lost its metadata, the database was damaged.
const MARKER: &str = "TESSERA_STORE";
/// Why every flush fails after a real write failure.
const WRITE_FAILED: &str =
    "an earlier write failed (disk full?); restart the server once space is free";
/// Version byte in front of every encoded value.
const CODEC_VERSION: u8 = 1;
/// Default free-space reserve: more than sled writes in one buffer, so a
/// flush that passed the check does not run the disk dry itself.
pub const DEFAULT_RESERVE_BYTES: u64 = 16 * 1024 * 1024;
/// How often the flusher writes out what no durable write has flushed yet
/// (sled's own background flusher is off: it would write past the reserve).
const PERIODIC_FLUSH: Duration = Duration::from_millis(500);

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
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Write(e.to_string())
    }
}

/// Fault injection for durability tests: when set, every flush fails as a
/// full disk would.
#[derive(Debug, Default)]
pub struct Faults {
    pub fail_flush: AtomicBool,
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

/// The free-space reserve and whether the last check found it missing.
#[derive(Debug)]
struct Space {
    dir: PathBuf,
    reserve: AtomicU64,
    low: AtomicBool,
}

impl Space {
    /// `Err` (the reason) while the filesystem under the data directory has
    /// less than the reserve available; records the answer for
    /// [`Store::space_ok`]. When the free space cannot be read, the write
    /// itself decides.
    fn check(&self) -> Result<(), String> {
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

/// The group-commit thread. When the last `Store` clone goes, the thread is
/// told to finish and joined, so the database is closed (and its lock
/// released) by the time the drop returns.
struct FlusherHandle {
    tx: std::sync::Mutex<Option<mpsc::Sender<FlushWaiter>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl FlusherHandle {
    fn send(&self, w: FlushWaiter) -> Result<(), StoreError> {
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

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (or create) the store under `dir`. A damaged store is a clean,
    /// named error, never a silently fresh one.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(dir, StoreOptions::default())
    }

    /// [`Store::open`] with options (the free-space reserve).
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        let marker = dir.join(MARKER);
        let initialised = marker.exists();
        let db_file = dir.join("db");
        if initialised && !db_file.exists() {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                reason: "the database file is missing".into(),
            });
        }
        let recorded = if initialised {
            let m = read_marker(&marker)?;
            check_not_truncated(dir, &m, &db_file)?;
            Some(m)
        } else {
            None
        };
        if !initialised && db_file.exists() {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("a database file exists but the {MARKER} marker does not"),
            });
        }
        // sled repairs what it takes for a torn tail while it opens, which
        // may rewrite the file. Keep the file as it was until the store has
        // proved healthy, and put it back if it has not.
        let backup = dir.join("db.before-open");
        let have_backup = initialised && std::fs::copy(&db_file, &backup).is_ok();
        let opened = Self::open_checked(dir, &db_file, &marker, recorded, &options);
        match &opened {
            Err(StoreError::Corrupt { .. }) if have_backup => {
                let _ = std::fs::rename(&backup, &db_file);
            }
            _ if have_backup => {
                let _ = std::fs::remove_file(&backup);
            }
            _ => {}
        }
        opened
    }

    fn open_checked(
        dir: &Path,
        db_file: &Path,
        marker: &Path,
        recorded: Option<Marker>,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let initialised = recorded.is_some();
        let db = open_sled(dir).map_err(|e| match e {
            StoreError::Open { source, .. } if initialised => StoreError::Corrupt {
                path: dir.to_path_buf(),
                reason: source.to_string(),
            },
            other => other,
        })?;
        let meta = db
            .open_tree(trees::META)
            .map_err(|e| classify_open_error(dir, e))?;
        let format = meta
            .get("format")
            .map_err(|e| classify_open_error(dir, e))?;
        let generation = read_gen(&meta);
        if let Some(m) = &recorded {
            if generation < m.gen {
                return Err(StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "the database holds {generation} committed flushes but {} were acknowledged (damaged file)",
                        m.gen
                    ),
                });
            }
        }
        match (initialised, format) {
            (true, Some(f)) if f.as_ref() == FORMAT => {}
            (true, Some(f)) => {
                return Err(StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: format!("unknown store format {:?}", String::from_utf8_lossy(&f)),
                })
            }
            (true, None) => {
                return Err(StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: "the database lost its metadata (truncated file?)".into(),
                })
            }
            (false, _) => {
                meta.insert("format", FORMAT)?;
                db.flush()?;
                sync_file(db_file);
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(marker)
                    .map_err(|source| StoreError::Open {
                        path: marker.to_path_buf(),
                        source,
                    })?;
                let _ = f.write_all(FORMAT);
                let _ = f.sync_all();
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        write_marker(marker, db_file, generation);
        let faults = Arc::new(Faults::default());
        let write_failed = Arc::new(AtomicBool::new(false));
        let space = Arc::new(Space {
            dir: dir.to_path_buf(),
            reserve: AtomicU64::new(options.reserve_bytes),
            low: AtomicBool::new(false),
        });
        let flusher = spawn_flusher(
            db.clone(),
            meta,
            generation,
            db_file.to_path_buf(),
            faults.clone(),
            write_failed.clone(),
            space.clone(),
        )?;
        Ok(Store {
            db,
            path: Arc::new(dir.to_path_buf()),
            flusher: Arc::new(flusher),
            faults,
            write_failed,
            space,
        })
    }

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

/// Open sled, waiting out a lock that is about to be released. When a store
/// in this process is dropped (an actor restarting, a test reopening), sled's
/// I/O pool can hold the file lock for a few milliseconds after the drop
/// returns; another process holding it is reported after the wait.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(dir)
            // The flusher thread flushes instead, after checking the reserve.
            .flush_every_ms(None)
            .open()
            .map_err(|e| classify_open_error(dir, e))
        {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// How long [`open_sled`] waits for a lock held by a store being dropped.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn classify_open_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => StoreError::Locked {
            path: dir.to_path_buf(),
        },
        sled::Error::Io(io) if io.to_string().contains("lock") => StoreError::Locked {
            path: dir.to_path_buf(),
        },
        sled::Error::Io(source) => StoreError::Open {
            path: dir.to_path_buf(),
            source,
        },
        other => StoreError::Corrupt {
            path: dir.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// What the marker beside sled's files records: the database file's length
/// and the number of durable flushes when last seen healthy.
#[derive(Debug, Clone, Copy)]
struct Marker {
    len: u64,
    gen: u64,
}

fn read_marker(marker: &Path) -> Result<Marker, StoreError> {
    let text = std::fs::read_to_string(marker).map_err(|source| StoreError::Open {
        path: marker.to_path_buf(),
        source,
    })?;
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
    };
    Ok(Marker {
        len: field("len=").unwrap_or(1),
        gen: field("gen=").unwrap_or(0),
    })
}

/// sled's file only grows, so a shorter file was truncated: refuse it
/// before sled opens (and would rewrite) it.
fn check_not_truncated(dir: &Path, m: &Marker, db_file: &Path) -> Result<(), StoreError> {
    let actual = std::fs::metadata(db_file).map(|m| m.len()).unwrap_or(0);
    if actual < m.len {
        return Err(StoreError::Corrupt {
            path: dir.to_path_buf(),
            reason: format!(
                "{} is {actual} bytes but was at least {} bytes (truncated)",
                db_file.display(),
                m.len
            ),
        });
    }
    Ok(())
}

fn write_marker(marker: &Path, db_file: &Path, gen: u64) {
    let len = std::fs::metadata(db_file).map(|m| m.len()).unwrap_or(0);
    let tmp = marker.with_extension("tmp");
    let body = format!(
        "{}\nlen={len}\ngen={gen}\n",
        String::from_utf8_lossy(FORMAT)
    );
    if std::fs::write(&tmp, body).is_ok() {
        let _ = std::fs::rename(&tmp, marker);
    }
}

/// The durable-flush counter kept in the meta tree.
fn read_gen(meta: &sled::Tree) -> u64 {
    meta.get("gen")
        .ok()
        .flatten()
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

/// sled's own flush uses `sync_file_range`, which does not cover file
/// metadata after a power cut; an `fdatasync` on the database file does.
fn sync_file(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.sync_data();
    }
}

type FlushWaiter = oneshot::Sender<Result<(), StoreError>>;

/// Record a real write failure (sled is done for in this process); logs
/// the first one.
fn mark_failed(write_failed: &AtomicBool, error: &str) {
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
fn spawn_flusher(
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

/// Encode a value with the codec version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![CODEC_VERSION];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Write(e.to_string()))?;
    Ok(out)
}

/// Decode a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&CODEC_VERSION, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Decode(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Decode(format!("unknown record version {v}"))),
        None => Err(StoreError::Decode("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_keeps_the_store() {
        let dir = tempfile_dir();
        {
            let s = Store::open(&dir).unwrap();
            s.tree("t").unwrap().insert("k", "v").unwrap();
            s.flush_blocking().unwrap();
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(
            s.tree("t").unwrap().get("k").unwrap().unwrap().as_ref(),
            b"v"
        );
    }

    #[test]
    fn a_truncated_database_is_a_named_error_and_left_untouched() {
        let dir = tempfile_dir();
        {
            let s = Store::open(&dir).unwrap();
            s.tree("t").unwrap().insert("k", "v").unwrap();
            s.flush_blocking().unwrap();
        }
        let db = dir.join("db");
        std::fs::write(&db, b"").unwrap();
        let err = Store::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(&dir.display().to_string()));
        assert_eq!(
            std::fs::metadata(&db).unwrap().len(),
            0,
            "file left untouched"
        );
    }

    #[test]
    fn codec_round_trips_and_rejects_unknown_versions() {
        let v = encode(&("a", 1u32)).unwrap();
        assert_eq!(decode::<(String, u32)>(&v).unwrap(), ("a".to_string(), 1));
        assert!(decode::<(String, u32)>(&[9, b'1']).is_err());
        assert!(decode::<(String, u32)>(&[]).is_err());
    }

    fn db_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("db")).unwrap().len()
    }

    #[test]
    fn a_short_free_space_reserve_refuses_flushes_until_space_returns() {
        let dir = tempfile_dir();
        let s = Store::open_with(
            &dir,
            StoreOptions {
                reserve_bytes: u64::MAX,
            },
        )
        .unwrap();
        let before = db_len(&dir);
        let t = s.tree("t").unwrap();
        for i in 0..64u32 {
            t.insert(i.to_be_bytes(), vec![7u8; 1024]).unwrap();
        }
        let sys = actix_rt::System::new();
        let err = sys.block_on(s.durable()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Write(m) if m.contains("no space left")),
            "{err}"
        );
        assert!(!s.space_ok(), "the short reserve is reported");
        assert!(s.writable(), "a short reserve does not poison the store");
        assert!(s.flush_blocking().is_err(), "no blocking flush either");
        // Nothing reached the disk, not even by the periodic flush.
        std::thread::sleep(PERIODIC_FLUSH * 2);
        assert_eq!(db_len(&dir), before, "nothing written while space is short");

        s.set_reserve_bytes(0);
        sys.block_on(s.durable()).unwrap();
        assert!(s.space_ok());
        assert!(db_len(&dir) > before, "the pending writes were flushed");
        drop(t);
        drop(s);
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.tree("t").unwrap().len(), 64);
    }

    #[test]
    fn writes_nobody_waits_for_are_flushed_periodically() {
        let dir = tempfile_dir();
        let s = Store::open_with(&dir, StoreOptions { reserve_bytes: 0 }).unwrap();
        let before = db_len(&dir);
        s.tree("t").unwrap().insert("k", vec![1u8; 4096]).unwrap();
        // Bounded: a few periods.
        let deadline = Instant::now() + PERIODIC_FLUSH * 8;
        while db_len(&dir) == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(db_len(&dir) > before, "the periodic flush wrote the tree");
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("tessera-store-test-{}", uuid::Uuid::new_v4()));
        p
    }
}
