//! The crash harness: the real binary under concurrent revocations, code
//! exchanges, refresh rotations, mail sends and key rotations, killed with
//! SIGKILL at random moments (60 kill points), restarted on the same data
//! directory each time, and checked: nothing it acknowledged is lost, no
//! used code or rotated refresh token works again, reuse detection still
//! fires, every accepted mail is delivered exactly once, and the key set is
//! consistent.
//!
//! It runs on the suite's backend (`TESSERA_TEST_BACKEND`): over a sled
//! directory, or over a PostgreSQL database of its own that every restart
//! opens again.
//!
//! Replay a run with `TESSERA_CRASH_SEED=<seed>` (printed on failure and at
//! the end); `TESSERA_CRASH_ROUNDS` changes the number of kill points. The
//! seed fixes every random choice (timings, operations, kill delays); how
//! the requests interleave with the kill still depends on the machine.

mod ledger;
mod life;
mod verify;
mod workers;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::process::Server;
use ledger::{Checked, Ledger, Marks, Setup, Shared};
use life::{env_u64, Cred, Life, Rng, SeedOnFailure};
use verify::{assert_no_duplicate_mail, outbox, verify};
use workers::{code_worker, key_worker, mail_worker, refresh_worker, revocation_worker};

const DEFAULT_ROUNDS: usize = 60;
/// The whole run fails, rather than hangs, past this.
const TIME_CAP: Duration = Duration::from_secs(300);
const REDIRECT: &str = "https://rp.example.com/cb";
const PASSWORD: &str = "correct horse battery staple";
const LOGIN_USER: &str = "crash-user";
const MAIL_USERS: usize = 8;
/// Mails asked for per server life: below the per-address and per-client
/// send limits, which start afresh with each process.
const MAILS_PER_ROUND: u32 = 12;

async fn set_up(life: &Life) -> Setup {
    let jwt = life
        .create_client(json!({"client_id": "crash-jwt", "scope": "read"}))
        .await;
    let opaque = life
        .create_client(json!({
            "client_id": "crash-opaque",
            "scope": "read",
            "access_token_format": "opaque"
        }))
        .await;
    let rp = life
        .create_client(json!({
            "client_id": "crash-rp",
            "public": false,
            "first_party": true,
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "scope": "openid read",
        }))
        .await;
    let rs = life
        .create_client(json!({"client_id": "crash-rs", "introspect_any": true, "scope": "read"}))
        .await;
    life.create_user(LOGIN_USER).await;
    let mut mail_users = Vec::new();
    for i in 0..MAIL_USERS {
        mail_users.push(life.create_user(&format!("crash-mail-{i}")).await);
    }
    Setup {
        jwt,
        opaque,
        rp,
        rs,
        mail_users,
    }
}

/// The settings that put every server life on the suite's backend: for
/// PostgreSQL, one database kept for the whole test.
struct BackendEnv {
    db: Option<crate::helpers::TestDb>,
}

impl BackendEnv {
    fn new() -> BackendEnv {
        BackendEnv {
            db: (crate::helpers::suite_backend() == crate::helpers::TestBackend::Postgres)
                .then(crate::helpers::TestDb::create),
        }
    }
    fn env(&self) -> Vec<(&str, &str)> {
        match &self.db {
            Some(db) => vec![
                ("TESSERA_STORE__BACKEND", "postgres"),
                ("TESSERA_STORE__DATABASE_URL", db.url.as_str()),
            ],
            None => Vec::new(),
        }
    }
}

fn check_time(start: Instant, seed: u64, what: &str) {
    assert!(
        start.elapsed() < TIME_CAP,
        "the crash harness exceeded its {} s cap ({what}); seed {seed}",
        TIME_CAP.as_secs()
    );
}

