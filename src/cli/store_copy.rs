//! `tessera store copy --from A --to B`: move a whole store between
//! backends (a sled directory or a PostgreSQL URL), record for record.
//!
//! - Both ends must be idle: sled refuses a second opener, and PostgreSQL
//!   is taken with the server lock held exclusively.
//! - The target ends up empty or complete, never partial: PostgreSQL is
//!   written in one transaction; sled is written into a fresh directory
//!   beside the target, made durable, then renamed into place.
//! - Every record is read back from the target and compared byte for byte
//!   with the source, and the counts are printed per table.
//! - A second run finds the target equal to the source and does nothing; a
//!   target that holds anything else is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tessera_actors::pg::tables::Table;
use tessera_actors::pg::{Op, Pg, PgOptions};
use tessera_actors::store::Store;

/// Every record of a store: per table, (key, record) in key order.
pub type Records = BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

/// One end of a copy.
#[derive(Debug, Clone)]
pub enum Location {
    Sled(PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_string())
        } else {
            Location::Sled(PathBuf::from(s))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sled(p) => write!(f, "sled store {}", p.display()),
            Location::Postgres(url) => match PgOptions::new(url.as_str()).redacted() {
                Some(t) => write!(f, "PostgreSQL {t}"),
                None => write!(f, "PostgreSQL database"),
            },
        }
    }
}

/// What a copy did.
#[derive(Debug)]
pub struct Report {
    /// Records per table, as read back from the target.
    pub counts: Vec<(&'static str, usize)>,
    /// The target already held exactly these records: nothing was written.
    pub unchanged: bool,
}

pub fn copy(from: &Location, to: &Location) -> anyhow::Result<Report> {
    let source = Opened::open(from, false)?;
    let records = source.read()?;
    drop(source);
    let target = Opened::open(to, true)?;
    let existing = target.read()?;
    let unchanged = if existing.values().all(Vec::is_empty) {
        target.write(records.clone())?;
        false
    } else if existing == records {
        true
    } else {
        anyhow::bail!(
            "{to} already holds records that differ from {from}; copy into an empty store"
        );
    };
    // Read back what the target now holds, from a fresh open.
    drop(target);
    let written = Opened::open(to, false)?.read()?;
    for (table, rows) in &records {
        let got = written.get(table).map_or(&[][..], Vec::as_slice);
        if got != rows.as_slice() {
            anyhow::bail!(
                "{to}: table {table} holds {} records after the copy, {} expected, or they differ",
                got.len(),
                rows.len()
            );
        }
    }
    Ok(Report {
        counts: records.iter().map(|(t, r)| (*t, r.len())).collect(),
        unchanged,
    })
}

/// An open end of a copy.
enum Opened {
    /// A sled store; `None` for a target directory that does not exist
    /// yet (or is empty), which the copy creates.
    Sled(PathBuf, Option<Store>),
    Postgres(Pg),
}

impl Opened {
    fn open(at: &Location, target: bool) -> anyhow::Result<Opened> {
        match at {
            Location::Sled(path) => {
                let fresh =
                    !path.exists() || (path.is_dir() && std::fs::read_dir(path)?.next().is_none());
                if fresh {
                    if !target {
                        anyhow::bail!("{at} does not exist");
                    }
                    return Ok(Opened::Sled(path.clone(), None));
                }
                let store =
                    Store::open(path).map_err(|e| anyhow::anyhow!("{e}; stop the server first"))?;
                Ok(Opened::Sled(path.clone(), Some(store)))
            }
            Location::Postgres(url) => {
                let mut opts = PgOptions::new(url.as_str());
                opts.pool_size = 2;
                // A source must already be at this binary's schema; a
                // target gets it.
                opts.migrate = target;
                opts.statement_timeout = std::time::Duration::from_secs(120);
                let pg = Pg::connect(&opts)?;
                if !pg.hold_server_lock(true)? {
                    anyhow::bail!("{at} is in use by a running tessera server: stop it first");
                }
                Ok(Opened::Postgres(pg))
            }
        }
    }

    fn read(&self) -> anyhow::Result<Records> {
        Ok(match self {
            Opened::Sled(_, None) => Table::ALL.iter().map(|t| (t.name(), Vec::new())).collect(),
            Opened::Sled(_, Some(store)) => sled_records(store)?,
            Opened::Postgres(pg) => pg_records(pg)?,
        })
    }

    fn write(&self, records: Records) -> anyhow::Result<()> {
        match self {
            Opened::Postgres(pg) => {
                let mut ops = Vec::new();
                for table in Table::ALL {
                    for (k, v) in records.get(table.name()).cloned().unwrap_or_default() {
                        ops.push(Op::put(table, k, v));
                    }
                }
                pg.write_all(ops)?;
                Ok(())
            }
            Opened::Sled(path, None) => write_sled(path, &records),
            Opened::Sled(_, Some(_)) => anyhow::bail!("the target sled store is not empty"),
        }
    }
}

/// Every record of a sled store, by table.
pub fn sled_records(store: &Store) -> anyhow::Result<Records> {
    let mut out = Records::new();
    for table in Table::ALL {
        let mut rows = Vec::new();
        for kv in store.tree(table.tree())?.iter() {
            let (k, v) = kv?;
            rows.push((k.to_vec(), v.to_vec()));
        }
        out.insert(table.name(), rows);
    }
    Ok(out)
}

/// Every record of a PostgreSQL store, by table.
pub fn pg_records(pg: &Pg) -> anyhow::Result<Records> {
    let mut out = Records::new();
    for table in Table::ALL {
        out.insert(table.name(), pg.load(table)?);
    }
    Ok(out)
}

/// Write a new sled store beside `path`, make it durable, then rename it
/// into place: a failure leaves no store at `path`.
fn write_sled(path: &Path, records: &Records) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    let staging = path.with_file_name(format!(".{name}.copying-{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let store = Store::open(&staging)?;
        for table in Table::ALL {
            let tree = store.tree(table.tree())?;
            let mut batch = sled::Batch::default();
            for (k, v) in records.get(table.name()).map_or(&[][..], Vec::as_slice) {
                batch.insert(k.as_slice(), v.as_slice());
            }
            tree.apply_batch(batch)?;
        }
        store.flush_blocking()?;
        drop(store);
        if path.exists() {
            std::fs::remove_dir(path)?;
        }
        std::fs::rename(&staging, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}
