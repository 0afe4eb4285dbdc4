//! `/admin/users` and the `tessera user` subcommands: create, list, read,
//! delete, set a password; conflicts and bad input; sessions end with a
//! deleted user or a changed password.

use std::io::Write;
use std::process::{Output, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, header, spawn_app, TestApp};
use crate::process::{run, stderr, stdout, tessera};
use crate::sessions::{create_user, open_session};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

async fn sessions_status(app: &TestApp, secret: &str) -> StatusCode {
    app.http
        .get(app.url("/sessions"))
        .header("cookie", format!("tessera_session={secret}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[actix_web::test]
async fn create_list_get_and_delete_users() {
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::POST,
            "/admin/users",
            Some(json!({
                "username": "Alice",
                "email": "alice@example.com",
                "password": "correct horse battery staple",
                "name": "Alice Liddell",
                "given_name": "Alice",
                "family_name": "Liddell",
                "scope": "read profile",
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password_hash"),
        "{text}"
    );
    assert!(!text.contains("totp"), "{text}");
    let u: Value = serde_json::from_str(&text).unwrap();
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u["username"], "Alice");
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["email_verified"], false);
    assert_eq!(u["name"], "Alice Liddell");
    assert_eq!(u["given_name"], "Alice");
    assert_eq!(u["family_name"], "Liddell");
    assert_eq!(u["scope"], "read profile");
    assert_eq!(u["status"], "active");
    assert_eq!(u["mfa_methods"], json!(["password"]));
    assert!(u["created_at"].as_str().unwrap().ends_with('Z'));

    // Stored as an argon2id hash of what was sent.
    let stored = app
        .engine
        .users
        .get(&id.parse().unwrap())
        .unwrap()
        .password_hash
        .clone();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(app
        .engine
        .passwords
        .verify("correct horse battery staple".into(), Some(stored))
        .await
        .unwrap());

    let bob = create_user(&app, "bob").await;
    let r = app.admin(Method::GET, "/admin/users", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("argon2"), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alice", "bob"]);

    let r = app
        .admin(Method::GET, &format!("/admin/users/{id}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], id);
    for path in [
        format!("/admin/users/{}", uuid::Uuid::new_v4()),
        "/admin/users/alice".to_string(),
    ] {
        let r = app.admin(Method::GET, &path, None).await;
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }

    // Without the admin token: nothing.
    let r = app.http.get(app.url("/admin/users")).send().await.unwrap();
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .http
        .post(app.url("/admin/users"))
        .bearer_auth("not-the-admin-token")
        .json(&json!({"username": "mallory", "email": "m@example.com", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(app.engine.users.by_login("mallory").is_none());

    // Delete; then it is gone, and deleting again is 404.
    let r = app
        .admin(Method::DELETE, &format!("/admin/users/{id}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .admin(Method::GET, &format!("/admin/users/{id}"), None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .admin(Method::DELETE, &format!("/admin/users/{id}"), None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.engine.users.by_login("alice@example.com").is_none());
    assert!(app.engine.users.get(&bob).is_some());
}

#[actix_web::test]
async fn taken_logins_conflict_and_bad_fields_are_refused() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let base = json!({
        "username": "carol",
        "email": "carol@example.com",
        "password": "correct horse battery staple",
    });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };

    for body in [
        with("username", json!("alice")),
        with("username", json!("ALICE")),
        with("email", json!("alice@example.com")),
        with("email", json!("Alice@Example.com")),
    ] {
        let r = app.admin(Method::POST, "/admin/users", Some(body)).await;
        assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    }

    for (body, field) in [
        (with("username", json!("a")), "username"),
        (with("username", json!("bad name")), "username"),
        (with("username", json!("x@example.com")), "username"),
        (with("email", json!("not-an-email")), "email"),
        (with("password", json!("short")), "password"),
        (with("password", json!("p".repeat(1025))), "password"),
        (with("scope", json!("read \"quoted\"")), "scope"),
        (with("name", json!("x".repeat(201))), "name"),
    ] {
        let r = app.admin(Method::POST, "/admin/users", Some(body)).await;
        let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(e["message"].as_str().unwrap().starts_with(field), "{e}");
    }

    // Missing or unknown fields, wrong types: 400 naming the field.
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("password");
    for (body, field) in [
        (missing, "password"),
        (
            with("password_hash", json!("$argon2id$...")),
            "password_hash",
        ),
        (with("email_verified", json!("yes")), ""),
    ] {
        let r = app.admin(Method::POST, "/admin/users", Some(body)).await;
        let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert!(e["message"].as_str().unwrap().contains(field), "{e}");
    }
    // None of those created anything.
    assert_eq!(app.engine.users.len(), 1);
    // The valid request still succeeds.
    let r = app.admin(Method::POST, "/admin/users", Some(base)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn a_new_password_or_deletion_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    let (_, a1) = open_session(&app, alice, UA).await;
    let (_, a2) = open_session(&app, alice, UA).await;
    let (_, b1) = open_session(&app, bob, UA).await;
    let path = format!("/admin/users/{alice}/password");

    // Refused by policy: nothing changes.
    let r = app
        .admin(Method::PUT, &path, Some(json!({"password": "short"})))
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(sessions_status(&app, &a1).await, StatusCode::OK);

    let before = app.engine.users.get(&alice).unwrap().password_hash.clone();
    let r = app
        .admin(
            Method::PUT,
            &path,
            Some(json!({"password": "a brand new passphrase"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let after = app.engine.users.get(&alice).unwrap().password_hash.clone();
    assert_ne!(before, after);
    assert!(app
        .engine
        .passwords
        .verify("a brand new passphrase".into(), Some(after))
        .await
        .unwrap());
    for s in [&a1, &a2] {
        assert_eq!(sessions_status(&app, s).await, StatusCode::UNAUTHORIZED);
    }
    assert!(app.engine.sessions.of_user(&alice).is_empty());
    assert_eq!(
        sessions_status(&app, &b1).await,
        StatusCode::OK,
        "bob is untouched"
    );
    // A session opened after the change works.
    let (_, a3) = open_session(&app, alice, UA).await;
    assert_eq!(sessions_status(&app, &a3).await, StatusCode::OK);

    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/users/{}/password", uuid::Uuid::new_v4()),
            Some(json!({"password": "a brand new passphrase"})),
        )
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // Deleting the user ends the rest.
    let r = app
        .admin(Method::DELETE, &format!("/admin/users/{alice}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(sessions_status(&app, &a3).await, StatusCode::UNAUTHORIZED);
    assert!(app.engine.sessions.of_user(&alice).is_empty());
    assert_eq!(sessions_status(&app, &b1).await, StatusCode::OK);
}

/// Run `tessera ARGS` with `input` on stdin.
fn run_with_stdin(data: &std::path::Path, args: &[&str], input: &str) -> Output {
    let mut child = tessera(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tessera");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn user_commands_create_list_set_password_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let o = run(
        &data,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password",
            "correct horse battery staple",
            "--name",
            "Alice Liddell",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let alice = field(&stdout(&o), "user_id:");
    uuid::Uuid::parse_str(&alice).unwrap();

    // The password from stdin when --password is absent.
    let o = run_with_stdin(
        &data,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
        ],
        "bobs secret passphrase\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bob = field(&stdout(&o), "user_id:");

    // Refusals: taken, policy, no password at all.
    let o = run(
        &data,
        &[
            "user",
            "create",
            "--username",
            "ALICE",
            "--email",
            "x@example.com",
            "--password",
            "long enough pw",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("username is already taken"),
        "{}",
        stderr(&o)
    );
    let o = run_with_stdin(
        &data,
        &[
            "user",
            "create",
            "--username",
            "carol",
            "--email",
            "carol@example.com",
        ],
        "short\n",
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 8"), "{}", stderr(&o));
    let o = run(
        &data,
        &[
            "user",
            "create",
            "--username",
            "dave",
            "--email",
            "dave@example.com",
        ],
    );
    assert!(!o.status.success(), "stdin is empty");

    let o = run(&data, &["user", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&o);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.lines()
            .next()
            .unwrap()
            .starts_with(&format!("{alice}\talice\talice@example.com")),
        "{list}"
    );
    assert!(
        list.contains(&format!("{bob}\tbob\tbob@example.com")),
        "{list}"
    );
    assert!(!list.contains("argon2"), "{list}");

    let o = run_with_stdin(
        &data,
        &["user", "set-password", "bob@example.com"],
        "another passphrase\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&bob));
    let o = run_with_stdin(
        &data,
        &["user", "set-password", "nobody"],
        "another passphrase\n",
    );
    assert!(!o.status.success());

    let o = run(&data, &["user", "delete", "alice"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["user", "delete", &alice]);
    assert!(!o.status.success(), "already deleted");
    let o = run(&data, &["user", "list"]);
    let list = stdout(&o);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains("bob"));
}

#[actix_web::test]
async fn patching_a_user_changes_only_what_is_named_and_disabling_ends_access() {
    let app = spawn_app().await;
    let id = create_user(&app, "patchy").await;
    let (_, secret) = open_session(&app, id, UA).await;
    let p = format!("/admin/users/{id}");
    let r = app
        .admin(
            Method::PATCH,
            &p,
            Some(json!({"name": "Pat", "given_name": "P"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "Pat");
    assert_eq!(v["email"], "patchy@example.com", "untouched");
    // null clears; absent leaves alone.
    let v: Value = app
        .admin(Method::PATCH, &p, Some(json!({"name": null})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], Value::Null);
    assert_eq!(v["given_name"], "P");
    // Bad fields: 400; unknown user: 404; a taken e-mail: 409.
    for body in [
        json!({"status": "gone"}),
        json!({"email": "nope"}),
        json!({"scope": "a\"b"}),
        json!({"nick": 1}),
    ] {
        let r = app.admin(Method::PATCH, &p, Some(body.clone())).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let r = app
        .admin(
            Method::PATCH,
            &format!("/admin/users/{}", uuid::Uuid::new_v4()),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    create_user(&app, "other").await;
    let r = app
        .admin(
            Method::PATCH,
            &p,
            Some(json!({"email": "other@example.com"})),
        )
        .await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    // Disabling: the session dies and login is refused.
    assert_eq!(sessions_status(&app, &secret).await, StatusCode::OK);
    let v: Value = app
        .admin(Method::PATCH, &p, Some(json!({"status": "disabled"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "disabled");
    assert_eq!(
        sessions_status(&app, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"login": "patchy", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
