//! Entities, API keys and the entity authentication-token API (SPEC §5):
//! every status and the permission matrix.

mod admin;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, header, spawn_app, TestApp, TestClient};
use crate::sessions::{create_user, user_token};

struct Member {
    id: uuid::Uuid,
    token: String,
}

struct Tenant {
    id: String,
    apikey: String,
}

async fn member(app: &TestApp, name: &str) -> Member {
    let id = create_user(app, name).await;
    Member {
        id,
        token: user_token(app, id, None).await,
    }
}

async fn entity(app: &TestApp, name: &str) -> Tenant {
    let r = app
        .admin(Method::POST, "/admin/entities", Some(json!({"name": name})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let e: Value = r.json().await.unwrap();
    let id = e["id"].as_str().unwrap().to_string();
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/entities/{id}/apikeys"),
            Some(json!({"name": "backend"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let k: Value = r.json().await.unwrap();
    let apikey = k["apikey"].as_str().unwrap().to_string();
    assert!(apikey.starts_with("tes_ak_"), "{apikey}");
    Tenant { id, apikey }
}

async fn join(app: &TestApp, e: &Tenant, m: &Member, role: &str) {
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/entities/{}/members/{}", e.id, m.id),
            Some(json!({"role": role})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

fn path(e: &Tenant, target: uuid::Uuid) -> String {
    format!("/entities/{}/users/{target}/authentication-token", e.id)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.http.request(method, app.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

fn creds<'a>(e: &'a Tenant, m: &'a Member, id: &'a str) -> [(&'a str, &'a str); 3] {
    [("apikey", &e.apikey), ("userid", id), ("token", &m.token)]
}

async fn introspector(app: &TestApp) -> TestClient {
    app.create_client(json!({"introspect_any": true})).await
}

#[actix_web::test]
async fn a_member_manages_their_own_token_through_its_whole_life() {
    let app = spawn_app().await;
    let e = entity(&app, "Acme").await;
    let alice = member(&app, "alice").await;
    join(&app, &e, &alice, "member").await;
    let id = alice.id.to_string();
    let h = creds(&e, &alice, &id);
    let p = path(&e, alice.id);
    let rs = introspector(&app).await;

    // None yet.
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // Create (no body): the secret once, with a default expiry.
    let r = call(&app, Method::POST, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let created: Value = r.json().await.unwrap();
    let secret = created["authenticationToken"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tes_et_"));
    assert_eq!(created["entity_id"], e.id.as_str());
    assert_eq!(created["user_id"], id.as_str());
    assert_eq!(created["flags"], json!([]));

    // Introspectable, with the entity and flags.
    let v = app.assert_active(&rs, &secret).await;
    assert_eq!(v["token_use"], "entity_token");
    assert_eq!(v["entity_id"], e.id.as_str());
    assert_eq!(v["sub"], id.as_str());

    // A second create: 409.
    let r = call(&app, Method::POST, &p, &h, None).await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;

    // GET shows metadata, never the secret.
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["id"], created["id"]);
    assert!(got.get("authenticationToken").is_none());
    assert!(!got.to_string().contains(&secret));

    // PATCH flags and expiry.
    let exp = tessera_actors::clock::rfc3339(app.now() + 7 * 86_400);
    let r = call(
        &app,
        Method::PATCH,
        &p,
        &h,
        Some(json!({"flags": ["read", "billing:write"], "expiry": exp})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["flags"], json!(["read", "billing:write"]));
    assert_eq!(patched["expires_at"], exp.as_str());
    let v = app.assert_active(&rs, &secret).await;
    assert_eq!(v["flags"], json!(["read", "billing:write"]));
    assert_eq!(v["exp"], app.now() + 7 * 86_400);

    // The entity token itself proves the acting user.
    let with_et = [
        ("apikey", e.apikey.as_str()),
        ("userid", id.as_str()),
        ("token", secret.as_str()),
    ];
    let r = call(&app, Method::GET, &p, &with_et, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let used: Value = r.json().await.unwrap();
    assert!(used["last_used_at"].is_string(), "{used}");

    // Refresh: a new secret, the old one dead, flags kept.
    let r = call(
        &app,
        Method::POST,
        &format!("{p}/refresh"),
        &h,
        Some(json!({"authenticationToken": secret})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    let new_secret = refreshed["authenticationToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(refreshed["flags"], json!(["read", "billing:write"]));
    app.assert_inactive(&rs, &secret).await;
    app.assert_active(&rs, &new_secret).await;
    // The old secret no longer refreshes.
    let r = call(
        &app,
        Method::POST,
        &format!("{p}/refresh"),
        &h,
        Some(json!({"authenticationToken": secret})),
    )
    .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_token").await;

    // Delete: revoked before the answer; then 404.
    let r = call(&app, Method::DELETE, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&rs, &new_secret).await;
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call(&app, Method::DELETE, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // And a new one may be made.
    let r = call(&app, Method::POST, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn the_permission_matrix() {
    let app = spawn_app().await;
    let acme = entity(&app, "Acme").await;
    let other = entity(&app, "Other").await;
    let admin = member(&app, "boss").await;
    let alice = member(&app, "alice").await;
    let bob = member(&app, "bob").await;
    let stranger = member(&app, "stranger").await;
    join(&app, &acme, &admin, "admin").await;
    join(&app, &acme, &alice, "member").await;
    join(&app, &acme, &bob, "member").await;
    join(&app, &other, &stranger, "admin").await;
    let p_alice = path(&acme, alice.id);

    let status = |h: Vec<(String, String)>, p: String| {
        let app = &app;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            call(app, Method::POST, &p, &h, None).await.status()
        }
    };
    let h = |key: &str, user: &str, token: &str| {
        vec![
            ("apikey".to_string(), key.to_string()),
            ("userid".to_string(), user.to_string()),
            ("token".to_string(), token.to_string()),
        ]
    };

    // Missing headers: 401.
    for missing in 0..3 {
        let mut hs = h(&acme.apikey, &alice.id.to_string(), &alice.token);
        hs.remove(missing);
        assert_eq!(status(hs, p_alice.clone()).await, StatusCode::UNAUTHORIZED);
    }
    // Wrong API key, another entity's key, unknown user, someone else's token, garbage token: 401.
    for hs in [
        h("tes_ak_wrong", &alice.id.to_string(), &alice.token),
        h(&other.apikey, &alice.id.to_string(), &alice.token),
        h(
            &acme.apikey,
            &uuid::Uuid::new_v4().to_string(),
            &alice.token,
        ),
        h(&acme.apikey, "not-a-uuid", &alice.token),
        h(&acme.apikey, &alice.id.to_string(), &bob.token),
        h(&acme.apikey, &alice.id.to_string(), "garbage"),
    ] {
        assert_eq!(status(hs, p_alice.clone()).await, StatusCode::UNAUTHORIZED);
    }
    // A member of another entity (right key, their own token): 403.
    assert_eq!(
        status(
            h(&acme.apikey, &stranger.id.to_string(), &stranger.token),
            p_alice.clone()
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // A member on another member: 403.
    assert_eq!(
        status(
            h(&acme.apikey, &bob.id.to_string(), &bob.token),
            p_alice.clone()
        )
        .await,
        StatusCode::FORBIDDEN
    );
    // An entity admin on a member: allowed.
    assert_eq!(
        status(
            h(&acme.apikey, &admin.id.to_string(), &admin.token),
            p_alice.clone()
        )
        .await,
        StatusCode::CREATED
    );
    // Self: allowed (and now 409, the admin made it).
    assert_eq!(
        status(
            h(&acme.apikey, &alice.id.to_string(), &alice.token),
            p_alice.clone()
        )
        .await,
        StatusCode::CONFLICT
    );
    // An admin on someone who is not a member: 404.
    assert_eq!(
        status(
            h(&acme.apikey, &admin.id.to_string(), &admin.token),
            path(&acme, stranger.id)
        )
        .await,
        StatusCode::NOT_FOUND
    );
    // The same checks guard GET, PATCH, DELETE and refresh.
    let hs = h(&acme.apikey, &bob.id.to_string(), &bob.token);
    let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (m, p) in [
        (Method::GET, p_alice.clone()),
        (Method::PATCH, p_alice.clone()),
        (Method::DELETE, p_alice.clone()),
        (Method::POST, format!("{p_alice}/refresh")),
    ] {
        let r = call(&app, m.clone(), &p, &hs, Some(json!({}))).await;
        assert_api_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A revoked API key stops working at once.
    let keys: Vec<Value> = app
        .admin(
            Method::GET,
            &format!("/admin/entities/{}/apikeys", acme.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        !keys[0].to_string().contains(&acme.apikey),
        "never the secret"
    );
    assert!(keys[0]["last_used_at"].is_string(), "{}", keys[0]);
    let r = app
        .admin(
            Method::DELETE,
            &format!(
                "/admin/entities/{}/apikeys/{}",
                acme.id,
                keys[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let hs = h(&acme.apikey, &alice.id.to_string(), &alice.token);
    let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = call(&app, Method::GET, &p_alice, &hs, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn expiry_and_flags_are_validated() {
    let app = spawn_app().await;
    let e = entity(&app, "Acme").await;
    let alice = member(&app, "alice").await;
    join(&app, &e, &alice, "member").await;
    let id = alice.id.to_string();
    let h = creds(&e, &alice, &id);
    let p = path(&e, alice.id);
    // Bad create bodies: 400, nothing created.
    let past = tessera_actors::clock::rfc3339(app.now() - 1);
    let far = tessera_actors::clock::rfc3339(app.now() + 400 * 86_400);
    let long = "x".repeat(65);
    let many: Vec<String> = (0..17).map(|i| format!("f{i}")).collect();
    for body in [
        json!({"expiry": "tomorrow"}),
        json!({"expiry": past}),
        json!({"expiry": far}),
        json!({"flags": [long]}),
        json!({"flags": ["has space"]}),
        json!({"flags": ["dup", "dup"]}),
        json!({"flags": many}),
        json!({"flags": "not-a-list"}),
        json!({"unknown": 1}),
    ] {
        let r = call(&app, Method::POST, &p, &h, Some(body.clone())).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"] == "invalid_field" || v["error"] == "invalid_body",
            "{v}"
        );
    }
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was created");
    // PATCH without a token: 404; with one: the same validation.
    let r = call(&app, Method::PATCH, &p, &h, Some(json!({"flags": ["a"]}))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call(&app, Method::POST, &p, &h, Some(json!({"flags": ["a"]}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = call(&app, Method::PATCH, &p, &h, Some(json!({"expiry": past}))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = call(&app, Method::PATCH, &p, &h, Some(json!({"flags": ["b c"]}))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["flags"],
        json!(["a"]),
        "unchanged"
    );
    // Malformed JSON: 400.
    let r = app
        .http
        .patch(app.url(&p))
        .header("apikey", &e.apikey)
        .header("userid", &id)
        .header("token", &alice.token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[actix_web::test]
async fn an_expired_token_is_gone_and_may_be_recreated() {
    let app = spawn_app().await;
    let e = entity(&app, "Acme").await;
    let alice = member(&app, "alice").await;
    join(&app, &e, &alice, "member").await;
    let id = alice.id.to_string();
    let p = path(&e, alice.id);
    let rs = introspector(&app).await;
    let h = creds(&e, &alice, &id);
    let exp = tessera_actors::clock::rfc3339(app.now() + 60);
    let r = call(&app, Method::POST, &p, &h, Some(json!({"expiry": exp}))).await;
    let secret = r.json::<Value>().await.unwrap()["authenticationToken"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance(61);
    app.assert_inactive(&rs, &secret).await;
    // The sweep forgets it entirely.
    let key = tessera_actors::secret::token_key(&secret);
    assert!(app.engine.tokens.entity_meta(key).is_some());
    app.engine
        .issuer
        .send(tessera_actors::tokens::SweepTokens)
        .await
        .unwrap()
        .unwrap();
    assert!(app.engine.tokens.entity_meta(key).is_none());
    // The acting user's access token lasts an hour; still valid.
    let r = call(&app, Method::GET, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call(&app, Method::POST, &p, &h, None).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn removing_a_member_or_the_entity_revokes_their_tokens() {
    let app = spawn_app().await;
    let e = entity(&app, "Acme").await;
    let alice = member(&app, "alice").await;
    let bob = member(&app, "bob").await;
    join(&app, &e, &alice, "member").await;
    join(&app, &e, &bob, "member").await;
    let rs = introspector(&app).await;
    let mut secrets = Vec::new();
    for m in [&alice, &bob] {
        let id = m.id.to_string();
        let r = call(
            &app,
            Method::POST,
            &path(&e, m.id),
            &creds(&e, m, &id),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        secrets.push(
            r.json::<Value>().await.unwrap()["authenticationToken"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let r = app
        .admin(
            Method::DELETE,
            &format!("/admin/entities/{}/members/{}", e.id, alice.id),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ent: Value = r.json().await.unwrap();
    assert_eq!(ent["members"].as_array().unwrap().len(), 1);
    app.assert_inactive(&rs, &secrets[0]).await;
    app.assert_active(&rs, &secrets[1]).await;
    let r = app
        .admin(Method::DELETE, &format!("/admin/entities/{}", e.id), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.assert_inactive(&rs, &secrets[1]).await;
    let r = app
        .admin(Method::GET, &format!("/admin/entities/{}", e.id), None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
