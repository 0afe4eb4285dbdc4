//! The admin API: `/admin/clients` with the admin bearer token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

#[actix_web::test]
async fn the_admin_api_needs_the_admin_token() {
    let app = spawn_app().await;
    assert!(app.admin_token.len() >= 32);
    let wrong = format!("{}x", app.admin_token);
    let almost = &app.admin_token[..app.admin_token.len() - 1];
    let basic = format!("Basic {}", app.admin_token);
    let auths: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(format!("Bearer {wrong}")),
        Some(format!("Bearer {almost}")),
        Some(basic),
        Some(app.admin_token.clone()),
    ];
    for (m, p) in [
        (Method::GET, "/admin/clients"),
        (Method::POST, "/admin/clients"),
        (Method::GET, "/admin/clients/x"),
        (Method::DELETE, "/admin/clients/x"),
        (Method::POST, "/admin/clients/x/secret"),
        (Method::GET, "/admin/keys"),
    ] {
        for auth in &auths {
            let mut r = app.http.request(m.clone(), app.url(p)).json(&json!({}));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.unwrap();
            assert!(header(&r, "www-authenticate")
                .unwrap_or_default()
                .starts_with("Bearer"));
            assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
    // Nothing was created by the attempts above.
    let list = app.listed_clients().await;
    assert!(list.is_empty(), "{list:?}");
    // The scheme name is case-insensitive.
    let r = app
        .http
        .get(app.url("/admin/clients"))
        .header("authorization", format!("bearer {}", app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn create_list_get_delete_a_client() {
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "name": "Orders service",
                "scope": "orders:read orders:write",
                "audiences": ["https://orders.example"],
                "access_token_ttl": 600
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let created: Value = r.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("tes_cl_"), "{id}");
    assert!(
        secret.starts_with("tes_cs_") && secret.len() >= 7 + 43,
        "256-bit secret: {secret}"
    );
    assert_eq!(created["name"], "Orders service");
    assert_eq!(created["public"], false);
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert_eq!(created["scope"], "orders:read orders:write");
    assert_eq!(created["access_token_ttl"], 600);
    assert!(time::OffsetDateTime::parse(
        created["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert!(!created.to_string().contains("secret_hash"));

    // The secret works.
    let c = TestClient {
        id: id.clone(),
        secret: secret.clone(),
    };
    let body = app.token_with(&c, &[]).await;
    assert_eq!(body["expires_in"], 600);

    // Listed and fetched, never with the secret.
    let list = app.listed_clients().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["client_id"], id.as_str());
    let r = app
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: Value = r.json().await.unwrap();
    assert!(got.get("client_secret").is_none(), "{got}");
    let mut without_secret = created.clone();
    without_secret
        .as_object_mut()
        .unwrap()
        .remove("client_secret");
    assert_eq!(got, without_secret);
    assert!(!list.iter().any(|c| c.to_string().contains(&secret)));

    // Delete: gone from the API and from authentication.
    let r = app
        .admin(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .admin(Method::GET, &format!("/admin/clients/{id}"), None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .admin(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let list = app.listed_clients().await;
    assert!(list.is_empty());
}

#[actix_web::test]
async fn a_chosen_id_is_kept_and_a_duplicate_is_409() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"client_id": "billing", "scope": "read"}))
        .await;
    assert_eq!(c.id, "billing");
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "billing", "scope": "write"})),
        )
        .await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    // The original is untouched: same secret, same scope.
    let body = app.token_with(&c, &[]).await;
    assert_eq!(body["scope"], "read");
}

#[actix_web::test]
async fn invalid_fields_are_400_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"client_id": "has space"}), "client_id"),
        (json!({"client_id": ""}), "client_id"),
        (json!({"client_id": "x".repeat(129)}), "client_id"),
        (json!({"client_id": "caf\u{e9}"}), "client_id"),
        (json!({"scope": "bad\"scope"}), "scope"),
        (json!({"audiences": ["has space"]}), "audiences"),
        (json!({"introspect_audiences": [""]}), "audiences"),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "redirect_uris",
        ),
        (json!({"redirect_uris": ["not a uri"]}), "redirect_uris"),
        (json!({"access_token_ttl": 0}), "access_token_ttl"),
        (json!({"access_token_ttl": 86_401}), "access_token_ttl"),
        (
            json!({"public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (json!({"name": "line\nbreak"}), "name"),
    ];
    for (spec, field) in cases {
        let r = app
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        let v = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{spec}: {v}"
        );
    }
    // Malformed JSON, unknown fields and wrong types are 400 JSON errors too.
    for spec in [
        json!({"unknown_field": 1}),
        json!({"grant_types": ["password"]}),
        json!({"access_token_format": "xml"}),
        json!({"scope": 5}),
        json!([]),
    ] {
        let r = app
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    for (ct, body) in [
        ("application/json", "{not json"),
        ("text/plain", "{}"),
        ("application/json", ""),
    ] {
        let r = app
            .http
            .post(app.url("/admin/clients"))
            .bearer_auth(&app.admin_token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let list = app.listed_clients().await;
    assert!(list.is_empty(), "nothing was created: {list:?}");
}

#[actix_web::test]
async fn rotating_a_secret_retires_the_old_one() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let before = app.get_token(&c).await;
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/clients/{}/secret", c.id),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["client_id"], c.id.as_str());
    let new = TestClient {
        id: c.id.clone(),
        secret: v["client_secret"].as_str().unwrap().to_string(),
    };
    assert_ne!(new.secret, c.secret);

    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = app.introspect_with(&c, &[("token", &before)]).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let after = app.get_token(&new).await;
    app.assert_active(&new, &after).await;
    // Tokens issued under the old secret stay valid.
    app.assert_active(&new, &before).await;

    let r = app
        .admin(Method::POST, "/admin/clients/nobody/secret", None)
        .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let public = app
        .create_client(json!({"public": true, "redirect_uris": ["https://app.example/cb"]}))
        .await;
    assert!(public.secret.is_empty(), "a public client has no secret");
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/clients/{}/secret", public.id),
            None,
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
}

#[actix_web::test]
async fn list_is_in_creation_order() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        app.clock.advance(1);
        ids.push(
            app.create_client(json!({"client_id": format!("c{}", 5 - i)}))
                .await
                .id,
        );
    }
    let list = app.listed_clients().await;
    let got: Vec<&str> = list
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
}
