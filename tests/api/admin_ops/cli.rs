//! `tessera user role grant|revoke <user> admin`: on the store directly
//! (recorded as the CLI), and through the server that holds it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::http_client;
use crate::process::{run, stderr, stdout, Server, ADMIN_TOKEN};

fn create_user(data: &std::path::Path, name: &str) {
    let email = format!("{name}@example.com");
    let o = run(
        data,
        &[
            "user",
            "create",
            "--username",
            name,
            "--email",
            &email,
            "--password",
            "a fine password",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

async fn get(server: &Server, path: &str) -> Value {
    let r = http_client()
        .get(server.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn roles_of(server: &Server, username: &str) -> Value {
    let users = get(server, &format!("/admin/users?q={username}")).await;
    let u = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .cloned()
        .expect("the user");
    u["roles"].clone()
}

#[actix_web::test]
async fn the_admin_role_is_granted_and_revoked_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    create_user(&data, "operator");

    // On the store itself.
    let o = run(&data, &["user", "role", "grant", "operator", "admin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("granted admin to operator ("),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).trim_end().ends_with("roles: admin"),
        "{}",
        stdout(&o)
    );
    // An unknown role or user fails cleanly and changes nothing.
    let o = run(&data, &["user", "role", "grant", "operator", "root"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown role"), "{}", stderr(&o));
    let o = run(&data, &["user", "role", "grant", "nobody", "admin"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no user"), "{}", stderr(&o));

    // Through the server that holds the store.
    let server = Server::start(&data, &dir.path().join("server.log"));
    assert_eq!(
        roles_of(&server, "operator").await,
        serde_json::json!(["admin"])
    );
    let log = get(&server, "/admin/audit?action=user.roles.set").await;
    let recs = log["records"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{log}");
    assert_eq!(recs[0]["via"], "cli");
    assert!(recs[0]["actor"].as_str().unwrap().starts_with("cli"));
    assert_eq!(recs[0]["outcome"], "ok");
    assert_eq!(recs[0]["detail"], "roles: admin");

    let o = run(
        &data,
        &[
            "--url",
            &server.address,
            "user",
            "role",
            "revoke",
            "operator@example.com",
            "admin",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("revoked admin from operator ("),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).trim_end().ends_with("roles: none"),
        "{}",
        stdout(&o)
    );
    assert_eq!(roles_of(&server, "operator").await, serde_json::json!([]));
    let log = get(&server, "/admin/audit?action=user.roles.set").await;
    let recs = log["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{log}");
    assert_eq!(recs[0]["via"], "api");
    assert_eq!(recs[0]["detail"], "roles: none");
}
