//! RFC 7592: reading, replacing and deleting a registration with its
//! registration access token, and every misuse of that token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;

fn uri_and_token(body: &Value) -> (String, String) {
    (
        body["registration_client_uri"]
            .as_str()
            .unwrap()
            .to_string(),
        body["registration_access_token"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Assert the one `401 invalid_token` every misuse gets.
async fn assert_invalid_token(r: reqwest::Response) {
    let www = header(&r, "www-authenticate").expect("a Bearer challenge");
    assert!(www.contains("invalid_token"), "{www}");
    refused(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn read_answers_the_registration() {
    let app = open_app().await;
    let body = register(&app, &loopback_metadata()).await;
    let (uri, token) = uri_and_token(&body);
    let r = manage_call(&app, Method::GET, &uri, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let read: Value = r.json().await.unwrap();
    assert_eq!(read, body, "reading answers what registering did");
}

#[actix_web::test]
async fn token_misuse_is_one_401() {
    let app = open_app().await;
    let a = register(&app, &loopback_metadata()).await;
    let b = register(&app, &loopback_metadata()).await;
    let (uri_a, token_a) = uri_and_token(&a);
    let (uri_b, token_b) = uri_and_token(&b);
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| {
            let mut m = loopback_metadata();
            m["client_id"] = a["client_id"].clone();
            m
        });
        // No token, a made-up one, the other client's, the admin token, a
        // client secret.
        for token in [
            None,
            Some("tes_rat_made_up".to_string()),
            Some(token_b.clone()),
            Some(app.admin_token.clone()),
            Some(String::new()),
        ] {
            let r = manage_call(
                &app,
                method.clone(),
                &uri_a,
                token.as_deref(),
                body.as_ref(),
            )
            .await;
            assert_invalid_token(r).await;
        }
        // A client that does not exist, with a real token.
        let gone = format!("{}/oauth2/register/tes_cl_nobody", app.issuer);
        assert_invalid_token(
            manage_call(&app, method.clone(), &gone, Some(&token_a), body.as_ref()).await,
        )
        .await;
    }
    // Nothing changed for either.
    for (uri, token, body) in [(&uri_a, &token_a, &a), (&uri_b, &token_b, &b)] {
        let r = manage_call(&app, Method::GET, uri, Some(token), None).await;
        let read: Value = r.json().await.unwrap();
        assert_eq!(&read, body);
    }
}

#[actix_web::test]
async fn admin_created_clients_cannot_be_managed_this_way() {
    let app = open_app().await;
    let c = app.create_client(json!({"scope": "read"})).await;
    let uri = format!("{}/oauth2/register/{}", app.issuer, c.id);
    for token in [c.secret.as_str(), app.admin_token.as_str()] {
        assert_invalid_token(manage_call(&app, Method::GET, &uri, Some(token), None).await).await;
        assert_invalid_token(manage_call(&app, Method::DELETE, &uri, Some(token), None).await)
            .await;
    }
    assert!(app.engine.clients.get(&c.id).is_some());
}

#[actix_web::test]
async fn replacing_changes_everything_and_rotates_the_token() {
    let app = open_app().await;
    let body = register(&app, &loopback_metadata()).await;
    let id = body["client_id"].as_str().unwrap().to_string();
    let (uri, token) = uri_and_token(&body);
    let mut m = loopback_metadata();
    m["client_id"] = json!(id);
    m["client_name"] = json!("Renamed");
    m["redirect_uris"] = json!(["http://127.0.0.1:40000/cb", "https://app.example/cb"]);
    m["scope"] = json!("openid");
    m["logo_uri"] = json!("https://app.example/logo.png");
    let r = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let put: Value = r.json().await.unwrap();
    assert_eq!(put["client_id"], id);
    assert_eq!(put["client_name"], "Renamed");
    assert_eq!(put["redirect_uris"], m["redirect_uris"]);
    assert_eq!(put["scope"], "openid");
    assert_eq!(put["logo_uri"], m["logo_uri"]);
    assert_eq!(put["client_id_issued_at"], body["client_id_issued_at"]);
    let (uri2, token2) = uri_and_token(&put);
    assert_eq!(uri2, uri);
    assert_ne!(token2, token, "a new registration access token");
    // The old token stopped working; the new one works.
    assert_invalid_token(manage_call(&app, Method::GET, &uri, Some(&token), None).await).await;
    let r = manage_call(&app, Method::GET, &uri, Some(&token2), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The record changed.
    let c = app.engine.clients.get(&id).unwrap();
    assert_eq!(c.name, "Renamed");
    assert_eq!(c.redirect_uris.len(), 2);
    // Leaving a field out removes it.
    let mut m2 = loopback_metadata();
    m2["client_id"] = json!(id);
    let put2: Value = manage_call(&app, Method::PUT, &uri, Some(&token2), Some(&m2))
        .await
        .json()
        .await
        .unwrap();
    assert!(put2.get("logo_uri").is_none(), "{put2}");
}

#[actix_web::test]
async fn replacing_is_checked_like_registering() {
    let app = open_app().await;
    let body = register(&app, &loopback_metadata()).await;
    let id = body["client_id"].as_str().unwrap().to_string();
    let (uri, token) = uri_and_token(&body);
    let mut m = loopback_metadata();
    // No client_id, another one.
    let r = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await;
    assert!(
        refused(r, StatusCode::BAD_REQUEST, "invalid_client_metadata")
            .await
            .contains("client_id")
    );
    m["client_id"] = json!("tes_cl_other");
    let r = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await;
    assert!(
        refused(r, StatusCode::BAD_REQUEST, "invalid_client_metadata")
            .await
            .contains("client_id")
    );
    m["client_id"] = json!(id);
    // A wrong client_secret.
    m["client_secret"] = json!("tes_cs_guess");
    let r = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await;
    assert!(
        refused(r, StatusCode::BAD_REQUEST, "invalid_client_metadata")
            .await
            .contains("client_secret")
    );
    m.as_object_mut().unwrap().remove("client_secret");
    // Bad metadata, and a grant the policy does not allow.
    m["redirect_uris"] = json!(["http://evil.example/cb"]);
    refused(
        manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await,
        StatusCode::BAD_REQUEST,
        "invalid_redirect_uri",
    )
    .await;
    m["redirect_uris"] = loopback_metadata()["redirect_uris"].clone();
    m["grant_types"] = json!(["client_credentials"]);
    m["response_types"] = json!([]);
    refused(
        manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m)).await,
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
    )
    .await;
    // A refused change leaves the registration and its token as they were.
    let r = manage_call(&app, Method::GET, &uri, Some(&token), None).await;
    let read: Value = r.json().await.unwrap();
    assert_eq!(read, body);
}

#[actix_web::test]
async fn a_secret_survives_a_change_and_a_new_method_gets_one() {
    let app = open_app().await;
    let mut m = json!({
        "redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let body = register(&app, &m).await;
    let id = body["client_id"].as_str().unwrap().to_string();
    let secret = body["client_secret"].as_str().unwrap().to_string();
    let (uri, token) = uri_and_token(&body);
    m["client_id"] = json!(id);
    m["client_secret"] = json!(secret);
    m["token_endpoint_auth_method"] = json!("client_secret_post");
    let put: Value = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        put.get("client_secret").is_none(),
        "the secret stays: {put}"
    );
    let c = app.engine.clients.get(&id).unwrap();
    assert!(tessera_actors::secret::verify_secret(
        &secret,
        c.secret_hash.as_ref().unwrap()
    ));
    // Public now: the secret is gone.
    let (_, token) = uri_and_token(&put);
    m.as_object_mut().unwrap().remove("client_secret");
    m["token_endpoint_auth_method"] = json!("none");
    let put: Value = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m))
        .await
        .json()
        .await
        .unwrap();
    assert!(app.engine.clients.get(&id).unwrap().secret_hash.is_none());
    // Confidential again: a new secret, shown once.
    let (_, token) = uri_and_token(&put);
    m["token_endpoint_auth_method"] = json!("client_secret_basic");
    let put: Value = manage_call(&app, Method::PUT, &uri, Some(&token), Some(&m))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = put["client_secret"].as_str().expect("a new secret");
    assert_ne!(new_secret, secret);
}

#[actix_web::test]
async fn deleting_ends_the_client() {
    let app = open_app().await;
    let body = register(&app, &loopback_metadata()).await;
    let id = body["client_id"].as_str().unwrap().to_string();
    let (uri, token) = uri_and_token(&body);
    let r = manage_call(&app, Method::DELETE, &uri, Some(&token), None).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(app.engine.clients.get(&id).is_none());
    // The token died with it: every call is the same 401.
    assert_invalid_token(manage_call(&app, Method::GET, &uri, Some(&token), None).await).await;
    assert_invalid_token(manage_call(&app, Method::DELETE, &uri, Some(&token), None).await).await;
    // And the client is unknown to the authorization endpoint.
    let r = app
        .http
        .get(app.url(&format!(
            "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A33418%2Fcallback"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn the_admin_can_change_any_client() {
    let app = open_app().await;
    let c = app
        .create_client(json!({"scope": "read", "name": "svc"}))
        .await;
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/clients/{}", c.id),
            Some(json!({"scope": "read write", "name": "svc2", "dpop_bound_access_tokens": true})),
        )
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "read write");
    assert_eq!(v["name"], "svc2");
    assert!(
        v.get("client_secret").is_none() || v["client_secret"].is_null(),
        "{v}"
    );
    let rec = app.engine.clients.get(&c.id).unwrap();
    assert!(rec.dpop_bound_access_tokens);
    assert!(tessera_actors::secret::verify_secret(
        &c.secret,
        rec.secret_hash.as_ref().unwrap()
    ));
    // Validation as at creation; unknown ids; an id change.
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/clients/{}", c.id),
            Some(json!({"scope": "bad\u{1}"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .admin(Method::PUT, "/admin/clients/nobody", Some(json!({})))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .admin(
            Method::PUT,
            &format!("/admin/clients/{}", c.id),
            Some(json!({"client_id": "other"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
