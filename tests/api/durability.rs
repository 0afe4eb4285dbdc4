//! Crashes and restarts of the real binary: what was acknowledged survives
//! `kill -9`; a damaged store is refused, by name, and left untouched.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{http_client, jwt_part, kids, ACCOUNT_CLIENT, INACTIVE};
use crate::process::{run, stderr, tessera, Server, ADMIN_TOKEN};

struct Remote {
    http: reqwest::Client,
}

impl Remote {
    fn new() -> Remote {
        Remote {
            http: http_client(),
        }
    }

    async fn create_client(&self, s: &Server, spec: Value) -> (String, String) {
        let r = self
            .http
            .post(s.url("/admin/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        (
            v["client_id"].as_str().unwrap().into(),
            v["client_secret"].as_str().unwrap().into(),
        )
    }

    async fn token(&self, s: &Server, c: &(String, String)) -> String {
        let r = self
            .http
            .post(s.url("/oauth2/token"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .into()
    }

    async fn introspect(&self, s: &Server, c: &(String, String), token: &str) -> String {
        let r = self
            .http
            .post(s.url("/oauth2/token/introspect"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }

    async fn revoke(&self, s: &Server, c: &(String, String), token: &str) -> StatusCode {
        self.http
            .post(s.url("/oauth2/token/revoke"))
            .basic_auth(&c.0, Some(&c.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn get(&self, s: &Server, path: &str) -> Value {
        let r = self
            .http
            .get(s.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[actix_web::test]
async fn acknowledged_state_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rc = Remote::new();

    let s = Server::start(&data, &dir.path().join("run1.log"));
    let jwt_client = rc
        .create_client(&s, json!({"client_id": "durable", "scope": "read"}))
        .await;
    let opaque_client = rc
        .create_client(
            &s,
            json!({"client_id": "durable-opaque", "access_token_format": "opaque"}),
        )
        .await;
    let kids_before = sorted(kids(&rc.get(&s, "/oauth2/jwks").await));
    let opaque = rc.token(&s, &opaque_client).await;
    let keep = rc.token(&s, &jwt_client).await;
    let doomed = rc.token(&s, &jwt_client).await;
    assert!(rc
        .introspect(&s, &jwt_client, &doomed)
        .await
        .contains(r#""active":true"#));
    // Revoke, and crash the moment the answer is in.
    assert_eq!(rc.revoke(&s, &jwt_client, &doomed).await, StatusCode::OK);
    s.kill();

    let s = Server::start(&data, &dir.path().join("run2.log"));
    assert_eq!(
        rc.introspect(&s, &jwt_client, &doomed).await,
        INACTIVE,
        "the revocation survived"
    );
    let v: Value = serde_json::from_str(&rc.introspect(&s, &jwt_client, &keep).await).unwrap();
    assert_eq!(
        v["active"], true,
        "a JWT issued before the crash is still active"
    );
    assert_eq!(v["jti"], jwt_part(&keep, 1)["jti"]);
    let v: Value = serde_json::from_str(&rc.introspect(&s, &opaque_client, &opaque).await).unwrap();
    assert_eq!(
        v["active"], true,
        "an opaque token (durable on issue) survived"
    );
    assert_eq!(
        sorted(kids(&rc.get(&s, "/oauth2/jwks").await)),
        kids_before,
        "same keys"
    );
    let clients = rc.get(&s, "/admin/clients").await;
    let ids: Vec<&str> = clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .filter(|id| *id != ACCOUNT_CLIENT)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"durable") && ids.contains(&"durable-opaque"));
    // The clients' secrets still work, and new tokens use the same key.
    let fresh = rc.token(&s, &jwt_client).await;
    assert_eq!(jwt_part(&fresh, 0)["kid"], jwt_part(&keep, 0)["kid"]);
    // Revoking the token again after the restart is still a 200.
    assert_eq!(rc.revoke(&s, &jwt_client, &doomed).await, StatusCode::OK);
    s.kill();
}

#[actix_web::test]
async fn a_rotation_and_a_secret_rotation_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rc = Remote::new();

    let s = Server::start(&data, &dir.path().join("run1.log"));
    let c = rc.create_client(&s, json!({"client_id": "rot"})).await;
    let old = rc.token(&s, &c).await;
    let r = rc
        .http
        .post(s.url("/admin/keys/rotate"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let keys_after: Vec<Value> = r.json().await.unwrap();
    let r = rc
        .http
        .post(s.url("/admin/clients/rot/secret"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let new_secret = r.json::<Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    s.kill();

    let s = Server::start(&data, &dir.path().join("run2.log"));
    let mut listed: Vec<Value> = serde_json::from_value(rc.get(&s, "/admin/keys").await).unwrap();
    let mut keys_after = keys_after;
    let by_kid = |a: &Value, b: &Value| a["kid"].as_str().cmp(&b["kid"].as_str());
    listed.sort_by(by_kid);
    keys_after.sort_by(by_kid);
    assert_eq!(listed, keys_after, "the rotated key set, exactly");
    let c2 = (c.0.clone(), new_secret);
    let fresh = rc.token(&s, &c2).await;
    let current = keys_after.iter().find(|k| k["state"] == "current").unwrap();
    assert_eq!(jwt_part(&fresh, 0)["kid"], current["kid"]);
    assert!(rc
        .introspect(&s, &c2, &old)
        .await
        .contains(r#""active":true"#));
    // The old secret stays retired.
    let r = rc
        .http
        .post(s.url("/oauth2/token"))
        .basic_auth(&c.0, Some(&c.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.kill();
}

fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        } else if p.is_dir() {
            out.extend(files(&p));
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn a_truncated_store_is_refused_by_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A clean run that writes something.
    let o = run(&data, &["client", "create", "--scope", "read"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let db = data.join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 16);

    // Truncate to a few bytes.
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(8).unwrap();
    drop(f);
    let before = files(&data);

    let out = tessera(&data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a truncated store must not start");
    let err = stderr(&out);
    assert!(
        err.contains(&data.display().to_string()),
        "names the path: {err}"
    );
    assert!(
        err.contains("corrupt") || err.contains("truncated"),
        "says what is wrong: {err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    assert_eq!(
        files(&data),
        before,
        "every file left byte for byte untouched"
    );

    // The CLI refuses it the same way.
    let o = run(&data, &["client", "list"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(&data.display().to_string()));
    assert_eq!(files(&data), before);
}

#[actix_web::test]
async fn a_missing_database_file_is_refused_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = run(&data, &["keys", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(data.join("db")).unwrap();
    let o = run(&data, &["keys", "list"]);
    assert!(!o.status.success(), "never a silently fresh store");
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert!(!data.join("db").exists());
}

/// Damage in the middle of the database file (bit rot, a bad sector) is
/// not a torn tail: it must be refused like truncation, not "recovered"
/// into a store that silently lost its keys, clients and revocations.
#[actix_web::test]
async fn a_store_damaged_in_the_middle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = run(&data, &["keys", "list"]);
    assert!(o.status.success());
    let keys_before = crate::process::stdout(&o);
    let db = data.join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let o = run(&data, &["keys", "list"]);
    assert!(
        !o.status.success(),
        "started on a damaged store; keys before:\n{keys_before}\nafter:\n{}",
        crate::process::stdout(&o)
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "left untouched");
}

#[actix_web::test]
async fn a_second_process_on_a_live_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &dir.path().join("run.log"));
    let o = run(&data, &["client", "list"]);
    assert!(
        !o.status.success(),
        "the CLI must not open a store the server holds"
    );
    assert!(stderr(&o).contains("in use"), "{}", stderr(&o));
    let out = tessera(&data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The running server is unaffected.
    let r = http_client().get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.kill();
}
