//! Every admin action leaves exactly one audit record, with who, what, to
//! what and how it ended; a caller without the admin token leaves none.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_actors::audit::SweepAudit;

use super::{assert_api_record, audit, one_record};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn call(
    app: &TestApp,
    method: Method,
    path: impl AsRef<str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = app.admin(method, path.as_ref(), body).await;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn every_client_action_leaves_one_record() {
    let app = spawn_app().await;
    let ((s, c), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "audited", "grant_types": ["client_credentials"]})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_api_record(&rec, "client.create", Some("audited"), "ok");
    // The secret is never in the log.
    let secret = c["client_secret"].as_str().expect("a secret");
    assert!(!rec.to_string().contains(secret));

    let ((s, body), rec) = one_record(&app, || {
        call(&app, Method::POST, "/admin/clients/audited/secret", None)
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_api_record(&rec, "client.secret.rotate", Some("audited"), "ok");
    assert!(!rec
        .to_string()
        .contains(body["client_secret"].as_str().unwrap()));

    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::PUT,
            "/admin/clients/audited",
            Some(json!({"grant_types": ["client_credentials"], "name": "renamed"})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_api_record(&rec, "client.update", Some("audited"), "ok");

    let ((s, _), rec) = one_record(&app, || {
        call(&app, Method::DELETE, "/admin/clients/audited", None)
    })
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_api_record(&rec, "client.delete", Some("audited"), "ok");
}

#[actix_web::test]
async fn refused_actions_are_recorded_as_refused() {
    let app = spawn_app().await;
    // Unknown client.
    let ((s, _), rec) = one_record(&app, || {
        call(&app, Method::DELETE, "/admin/clients/nobody", None)
    })
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_api_record(&rec, "client.delete", Some("nobody"), "refused");
    // The built-in account client may not go.
    let ((s, _), rec) = one_record(&app, || {
        call(&app, Method::DELETE, "/admin/clients/tessera-account", None)
    })
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_api_record(&rec, "client.delete", Some("tessera-account"), "refused");
    assert!(
        rec["detail"].as_str().unwrap().contains("built-in"),
        "{rec}"
    );
    // A weak password: refused, and the user was not created.
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            "/admin/users",
            Some(json!({"username": "weak", "email": "weak@example.com", "password": "x"})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_api_record(&rec, "user.create", Some("weak"), "refused");
    assert!(app.engine.users.by_login("weak").is_none());
    // An unknown role.
    let (_, u) = call(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({"username": "rolly", "email": "rolly@example.com", "password": "a fine password"})),
    )
    .await;
    let id = u["id"].as_str().unwrap().to_string();
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::PUT,
            format!("/admin/users/{id}/roles"),
            Some(json!({"roles": ["root"]})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_api_record(&rec, "user.roles.set", Some(&id), "refused");
    assert!(app.engine.users.by_login("rolly").unwrap().roles.is_empty());
    // A malformed revocation request.
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            "/admin/tokens/revoke",
            Some(json!({"token": "a", "jti": "b"})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_api_record(&rec, "token.revoke", None, "refused");
}

#[actix_web::test]
async fn entity_key_and_registration_token_actions_are_recorded() {
    let app = spawn_app().await;
    let ((s, e), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            "/admin/entities",
            Some(json!({"name": "Acme"})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let eid = e["id"].as_str().unwrap().to_string();
    assert_api_record(&rec, "entity.create", Some(&eid), "ok");
    let ((s, k), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            format!("/admin/entities/{eid}/apikeys"),
            Some(json!({"name": "ci"})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let kid = k["id"].as_str().unwrap().to_string();
    assert_api_record(&rec, "apikey.create", Some(&format!("{eid}/{kid}")), "ok");
    assert!(!rec.to_string().contains(k["apikey"].as_str().unwrap()));
    let ((s, _), rec) = one_record(&app, || {
        call(
            &app,
            Method::DELETE,
            format!("/admin/entities/{eid}/apikeys/{kid}"),
            None,
        )
    })
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_api_record(&rec, "apikey.revoke", Some(&format!("{eid}/{kid}")), "ok");
    let ((s, _), rec) = one_record(&app, || {
        call(&app, Method::DELETE, format!("/admin/entities/{eid}"), None)
    })
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_api_record(&rec, "entity.delete", Some(&eid), "ok");

    let ((s, keys), rec) = one_record(&app, || {
        call(&app, Method::POST, "/admin/keys/rotate", None)
    })
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_api_record(&rec, "key.rotate", None, "ok");
    let current = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "current")
        .expect("a current key");
    assert_eq!(
        rec["detail"],
        format!("current kid: {}", current["kid"].as_str().unwrap())
    );

    let ((s, t), rec) = one_record(&app, || {
        call(
            &app,
            Method::POST,
            "/admin/registration-tokens",
            Some(json!({})),
        )
    })
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let tid = t["id"].as_str().unwrap().to_string();
    assert_api_record(&rec, "registration_token.create", Some(&tid), "ok");
    assert!(!rec.to_string().contains(t["token"].as_str().unwrap()));
}

#[actix_web::test]
async fn calls_without_the_admin_token_get_401_and_leave_nothing() {
    let app = spawn_app().await;
    let before = audit(&app).await;
    for (method, path, body) in [
        (Method::POST, "/admin/clients", Some(json!({}))),
        (Method::DELETE, "/admin/clients/x", None),
        (Method::POST, "/admin/keys/rotate", None),
        (
            Method::PUT,
            "/admin/users/x/roles",
            Some(json!({"roles": []})),
        ),
        (Method::DELETE, "/admin/users/x/totp", None),
        (Method::DELETE, "/admin/users/x/sessions", None),
        (Method::DELETE, "/admin/sessions/x", None),
        (
            Method::POST,
            "/admin/tokens/revoke",
            Some(json!({"jti": "x"})),
        ),
        (
            Method::POST,
            "/admin/tokens/lookup",
            Some(json!({"jti": "x"})),
        ),
        (Method::GET, "/admin/audit", None),
    ] {
        for auth in [None, Some("wrong")] {
            let mut r = app.http.request(method.clone(), app.url(path));
            if let Some(t) = auth {
                r = r.bearer_auth(t);
            }
            if let Some(b) = &body {
                r = r.json(b);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    assert_eq!(audit(&app).await, before);
}

#[actix_web::test]
async fn the_log_pages_newest_first_and_filters() {
    let app = spawn_app().await;
    for i in 0..5 {
        let (s, _) = call(
            &app,
            Method::POST,
            "/admin/entities",
            Some(json!({"name": format!("e{i}")})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = call(&app, Method::POST, "/admin/keys/rotate", None).await;
    assert_eq!(s, StatusCode::OK);
    let all = audit(&app).await;
    assert_eq!(all[0]["action"], "key.rotate");
    let ids: Vec<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    // Pages of two, following the cursor, give the same records.
    let mut paged = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(n) => format!("/admin/audit?limit=2&before={n}"),
            None => "/admin/audit?limit=2".to_string(),
        };
        let (s, page) = call(&app, Method::GET, &path, None).await;
        assert_eq!(s, StatusCode::OK);
        let recs = page["records"].as_array().unwrap();
        assert!(recs.len() <= 2);
        paged.extend(recs.iter().cloned());
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
        assert!(paged.len() <= all.len());
    }
    assert_eq!(paged, all);

    let (_, page) = call(&app, Method::GET, "/admin/audit?action=entity", None).await;
    let recs = page["records"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| r["action"] == "entity.create"));
    let (_, page) = call(&app, Method::GET, "/admin/audit?action=key.rotate", None).await;
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let (_, page) = call(&app, Method::GET, "/admin/audit?actor=someone-else", None).await;
    assert!(page["records"].as_array().unwrap().is_empty());
    let (_, page) = call(&app, Method::GET, "/admin/audit?actor=admin-token", None).await;
    assert_eq!(page["records"].as_array().unwrap().len(), all.len());

    for bad in [
        "/admin/audit?before=nothex",
        "/admin/audit?limit=0",
        "/admin/audit?limit=501",
    ] {
        let (s, _) = call(&app, Method::GET, bad, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[actix_web::test]
async fn retention_keeps_the_newest_rows_and_drops_old_ones() {
    let app = spawn_app_with(|s| {
        s.audit.keep_rows = 3;
        s.audit.keep_days = 1;
    })
    .await;
    for i in 0..5 {
        let (s, _) = call(
            &app,
            Method::POST,
            "/admin/entities",
            Some(json!({"name": format!("r{i}")})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let before = audit(&app).await;
    assert_eq!(before.len(), 5);
    let gone = app.engine.audit.send(SweepAudit).await.unwrap().unwrap();
    assert_eq!(gone, 2);
    assert_eq!(audit(&app).await, before[..3].to_vec());
    // Two days on, every record is past keep_days.
    app.clock.advance(2 * 86_400);
    let gone = app.engine.audit.send(SweepAudit).await.unwrap().unwrap();
    assert_eq!(gone, 3);
    assert!(audit(&app).await.is_empty());
}

/// The real binary, `kill -9` right after an action answered: the record
/// is there after the restart.
#[actix_web::test]
async fn the_log_survives_kill_9_and_a_restart() {
    use crate::helpers::{http_client, suite_backend, TestBackend, TestDb};
    use crate::process::{Server, ADMIN_TOKEN};
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let db = (suite_backend() == TestBackend::Postgres).then(TestDb::create);
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(db) = &db {
        env.push(("TESSERA_STORE__BACKEND", "postgres"));
        env.push(("TESSERA_STORE__DATABASE_URL", db.url.as_str()));
    }
    let http = http_client();
    let server = Server::start_with_env(&data, &dir.path().join("run0.log"), &env);
    let r = http
        .post(server.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"client_id": "survivor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .delete(server.url("/admin/clients/ghost"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    server.kill();

    let server = Server::start_with_env(&data, &dir.path().join("run1.log"), &env);
    let page: Value = http
        .get(server.url("/admin/audit"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recs = page["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2, "{page}");
    assert_eq!(recs[0]["action"], "client.delete");
    assert_eq!(recs[0]["target"], "ghost");
    assert_eq!(recs[0]["outcome"], "refused");
    assert_eq!(recs[1]["action"], "client.create");
    assert_eq!(recs[1]["target"], "survivor");
    assert_eq!(recs[1]["outcome"], "ok");
}
