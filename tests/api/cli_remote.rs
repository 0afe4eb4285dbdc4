//! The administrative subcommands while a server holds the store: they go
//! through that server's admin API and print what they print locally.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::http_client;
use crate::process::{run, stderr, stdout, tessera, Server, ADMIN_TOKEN};

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[actix_web::test]
async fn client_create_goes_through_the_server_that_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &dir.path().join("serve.log"));

    let o = tessera(&data)
        .env("TESSERA_URL", &s.address)
        .args([
            "client",
            "create",
            "--client-id",
            "made-remotely",
            "--scope",
            "read",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(field(&out, "client_id:"), "made-remotely", "{out}");
    let secret = field(&out, "client_secret:");
    assert!(secret.starts_with("tes_cs_"), "{out}");
    assert!(out.contains("(the secret is shown once"), "{out}");

    // Listed through the server as well (the flag this time).
    let o = run(&data, &["--url", &s.address, "client", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&o);
    assert!(list.contains("made-remotely"), "{list}");
    assert!(list.contains("scope=\"read\""), "{list}");
    assert!(!list.contains(&secret), "the secret is never listed");

    // The running server has it, and it works.
    let http = http_client();
    let r = http
        .get(s.url("/admin/clients/made-remotely"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .post(s.url("/oauth2/token"))
        .basic_auth("made-remotely", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "read", "{body}");
    s.kill();

    // Stopped: the store is the CLI's again, and the client is in it.
    let o = run(&data, &["client", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("made-remotely"));
}

#[actix_web::test]
async fn a_locked_store_and_no_server_answering_says_both() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &dir.path().join("serve.log"));
    // Nothing listens on port 9 of loopback.
    let o = run(&data, &["--url", "http://127.0.0.1:9", "client", "list"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("in use by another process"), "{err}");
    assert!(err.contains("no server answered"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(s);
}

/// `registration-token` on the store, then through the server that holds
/// it, and the tokens it printed registering clients (`initial_token`).
#[actix_web::test]
async fn registration_tokens_from_the_shell_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let o = run(
        &data,
        &[
            "registration-token",
            "create",
            "--uses",
            "2",
            "--note",
            "ci agents",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let local_token = field(&out, "token:");
    let local_id = field(&out, "id:");
    assert!(local_token.starts_with("tes_iat_"), "{out}");

    let s = Server::start_with_env(
        &data,
        &dir.path().join("serve.log"),
        &[("TESSERA_REGISTRATION__MODE", "initial_token")],
    );
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "registration-token",
            "create",
            "--expires-in",
            "600",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let remote_token = field(&out, "token:");
    let o = run(&data, &["--url", &s.address, "registration-token", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&o);
    assert!(
        list.contains(&local_id) && list.contains("2/2 left") && list.contains("ci agents"),
        "{list}"
    );
    assert!(
        !list.contains("tes_iat_"),
        "tokens are never listed: {list}"
    );

    let http = http_client();
    let meta = serde_json::json!({
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
    });
    for token in [&local_token, &remote_token] {
        let r = http
            .post(s.url("/oauth2/register"))
            .bearer_auth(token)
            .json(&meta)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // The remote one had one use.
    let r = http
        .post(s.url("/oauth2/register"))
        .bearer_auth(&remote_token)
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Revoked through the server: the local one's last use is gone.
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "registration-token",
            "revoke",
            &local_id,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = http
        .post(s.url("/oauth2/register"))
        .bearer_auth(&local_token)
        .json(&meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "registration-token",
            "revoke",
            &local_id,
        ],
    );
    assert!(!o.status.success(), "a second revoke fails");
    s.kill();
    let o = run(&data, &["registration-token", "revoke", "not-a-uuid"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a token id"), "{}", stderr(&o));
}