#[actix_web::test]
async fn nothing_acknowledged_is_lost_across_60_kill_9s() {
    let seed = env_u64("TESSERA_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let rounds = env_u64("TESSERA_CRASH_ROUNDS").map_or(DEFAULT_ROUNDS, |n| n as usize);
    let _guard = SeedOnFailure(seed);
    let mut rng = Rng(seed);
    let start = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = dir.path().join("data");
    let out = data.join("outbox");
    let log = |n: usize| dir.path().join(format!("run{n}.log"));

    let backend = BackendEnv::new();
    let mut server = Server::start_with_env(&data, &log(0), &backend.env());
    let life = Life::new(&server);
    let setup = Rc::new(set_up(&life).await);
    let ledger: Shared = Rc::new(RefCell::new(Ledger::default()));
    {
        let listed: Vec<Value> =
            serde_json::from_value(life.admin_get("/admin/keys").await).expect("keys");
        let mut l = ledger.borrow_mut();
        for k in listed {
            l.acked_kids.insert(k["kid"].as_str().expect("kid").into());
        }
    }
    let mut checked = Checked::default();
    let mut kills = 0usize;
    let mut busy_kills = 0usize;
    let mut cut_off = 0usize;

    for round in 0..rounds {
        check_time(start, seed, &format!("round {round}"));
        let life = Life::new(&server);
        let session = life.login().await;
        let marks = Marks::of(&ledger.borrow());
        let window = rng.range(80, 600);
        let mut tasks = Vec::new();
        for _ in 0..2 {
            tasks.push(actix_web::rt::spawn(revocation_worker(
                life.clone(),
                setup.clone(),
                ledger.clone(),
                rng.fork(),
            )));
        }
        tasks.push(actix_web::rt::spawn(code_worker(
            life.clone(),
            setup.clone(),
            session.clone(),
            ledger.clone(),
        )));
        for _ in 0..2 {
            tasks.push(actix_web::rt::spawn(refresh_worker(
                life.clone(),
                setup.clone(),
                session.clone(),
                ledger.clone(),
            )));
        }
        tasks.push(actix_web::rt::spawn(mail_worker(
            life.clone(),
            setup.clone(),
            ledger.clone(),
            rng.fork(),
        )));
        if rng.chance(40) {
            tasks.push(actix_web::rt::spawn(key_worker(
                life.clone(),
                ledger.clone(),
                rng.fork(),
                window,
            )));
        }
        tokio::time::sleep(Duration::from_millis(window)).await;
        // SIGKILL with requests in flight: workers run until a request
        // fails, so every one still running is cut off mid-request.
        let running = tasks.iter().filter(|t| !t.is_finished()).count();
        server.kill();
        kills += 1;
        cut_off += running;
        if running > 0 {
            busy_kills += 1;
        }
        for t in tasks {
            if let Err(e) = t.await {
                // A worker's failed assertion.
                std::panic::resume_unwind(e.into_panic());
            }
        }
        check_time(start, seed, &format!("after kill {kills}"));
        server = Server::start_with_env(&data, &log(round + 1), &backend.env());
        let life = Life::new(&server);
        let last = round + 1 == rounds;
        let mut sample = rng.fork();
        verify(
            &life,
            &setup,
            &ledger,
            &marks,
            last,
            &mut sample,
            &mut checked,
        )
        .await;
        assert_no_duplicate_mail(&out);
    }

    // Every acknowledged mail is delivered, once: the restarted mailer
    // sends what was still queued.
    let deadline = Instant::now() + Duration::from_secs(30);
    // A copy: the workers are done, and no borrow is held across an await.
    let l = ledger.borrow().clone();
    let delivered = loop {
        let mut by_to: BTreeMap<String, u32> = BTreeMap::new();
        for (_, to) in outbox(&out) {
            *by_to.entry(to).or_default() += 1;
        }
        let short: Vec<_> = l
            .mail_acked
            .iter()
            .filter(|(to, n)| by_to.get(*to).copied().unwrap_or(0) < **n)
            .collect();
        if short.is_empty() {
            break by_to;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged mails neither delivered nor queued: acked {short:?}, delivered {by_to:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mails = assert_no_duplicate_mail(&out);
    for (to, n) in &delivered {
        let asked = l.mail_asked.get(to).copied().unwrap_or(0);
        assert!(
            *n <= asked,
            "{to}: {n} mails delivered but only {asked} asked for"
        );
    }
    server.kill();

    let acked_mail: u32 = l.mail_acked.values().sum();
    println!(
        "crash harness: seed {seed}, {kills} kill points survived in {:.1} s \
         ({busy_kills} with requests in flight, {cut_off} workers cut off); \
         acknowledged: {} revocations, {} tokens kept, {} code exchanges ({} codes sent), \
         {} refresh rotations in {} families, {acked_mail} mails ({mails} delivered, none twice), \
         {} key rotations; checked after restarts: {} revocations, {} live tokens, \
         {} code replays, {} rotated refresh tokens, {} families ended by reuse detection, \
         {} key-set checks; 0 losses",
        start.elapsed().as_secs_f64(),
        l.revoked.len(),
        l.kept.len(),
        l.codes_answered,
        l.codes.len(),
        l.rotations_answered,
        l.families.len(),
        l.key_rotations,
        checked.revoked,
        checked.kept,
        checked.codes,
        checked.rotated,
        checked.families,
        checked.key_checks,
    );
}

/// Deterministic companion to the harness: a code whose exchange may have
/// been in flight when the process died is void after the restart, even
/// when the code itself reached the disk.
#[actix_web::test]
async fn a_code_not_redeemed_before_a_kill_9_is_void_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let backend = BackendEnv::new();
    let s = Server::start_with_env(&data, &dir.path().join("run1.log"), &backend.env());
    let life = Life::new(&s);
    let setup = set_up_login_only(&life).await;
    let session = life.login().await;
    let (code, verifier) = life.code(&setup, &session).await.expect("a code");
    // Long enough for sled's own periodic flush to write the code out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    s.kill();

    let s = Server::start_with_env(&data, &dir.path().join("run2.log"), &backend.env());
    let life = Life::new(&s);
    let r = life
        .exchange(&setup, &code, &verifier)
        .await
        .expect("exchange");
    let status = r.status();
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    // A new code works as usual.
    let session = life.login().await;
    let (code, verifier) = life.code(&setup, &session).await.expect("a code");
    let r = life
        .exchange(&setup, &code, &verifier)
        .await
        .expect("exchange");
    assert_eq!(r.status(), StatusCode::OK);
    s.kill();
}

/// The relying party and the user of [`set_up`], nothing else.
async fn set_up_login_only(life: &Life) -> Cred {
    let rp = life
        .create_client(json!({
            "client_id": "crash-rp",
            "public": false,
            "first_party": true,
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [REDIRECT],
            "scope": "openid read",
        }))
        .await;
    life.create_user(LOGIN_USER).await;
    rp
}
