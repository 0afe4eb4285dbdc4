//! Every way the metadata is refused: `invalid_redirect_uri` for redirect
//! URIs, `invalid_client_metadata` for the rest, each naming the field;
//! nothing is registered by a refused request.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::helpers::spawn_app_with;

/// The loopback metadata with `field` set to `value` (`null` removes it).
fn with(field: &str, value: Value) -> Value {
    let mut m = loopback_metadata();
    if value.is_null() {
        m.as_object_mut().unwrap().remove(field);
    } else {
        m[field] = value;
    }
    m
}

async fn assert_refused(app: &TestApp, body: &Value, code: &str, names: &str) {
    let before = app.listed_clients().await.len();
    let r = register_call(app, body, None).await;
    let d = refused(r, StatusCode::BAD_REQUEST, code).await;
    assert!(d.contains(names), "{body} -> {d:?} should name {names}");
    assert_eq!(
        app.listed_clients().await.len(),
        before,
        "nothing registered"
    );
}

#[actix_web::test]
async fn redirect_uris_must_be_https_loopback_or_private_use() {
    let app = open_app().await;
    for bad in [
        json!(["http://app.example/cb"]),
        json!(["https://app.example/cb#fragment"]),
        json!(["https://*.example.com/cb"]),
        json!(["https://app.example/*"]),
        json!(["javascript:alert(1)"]),
        json!(["data:text/html,<script>alert(1)</script>"]),
        json!(["file:///etc/passwd"]),
        json!(["/relative/cb"]),
        json!(["https://"]),
        json!(["https://user@app.example/cb"]),
        json!(["https://app.example/a b"]),
        json!([""]),
        json!(["https://ok.example/cb", "http://10.0.0.1/cb"]),
    ] {
        assert_refused(
            &app,
            &with("redirect_uris", bad),
            "invalid_redirect_uri",
            "redirect_uris",
        )
        .await;
    }
    // A code-flow client needs one.
    assert_refused(
        &app,
        &with("redirect_uris", Value::Null),
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
    assert_refused(
        &app,
        &with("redirect_uris", json!([])),
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
    // At most 20.
    let many: Vec<String> = (0..21)
        .map(|i| format!("https://app.example/cb{i}"))
        .collect();
    assert_refused(
        &app,
        &with("redirect_uris", json!(many)),
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
    for good in [
        "https://app.example/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:8123/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        register(&app, &with("redirect_uris", json!([good]))).await;
    }
}

#[actix_web::test]
async fn each_field_of_the_wrong_type_is_named() {
    let app = open_app().await;
    for (field, value) in [
        ("redirect_uris", json!("https://app.example/cb")),
        ("grant_types", json!("authorization_code")),
        ("response_types", json!("code")),
        ("scope", json!(["openid"])),
        ("client_name", json!(12)),
        ("contacts", json!("ops@app.example")),
        ("jwks", json!("not a key set")),
        ("token_endpoint_auth_method", json!(true)),
        ("backchannel_logout_session_required", json!("yes")),
    ] {
        // A wrong type is metadata that cannot be read, even for
        // redirect_uris.
        assert_refused(&app, &with(field, value), "invalid_client_metadata", field).await;
    }
}

#[actix_web::test]
async fn the_body_must_be_a_json_object() {
    let app = open_app().await;
    for (ct, body) in [
        ("application/json", "[1,2]"),
        ("application/json", "{not json"),
        ("application/json", "\"a string\""),
        ("application/x-www-form-urlencoded", "client_name=x"),
        ("text/plain", "{}"),
    ] {
        let r = app
            .http
            .post(app.url("/oauth2/register"))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        refused(r, StatusCode::BAD_REQUEST, "invalid_client_metadata").await;
    }
    let huge = json!({"client_name": "x".repeat(70 * 1024)});
    let r = register_call(&app, &huge, None).await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[actix_web::test]
async fn grants_methods_and_response_types_follow_the_policy() {
    let app = open_app().await;
    let cases = [
        (
            with("grant_types", json!(["client_credentials"])),
            "grant_types",
        ),
        (with("grant_types", json!(["password"])), "grant_types"),
        (with("grant_types", json!(["implicit"])), "grant_types"),
        (
            with(
                "grant_types",
                json!(["urn:ietf:params:oauth:grant-type:token-exchange"]),
            ),
            "grant_types",
        ),
        (with("response_types", json!(["token"])), "response_types"),
        (
            with("response_types", json!(["code id_token"])),
            "response_types",
        ),
        // RFC 7591 §2.1: code needs authorization_code and the reverse.
        (with("response_types", json!([])), "response_types"),
        (
            with("grant_types", json!(["refresh_token"])),
            "response_types",
        ),
        (
            with("token_endpoint_auth_method", json!("tls_client_auth")),
            "token_endpoint_auth_method",
        ),
        (
            with("token_endpoint_auth_method", json!("client_secret_magic")),
            "token_endpoint_auth_method",
        ),
        (with("scope", json!("openid admin")), "scope"),
        (with("scope", json!("openid \u{7f}")), "scope"),
    ];
    for (body, field) in cases {
        assert_refused(&app, &body, "invalid_client_metadata", field).await;
    }
}

#[actix_web::test]
async fn policy_can_allow_more_grants() {
    let app = spawn_app_with(|s| {
        open(s);
        s.registration
            .grant_types
            .push(tessera_actors::domain::GrantType::ClientCredentials);
    })
    .await;
    let body = register(
        &app,
        &json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "openid"}),
    )
    .await;
    assert!(body["client_secret"].is_string(), "{body}");
    // A public client still cannot use client_credentials.
    let b = json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"});
    assert_refused(&app, &b, "invalid_client_metadata", "grant_types").await;
}

#[actix_web::test]
async fn uris_and_keys_are_checked() {
    let app = open_app().await;
    for (field, value) in [
        ("logo_uri", json!("ftp://app.example/logo.png")),
        ("client_uri", json!("not a url")),
        ("policy_uri", json!("https://app.example/p#frag")),
        ("tos_uri", json!("javascript:alert(1)")),
        ("jwks_uri", json!("http://keys.example/jwks")),
        ("backchannel_logout_uri", json!("http://rp.example/bcl")),
        ("backchannel_logout_uri", json!("http://127.0.0.1:9/bcl")),
        (
            "post_logout_redirect_uris",
            json!(["http://rp.example/bye"]),
        ),
        (
            "post_logout_redirect_uris",
            json!(["https://rp.example/bye#x"]),
        ),
        ("contacts", json!(["ok@app.example", "bad\u{7}"])),
        ("software_version", json!("")),
        ("client_name", json!("x".repeat(201))),
        ("id_token_signed_response_alg", json!("none")),
        ("subject_type", json!("pairwise")),
        ("application_type", json!("desktop")),
        ("jwks", json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
        (
            "jwks",
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}),
        ),
    ] {
        assert_refused(&app, &with(field, value), "invalid_client_metadata", field).await;
    }
    // Both key forms at once.
    let mut both = with("jwks_uri", json!("https://keys.example/jwks"));
    both["jwks"] = json!({"keys": []});
    both["token_endpoint_auth_method"] = json!("private_key_jwt");
    assert_refused(&app, &both, "invalid_client_metadata", "jwks").await;
    // private_key_jwt without keys.
    let b = with("token_endpoint_auth_method", json!("private_key_jwt"));
    assert_refused(&app, &b, "invalid_client_metadata", "jwks").await;
    // A signing algorithm that does not fit the method.
    let mut b = with("token_endpoint_auth_method", json!("client_secret_basic"));
    b["token_endpoint_auth_signing_alg"] = json!("RS256");
    assert_refused(
        &app,
        &b,
        "invalid_client_metadata",
        "token_endpoint_auth_signing_alg",
    )
    .await;
}

#[actix_web::test]
async fn software_statements_are_refused() {
    let app = open_app().await;
    let b = with("software_statement", json!("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
    let before = app.listed_clients().await.len();
    let d = refused(
        register_call(&app, &b, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_software_statement",
    )
    .await;
    assert!(d.contains("software statement"), "{d}");
    assert_eq!(app.listed_clients().await.len(), before);
}

#[actix_web::test]
async fn admin_only_properties_cannot_be_registered() {
    let app = open_app().await;
    let mut m = loopback_metadata();
    for (k, v) in [
        ("first_party", json!(true)),
        ("introspect_any", json!(true)),
        ("audiences", json!(["https://api.example"])),
        ("access_token_ttl", json!(999_999)),
        ("client_id", json!("chosen-id")),
        ("allow_plain_pkce", json!(true)),
        ("token_exchange", json!({"impersonation": true})),
    ] {
        m[k] = v;
    }
    let body = register(&app, &m).await;
    let id = body["client_id"].as_str().unwrap();
    assert_ne!(id, "chosen-id");
    let c = app.engine.clients.get(id).unwrap();
    assert!(!c.first_party);
    assert!(!c.introspect_any);
    assert!(c.audiences.is_empty());
    assert!(c.access_token_ttl.is_none());
    assert!(!c.allow_plain_pkce);
    assert!(c.token_exchange.is_none());
}

#[actix_web::test]
async fn key_based_clients_register_their_keys() {
    let app = open_app().await;
    let key = crate::dpop::proof::ProofKey::es256();
    let jwks = json!({"keys": [key.jwk()]});
    let mut m = loopback_metadata();
    m["token_endpoint_auth_method"] = json!("private_key_jwt");
    m["jwks"] = jwks.clone();
    m["token_endpoint_auth_signing_alg"] = json!("ES256");
    let body = register(&app, &m).await;
    assert!(body.get("client_secret").is_none(), "{body}");
    assert_eq!(body["jwks"], jwks);
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
}
