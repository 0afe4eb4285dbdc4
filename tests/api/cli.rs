//! The administrative subcommands, run from a shell on a stopped server's
//! store, and the server that then starts on it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{http_client, jwt_part, kids, verify_against_jwks};
use crate::process::{run, stderr, stdout, Server};

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// `(kid, state)` of every line of `keys list` / `keys rotate`.
fn key_lines(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0].to_string(), cols[2].to_string())
        })
        .collect()
}

#[actix_web::test]
async fn client_and_keys_commands_and_the_server_that_follows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let o = run(&data, &["client", "create", "--scope", "read"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let id = field(&out, "client_id:");
    let secret = field(&out, "client_secret:");
    assert!(id.starts_with("tes_cl_"), "{out}");
    assert!(secret.starts_with("tes_cs_"), "{out}");

    let o = run(
        &data,
        &[
            "client",
            "create",
            "--client-id",
            "reporting",
            "--scope",
            "read write",
            "--audience",
            "https://api.example",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let o = run(&data, &["client", "list"]);
    assert!(o.status.success());
    let list = stdout(&o);
    assert!(list.contains(&id), "{list}");
    assert!(list.contains("reporting"), "{list}");
    assert!(list.contains("scope=\"read\""), "{list}");
    assert!(list.contains("client_credentials"), "{list}");
    assert!(!list.contains(&secret), "the secret is never listed");

    // Duplicate id: a clean failure.
    let o = run(&data, &["client", "create", "--client-id", "reporting"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("reporting"), "{}", stderr(&o));

    let o = run(&data, &["keys", "list"]);
    assert!(o.status.success());
    let before = key_lines(&stdout(&o));
    assert_eq!(before.len(), 2, "{before:?}");
    let next = before.iter().find(|(_, s)| s == "Next").unwrap().0.clone();
    let current = before
        .iter()
        .find(|(_, s)| s == "Current")
        .unwrap()
        .0
        .clone();

    let o = run(&data, &["keys", "rotate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = key_lines(&stdout(&o));
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        after.contains(&(next.clone(), "Current".into())),
        "next became current: {after:?}"
    );
    assert!(
        after.contains(&(current.clone(), "Retired".into())),
        "{after:?}"
    );
    let o = run(&data, &["keys", "list"]);
    assert_eq!(key_lines(&stdout(&o)), after, "the rotation was persisted");

    // The server starts on that store with those clients and keys.
    let s = Server::start(&data, &dir.path().join("serve.log"));
    let http = http_client();
    let r = http
        .post(s.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        jwt_part(&token, 0)["kid"],
        next.as_str(),
        "signed by the key the CLI made current"
    );
    assert_eq!(jwt_part(&token, 1)["scope"], "read");
    let jwks: Value = http
        .get(s.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut published = kids(&jwks);
    published.sort();
    let mut listed: Vec<String> = after.iter().map(|(k, _)| k.clone()).collect();
    listed.sort();
    assert_eq!(published, listed);
    verify_against_jwks(
        &token,
        &jwks,
        jwt_part(&token, 1)["iss"].as_str().unwrap(),
        &id,
    );
    s.kill();

    let o = run(&data, &["client", "delete", "reporting"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["client", "list"]);
    assert!(!stdout(&o).contains("reporting"));
    let o = run(&data, &["client", "delete", "reporting"]);
    assert!(!o.status.success(), "deleting an unknown client fails");
}

#[actix_web::test]
async fn bad_arguments_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for args in [
        vec!["client", "create", "--grant-type", "password"],
        vec!["client", "create", "--access-token-format", "xml"],
        vec!["client", "create", "--scope", "bad\"scope"],
        vec!["client", "create", "--client-id", "has space"],
        vec!["nonsense"],
    ] {
        let o = run(&data, &args);
        assert!(!o.status.success(), "{args:?}");
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
    }
    let o = run(&data, &["client", "list"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).trim().is_empty(),
        "nothing was created: {}",
        stdout(&o)
    );
}

/// `TESSERA_CONFIG` is the documented environment form of `--config`.
#[actix_web::test]
async fn the_config_file_may_be_named_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("tessera.toml");
    std::fs::write(&cfg, "[keys]\nalgorithm = \"ES256\"\n").unwrap();
    let o = crate::process::tessera(&data)
        .env("TESSERA_CONFIG", &cfg)
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ES256"), "{}", stdout(&o));
    // The flag does the same.
    let data2 = dir.path().join("data2");
    let o = run(&data2, &["--config", cfg.to_str().unwrap(), "keys", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ES256"));
}
