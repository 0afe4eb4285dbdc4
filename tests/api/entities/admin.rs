//! Entities made from outside the token API: the admin API, and the CLI on a
//! stopped store.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::entity;
use crate::helpers::spawn_app;
use crate::sessions::create_user;

// Moved from entities.rs (was entities::the_admin_entity_api).
#[actix_web::test]
async fn the_admin_entity_api() {
    let app = spawn_app().await;
    // Needs the admin token.
    let r = app
        .http
        .get(app.url("/admin/entities"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Validation.
    for body in [
        json!({"name": ""}),
        json!({"name": "a\u{7}b"}),
        json!({"nom": "x"}),
    ] {
        let r = app
            .admin(Method::POST, "/admin/entities", Some(body.clone()))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let a = entity(&app, "A").await;
    app.clock.advance(1);
    let b = entity(&app, "B").await;
    let list: Vec<Value> = app
        .admin(Method::GET, "/admin/entities", None)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.id.as_str(), b.id.as_str()]);
    // Members: unknown user 404, bad role 400, role change.
    let u = create_user(&app, "carol").await;
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/entities/{}/members/{}", a.id, uuid::Uuid::new_v4()),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/entities/{}/members/{u}", a.id),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for role in ["member", "admin"] {
        let r = app
            .admin(
                Method::PUT,
                &format!("/admin/entities/{}/members/{u}", a.id),
                Some(json!({"role": role})),
            )
            .await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["members"],
            json!([{"user_id": u, "username": "carol", "role": role}])
        );
    }
    let r = app
        .admin(
            Method::DELETE,
            &format!("/admin/entities/{}/members/{}", b.id, u),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not a member of B");
    // API keys of an unknown entity: 404.
    let r = app
        .admin(
            Method::GET,
            &format!("/admin/entities/{}/apikeys", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .admin(Method::GET, "/admin/entities/not-a-uuid", None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

// Moved from entities.rs (was entities::cli_made_entities_serve_and_entity_tokens_survive_kill_9).
/// The CLI sets up an entity on a stopped store; the server then serves
/// it, and an entity token survives `kill -9`.
#[actix_web::test]
async fn cli_made_entities_serve_and_entity_tokens_survive_kill_9() {
    use crate::process::{run, stderr, stdout, Server};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let line = |o: &std::process::Output, prefix: &str| -> String {
        stdout(o)
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {prefix} in {}", stdout(o)))
    };
    let mut create = crate::process::tessera(&data);
    let o = create
        .args([
            "user",
            "create",
            "--username",
            "erin",
            "--email",
            "erin@example.com",
            "--password",
            "correct horse battery staple",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["entity", "create", "--name", "Initech"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let entity_id = stdout(&o).split('\t').next().unwrap().trim().to_string();
    let o = run(
        &data,
        &[
            "entity",
            "add-member",
            &entity_id,
            "erin",
            "--role",
            "admin",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &["entity", "add-member", &entity_id, "nobody"]);
    assert!(!o.status.success(), "unknown user");
    let o = run(&data, &["entity", "list"]);
    assert!(stdout(&o).contains("erin:admin"), "{}", stdout(&o));
    let o = run(&data, &["apikey", "create", &entity_id, "--name", "web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let apikey = line(&o, "apikey:");
    let o = run(&data, &["apikey", "list", &entity_id]);
    assert!(stdout(&o).contains("web") && !stdout(&o).contains(&apikey));
    let o = run(
        &data,
        &["client", "create", "--client-id", "rs", "--introspect-any"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let rs_secret = line(&o, "client_secret:");

    let s = Server::start(&data, &dir.path().join("serve1.log"));
    let http = crate::helpers::http_client();
    // Log in, make a personal token, trade it for an access token.
    let r = http
        .post(s.url("/auth/login"))
        .json(&json!({"login": "erin", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.contains("tessera_session"))
        .unwrap();
    let pat: Value = http
        .put(s.url("/api/users/token"))
        .header("cookie", &cookie)
        .json(&json!({"scope": "openid"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at: Value = http
        .post(s.url("/api/oauth/token"))
        .json(&json!({"client_id": "tessera-account", "grant_type": "refresh_token", "refresh_token": pat["token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = at["access_token"].as_str().unwrap().to_string();
    let user_id = {
        let o: Value = http
            .get(s.url("/sessions/session"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        o["user"]["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{o}"))
    };
    let p = format!("/entities/{entity_id}/users/{user_id}/authentication-token");
    let r = http
        .post(s.url(&p))
        .header("apikey", &apikey)
        .header("userid", &user_id)
        .header("token", &access)
        .json(&json!({"flags": ["ops"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let et = r.json::<Value>().await.unwrap()["authenticationToken"]
        .as_str()
        .unwrap()
        .to_string();
    s.kill();

    let s = Server::start(&data, &dir.path().join("serve2.log"));
    let v: Value = http
        .post(s.url("/oauth2/token/introspect"))
        .basic_auth("rs", Some(&rs_secret))
        .form(&[("token", et.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["entity_id"], entity_id.as_str());
    assert_eq!(v["flags"], json!(["ops"]));
    // The entity token itself proves the user after the restart.
    let r = http
        .get(s.url(&p))
        .header("apikey", &apikey)
        .header("userid", &user_id)
        .header("token", &et)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.kill();
}
