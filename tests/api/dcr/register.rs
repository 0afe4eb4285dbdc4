//! `POST /oauth2/register` in each mode, and what it answers.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::configuration::RegistrationMode;

use super::*;
use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn registration_is_closed_by_default_and_not_advertised() {
    let app = spawn_app().await;
    let r = register_call(&app, &loopback_metadata(), None).await;
    let d = refused(r, StatusCode::FORBIDDEN, "access_denied").await;
    assert!(d.contains("closed"), "{d}");
    let doc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
    assert!(app.listed_clients().await.is_empty(), "nothing registered");
}

#[actix_web::test]
async fn open_registration_is_advertised_in_both_documents() {
    let app = open_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["registration_endpoint"],
            format!("{}/oauth2/register", app.issuer)
        );
    }
}

#[actix_web::test]
async fn a_public_client_registers_and_gets_no_secret() {
    let app = open_app().await;
    let body = register(&app, &loopback_metadata()).await;
    let id = body["client_id"].as_str().expect("client_id");
    assert!(body.get("client_secret").is_none(), "{body}");
    assert!(body.get("client_secret_expires_at").is_none(), "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(body["client_name"], "Desktop Assistant");
    assert_eq!(
        body["redirect_uris"],
        json!(["http://127.0.0.1:33418/callback"])
    );
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["scope"], "openid profile offline_access");
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 0);
    let rat = body["registration_access_token"].as_str().unwrap();
    assert!(rat.starts_with("tes_rat_") && rat.len() > 40, "{rat}");
    assert_eq!(
        body["registration_client_uri"],
        format!("{}/oauth2/register/{id}", app.issuer)
    );
    // The directory has it, never first-party.
    let c = app.engine.clients.get(id).expect("registered");
    assert!(!c.first_party);
    assert!(c.is_public());
    assert!(c.registration.is_some());
}

#[actix_web::test]
async fn a_confidential_client_gets_a_secret_that_works() {
    let app = open_app().await;
    let body = register(
        &app,
        &json!({
            "client_name": "Backend",
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    // RFC 7591 §2: the default method is client_secret_basic.
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    let secret = body["client_secret"].as_str().expect("a secret");
    assert!(secret.starts_with("tes_cs_"));
    assert_eq!(body["client_secret_expires_at"], 0);
    // The secret authenticates it (a wrong grant, but a known client).
    let id = body["client_id"].as_str().unwrap();
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_grant", "{b}");
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some("tes_cs_wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn registered_metadata_is_kept_and_answered() {
    let app = open_app().await;
    let mut meta = loopback_metadata();
    for (k, v) in [
        ("logo_uri", json!("https://app.example/logo.png")),
        ("client_uri", json!("https://app.example/")),
        ("policy_uri", json!("https://app.example/privacy")),
        ("tos_uri", json!("https://app.example/terms")),
        ("contacts", json!(["ops@app.example"])),
        ("software_id", json!("4NRB1-0XZABZI9E6-5SM3R")),
        ("software_version", json!("2.1.0")),
        (
            "post_logout_redirect_uris",
            json!(["http://127.0.0.1:33418/bye"]),
        ),
        ("backchannel_logout_uri", json!("https://app.example/bcl")),
        ("backchannel_logout_session_required", json!(true)),
        // Not understood: ignored (RFC 7591 §2).
        ("x_vendor_extension", json!({"a": 1})),
        ("client_name#ja-Jpan-JP", json!("クライアント名")),
    ] {
        meta[k] = v;
    }
    let body = register(&app, &meta).await;
    for k in [
        "logo_uri",
        "client_uri",
        "policy_uri",
        "tos_uri",
        "contacts",
        "software_id",
        "software_version",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "backchannel_logout_session_required",
    ] {
        assert_eq!(body[k], meta[k], "{k}: {body}");
    }
    assert!(body.get("x_vendor_extension").is_none());
    let c = app
        .engine
        .clients
        .get(body["client_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(c.about.software_version.as_deref(), Some("2.1.0"));
    assert_eq!(
        c.backchannel_logout_uri.as_deref(),
        Some("https://app.example/bcl")
    );
    assert!(c.backchannel_logout_session_required);
}

#[actix_web::test]
async fn scope_defaults_to_the_policy_and_is_bounded_by_it() {
    let app = spawn_app_with(|s| {
        open(s);
        s.registration.scope = "openid read".into();
    })
    .await;
    let mut meta = loopback_metadata();
    meta.as_object_mut().unwrap().remove("scope");
    let body = register(&app, &meta).await;
    assert_eq!(body["scope"], "openid read");
    meta["scope"] = json!("openid write");
    let d = refused(
        register_call(&app, &meta, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
    )
    .await;
    assert!(d.starts_with("scope:") && d.contains("write"), "{d}");
}

#[actix_web::test]
async fn open_mode_is_limited_per_address() {
    let app = spawn_app_with(|s| {
        open(s);
        s.registration.open_per_hour = 3;
    })
    .await;
    for _ in 0..3 {
        register(&app, &loopback_metadata()).await;
    }
    let r = register_call(&app, &loopback_metadata(), None).await;
    let retry = header(&r, "retry-after").expect("Retry-After");
    assert!(retry.parse::<i64>().unwrap() >= 1);
    refused(r, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert_eq!(app.listed_clients().await.len(), 3);
    // An hour later the address may register again.
    app.clock.advance(3601);
    register(&app, &loopback_metadata()).await;
}

#[actix_web::test]
async fn initial_token_mode_wants_a_token() {
    let app = spawn_app_with(|s| s.registration.mode = RegistrationMode::InitialToken).await;
    let r = register_call(&app, &loopback_metadata(), None).await;
    let www = header(&r, "www-authenticate").expect("a challenge");
    assert!(www.starts_with("Bearer"), "{www}");
    refused(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let r = register_call(&app, &loopback_metadata(), Some("tes_iat_made_up")).await;
    refused(r, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let t = initial_token(&app, json!({})).await;
    let body =
        registered(register_call(&app, &loopback_metadata(), t["token"].as_str()).await).await;
    assert!(body["client_id"].is_string());
    // Discovery names the endpoint in this mode too.
    let doc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["registration_endpoint"].is_string());
}

#[actix_web::test]
async fn registrations_are_counted() {
    let app = open_app().await;
    register(&app, &loopback_metadata()).await;
    let bad =
        json!({"redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"});
    register_call(&app, &bad, None).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The recorder is the process's: other tests count too.
    for outcome in ["registered", "invalid"] {
        let line = format!("tessera_client_registrations_total{{outcome=\"{outcome}\"}} ");
        let n: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{line} in {text}"))
            .parse()
            .unwrap();
        assert!(n >= 1.0, "{outcome}: {n}");
    }
}
