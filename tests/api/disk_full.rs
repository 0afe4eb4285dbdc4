//! A really full disk: the real binary on a small tmpfs the test mounts,
//! filled to the last byte. The store keeps a free-space reserve
//! (`store.reserve_bytes`) and checks it before anything is written, so a
//! full disk never reaches sled: durable writes answer `503` (never a `200`
//! for something not persisted), introspection keeps answering correctly,
//! `/readyz` turns `503`; once space is freed, writes answer `200` again in
//! the same process, and what they acknowledged survives a `kill -9`.
//!
//! Mounting needs root (CI runs as root). Where it is not permitted the
//! test says so and runs the injected-failure path of `faults` instead; the
//! reserve itself is also tested in process, on any filesystem, by
//! raising it above the free space.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_sled_app_with, INACTIVE};
use crate::process::{Server, ADMIN_TOKEN};

/// A tmpfs mounted for the test; unmounted when dropped, whatever happened.
struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    /// `Err` with the reason when mounting is not possible here.
    fn mount(path: &Path, size: &str) -> Result<TmpfsMount, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tessera-test"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if o.status.success() {
            Ok(TmpfsMount {
                path: path.to_path_buf(),
            })
        } else {
            Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
        }
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a child not yet reaped): detach it lazily.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Write `path` until the filesystem has no space left; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0xA5u8; 64 * 1024];
    let mut written = 0u64;
    // Bounded: the filesystem is a few MiB.
    for _ in 0..4096 {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "the filler stopped on {e}, not ENOSPC"
                );
                break;
            }
        }
    }
    // The last partial pages too.
    for _ in 0..4096 {
        match f.write(&[0u8; 512]) {
            Ok(n) if n > 0 => written += n as u64,
            _ => break,
        }
    }
    written
}

struct Remote {
    http: reqwest::Client,
    base: String,
}

