//! The store's own tests: reopening, damage, codec, the free-space reserve
//! and the periodic flush.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::flusher::PERIODIC_FLUSH;
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
