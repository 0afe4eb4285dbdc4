//! Opening the store: sled's files, the marker beside them, and the checks
//! that turn a damaged or truncated database into a clean, named error
//! instead of a silently fresh store.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use super::flusher::spawn_flusher;
use super::space::Space;
use super::{trees, Faults, Store, StoreError, StoreOptions};

/// On-disk format of the whole store. Bumped on incompatible change.
const FORMAT: &[u8] = b"tessera-store-v1";
/// Written beside sled's files once the store is initialised. If it exists
/// but the database has lost its metadata, the database was damaged.
pub(super) const MARKER: &str = "TESSERA_STORE";

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
}

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

pub(super) fn write_marker(marker: &Path, db_file: &Path, gen: u64) {
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
pub(super) fn sync_file(path: &Path) {
    if let Ok(f) = File::open(path) {
        let _ = f.sync_data();
    }
}