impl Remote {
    fn new(s: &Server) -> Remote {
        Remote {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client"),
            base: s.address.clone(),
        }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn create_client(&self, spec: Value) -> reqwest::Response {
        self.http
            .post(self.url("/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("POST /admin/clients")
    }

    async fn client(&self, spec: Value) -> (String, String) {
        let r = self.create_client(spec).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.expect("client JSON");
        (
            v["client_id"].as_str().expect("id").into(),
            v["client_secret"].as_str().expect("secret").into(),
        )
    }

    async fn token_response(&self, c: &(String, String)) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token request")
    }

    async fn token(&self, c: &(String, String)) -> String {
        let r = self.token_response(c).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.expect("token JSON")["access_token"]
            .as_str()
            .expect("access_token")
            .into()
    }

    async fn revoke(&self, c: &(String, String), token: &str) -> StatusCode {
        self.http
            .post(self.url("/oauth2/token/revoke"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revoke")
            .status()
    }

    async fn introspect(&self, c: &(String, String), token: &str) -> String {
        let r = self
            .http
            .post(self.url("/oauth2/token/introspect"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(r.status(), StatusCode::OK, "introspection keeps answering");
        r.text().await.expect("introspection body")
    }

    async fn assert_active(&self, c: &(String, String), token: &str) {
        let body = self.introspect(c, token).await;
        assert!(body.contains(r#""active":true"#), "{body}");
    }

    async fn assert_inactive(&self, c: &(String, String), token: &str) {
        assert_eq!(self.introspect(c, token).await, INACTIVE);
    }
}

async fn readyz(rc: &Remote) -> (StatusCode, Value) {
    let r = rc.http.get(rc.url("/readyz")).send().await.expect("readyz");
    let status = r.status();
    (status, r.json().await.expect("readyz JSON"))
}

/// The reserve the real-disk test runs with: the 16 MiB tmpfs has room
/// for it, and a full disk is far below it.
const RESERVE: &str = "2097152";

#[test]
fn a_full_disk_answers_503_keeps_introspection_and_recovers_without_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mnt = dir.path().join("mnt");
    let mount = match TmpfsMount::mount(&mnt, "16m") {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED real disk-full: mount not permitted ({why}); running the injected-failure path instead");
            crate::faults::a_failing_flush_makes_revocation_503_and_acknowledges_nothing();
            return;
        }
    };
    actix_web::rt::System::new().block_on(real_disk_full(&mount.path, dir.path()));
    drop(mount);
}

async fn metrics_text(rc: &Remote) -> String {
    rc.http
        .get(rc.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

async fn real_disk_full(mnt: &Path, logs: &Path) {
    let data = mnt.join("data");
    let filler = mnt.join("filler");
    let env = [("TESSERA_STORE__RESERVE_BYTES", RESERVE)];
    let s = Server::start_with_env(&data, &logs.join("run1.log"), &env);
    let rc = Remote::new(&s);
    let c = rc
        .client(json!({"client_id": "full", "scope": "read"}))
        .await;
    let opaque = rc
        .client(json!({"client_id": "full-opaque", "access_token_format": "opaque"}))
        .await;
    let keep = rc.token(&c).await;
    let keep_opaque = rc.token(&opaque).await;
    let revoked_before = rc.token(&c).await;
    assert_eq!(rc.revoke(&c, &revoked_before).await, StatusCode::OK);
    let targets: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..100 {
            v.push(rc.token(&c).await);
        }
        v
    };
    assert_eq!(readyz(&rc).await.0, StatusCode::OK);

    let filled = fill(&filler);
    println!("disk full: {filled} bytes of filler");

    // Revoke until the store says no. A revocation that still answers 200
    // must be real.
    let mut acknowledged = vec![revoked_before.clone()];
    let mut refused = Vec::new();
    for t in &targets {
        match rc.revoke(&c, t).await {
            StatusCode::OK => acknowledged.push(t.clone()),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused.push(t.clone());
                if refused.len() >= 5 {
                    break;
                }
            }
            other => panic!("a revocation on a full disk answered {other}"),
        }
    }
    assert!(
        !refused.is_empty(),
        "no revocation was refused on a full disk ({} acknowledged)",
        acknowledged.len()
    );
    println!(
        "disk full: {} revocations acknowledged before the first 503, {} refused",
        acknowledged.len() - 1,
        refused.len()
    );
    // Other durable writes: refused too.
    let r = rc.token_response(&opaque).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "opaque token issue"
    );
    let r = rc.create_client(json!({"client_id": "during-full"})).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "admin write");

    // Introspection keeps answering, and correctly.
    for _ in 0..3 {
        rc.assert_active(&c, &keep).await;
        rc.assert_active(&opaque, &keep_opaque).await;
        for t in &acknowledged {
            rc.assert_inactive(&c, t).await;
        }
        for t in &refused {
            rc.assert_active(&c, t).await;
        }
    }

    // The server says it is not ready, and why: space, not a failed write.
    let ready = readyz(&rc).await;
    assert_eq!(ready.0, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.1);
    assert_eq!(ready.1["store_writable"], false, "{}", ready.1);
    assert_eq!(ready.1["store_low_space"], true, "{}", ready.1);
    assert_eq!(ready.1["store_write_failed"], false, "{}", ready.1);
    let metrics = metrics_text(&rc).await;
    assert!(
        metrics.lines().any(|l| l == "tessera_store_writable 0"),
        "the store_writable gauge shows the refusal"
    );
    assert!(
        metrics.lines().any(|l| l == "tessera_store_low_space 1"),
        "the low_space gauge shows why"
    );

    // Space comes back: within a few seconds the server is ready again and
    // writes answer 200, in the same process.
    std::fs::remove_file(&filler).expect("remove the filler");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ready = readyz(&rc).await;
        if ready.0 == StatusCode::OK {
            assert_eq!(ready.1["store_low_space"], false, "{}", ready.1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 10 s after space came back: {}",
            ready.1
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    for t in &refused {
        assert_eq!(
            rc.revoke(&c, t).await,
            StatusCode::OK,
            "a write after space came back"
        );
        acknowledged.push(t.clone());
    }
    let fresh_opaque = rc.token(&opaque).await;
    let r = rc.create_client(json!({"client_id": "after-full"})).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "admin write after recovery"
    );
    for t in &acknowledged {
        rc.assert_inactive(&c, t).await;
    }
    rc.assert_active(&c, &keep).await;
    rc.assert_active(&opaque, &fresh_opaque).await;
    let metrics = metrics_text(&rc).await;
    assert!(
        metrics.lines().any(|l| l == "tessera_store_writable 1"),
        "the store_writable gauge shows the recovery"
    );

    // A crash now: everything acknowledged, before the fill and after the
    // recovery, is still there.
    s.kill();
    let log = std::fs::read_to_string(logs.join("run1.log")).expect("server log");
    assert!(
        !log.contains("panicked"),
        "the server panicked on a full disk:\n{log}"
    );
    assert!(
        log.contains("below the store's reserve"),
        "the refusal is logged:\n{log}"
    );
    assert!(
        !log.contains("the store could not write"),
        "the full disk reached sled (the reserve did not hold):\n{log}"
    );
    let s = Server::start_with_env(&data, &logs.join("run2.log"), &env);
    let rc = Remote::new(&s);
    assert_eq!(readyz(&rc).await.0, StatusCode::OK);
    rc.assert_active(&c, &keep).await;
    rc.assert_active(&opaque, &keep_opaque).await;
    rc.assert_active(&opaque, &fresh_opaque).await;
    for t in &acknowledged {
        rc.assert_inactive(&c, t).await;
    }
    for t in &targets {
        if !acknowledged.contains(t) {
            rc.assert_active(&c, t).await;
        }
    }
    let r = rc
        .http
        .get(rc.url("/admin/clients/after-full"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("GET client");
    assert_eq!(r.status(), StatusCode::OK, "the client made after recovery");
    assert_eq!(rc.revoke(&c, &keep).await, StatusCode::OK);
    s.kill();
}

/// The reserve on any filesystem: raised above the free space, writes
/// answer `503` without the disk being touched and `/readyz` says why;
/// lowered, they succeed again in the same process.
#[actix_web::test]
async fn a_short_free_space_reserve_refuses_writes_until_space_returns() {
    // Starts with room (a first start writes its signing key), then the
    // reserve is raised above what the filesystem has free.
    let app = spawn_sled_app_with(|s| s.store.reserve_bytes = 0).await;
    app.store().set_reserve_bytes(u64::MAX);
    let r = app
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "while-short"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.expect("readyz JSON");
    assert_eq!(body["store_low_space"], true, "{body}");
    assert_eq!(body["store_write_failed"], false, "{body}");
    assert!(app.store().writable(), "nothing poisoned the store");

    app.store().set_reserve_bytes(0);
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    assert_eq!(app.revoke(&c, &token).await, StatusCode::OK);
    app.assert_inactive(&c, &token).await;
    let r = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);

    // Short again: a revocation is refused and not published.
    app.store().set_reserve_bytes(u64::MAX);
    let other = app.get_token(&c).await;
    assert_eq!(
        app.revoke(&c, &other).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.assert_active(&c, &other).await;
    app.store().set_reserve_bytes(0);
    assert_eq!(app.revoke(&c, &other).await, StatusCode::OK);
    app.assert_inactive(&c, &other).await;
}
