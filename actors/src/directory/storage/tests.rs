//! The sled directory store's units: conditional code writes, and
//! failed or abandoned units taken back.

use std::sync::atomic::Ordering;

use super::*;
use crate::directory::{Totp, UserStatus};

fn open() -> (Store, SledDirectoryStore) {
    let dir = std::env::temp_dir().join(format!("tessera-dir-test-{}", uuid::Uuid::new_v4()));
    let store = Store::open(&dir).unwrap();
    let s = SledDirectoryStore::new(&store).unwrap();
    (store, s)
}

fn link_code() -> CodeRecord {
    CodeRecord {
        purpose: CodePurpose::Reset,
        user_id: uuid::Uuid::new_v4(),
        email: "a@example.com".into(),
        hash: [7; 32],
        key: None,
        created_at: 1,
        expires_at: 100,
        attempts_left: 3,
        application_id: None,
    }
}

#[test]
fn a_code_is_spent_once() {
    let (_store, mut s) = open();
    let sys = actix_rt::System::new();
    let rec = link_code();
    s.put_code(&rec).unwrap();
    sys.block_on(s.commit()).unwrap();
    assert_eq!(s.code_by_link(&rec.hash).unwrap().as_ref(), Some(&rec));
    assert!(s.replace_code(&rec, None).unwrap(), "the first spend wins");
    assert!(!s.replace_code(&rec, None).unwrap(), "the second loses");
    sys.block_on(s.commit()).unwrap();
    assert_eq!(s.code(rec.purpose, &rec.user_id).unwrap(), None);
    assert_eq!(s.code_by_link(&rec.hash).unwrap(), None, "index gone too");
}

#[test]
fn a_stale_expectation_loses() {
    let (_store, mut s) = open();
    let rec = link_code();
    s.put_code(&rec).unwrap();
    let mut fewer = rec.clone();
    fewer.attempts_left = 2;
    assert!(s.replace_code(&rec, Some(&fewer)).unwrap());
    assert!(
        !s.replace_code(&rec, None).unwrap(),
        "decided on an old state"
    );
    assert_eq!(s.code(rec.purpose, &rec.user_id).unwrap(), Some(fewer));
}

#[test]
fn a_failed_commit_takes_the_unit_back() {
    let (store, mut s) = open();
    let sys = actix_rt::System::new();
    let rec = link_code();
    s.put_code(&rec).unwrap();
    sys.block_on(s.commit()).unwrap();

    store.faults().fail_flush.store(true, Ordering::SeqCst);
    let mut fewer = rec.clone();
    fewer.attempts_left = 1;
    assert!(s.replace_code(&rec, Some(&fewer)).unwrap());
    let other = CodeRecord {
        user_id: uuid::Uuid::new_v4(),
        hash: [9; 32],
        ..link_code()
    };
    s.put_code(&other).unwrap();
    assert!(sys.block_on(s.commit()).is_err());
    store.faults().fail_flush.store(false, Ordering::SeqCst);

    assert_eq!(s.code(rec.purpose, &rec.user_id).unwrap(), Some(rec));
    assert_eq!(s.code(other.purpose, &other.user_id).unwrap(), None);
    assert_eq!(s.code_by_link(&other.hash).unwrap(), None);
}

#[test]
fn a_rolled_back_unit_leaves_nothing() {
    let (_store, mut s) = open();
    let rec = link_code();
    s.put_code(&rec).unwrap();
    s.rollback();
    assert_eq!(s.code(rec.purpose, &rec.user_id).unwrap(), None);
    assert_eq!(s.code_by_link(&rec.hash).unwrap(), None);
}

fn user() -> User {
    User {
        id: uuid::Uuid::new_v4(),
        username: "alice".into(),
        email: "alice@example.com".into(),
        email_verified: true,
        password_hash: "$argon2id$x".into(),
        name: None,
        given_name: None,
        family_name: None,
        role: None,
        company: None,
        scope: Scope::default(),
        status: UserStatus::Active,
        totp: Some(Totp {
            secret: "S".into(),
            enabled: true,
            last_step: 10,
        }),
        created_at: 1,
        updated_at: 1,
        credentials_changed_at: 1,
        roles: Vec::new(),
        passkeys: Vec::new(),
    }
}

#[test]
fn a_totp_step_is_used_once() {
    let (_store, mut s) = open();
    let u = user();
    s.put_user(&u).unwrap();
    let mut stepped = u.clone();
    if let Some(t) = stepped.totp.as_mut() {
        t.last_step = 11;
    }
    assert!(s.replace_user(&u, &stepped).unwrap(), "the first use wins");
    assert!(
        !s.replace_user(&u, &stepped).unwrap(),
        "a second use decided on the old record loses"
    );
    let loaded = s.load_all().unwrap();
    assert_eq!(loaded.users, vec![stepped]);
}
