//! `POST /oauth2/token`, client_credentials: parameters, scope, audience,
//! the response, grant errors, and token formats and algorithms.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[actix_web::test]
async fn client_credentials_answers_a_bearer_token_that_is_not_cached() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&r, "pragma").as_deref(), Some("no-cache"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["scope"], "read write",
        "no scope asked: all of the client's"
    );
    assert!(
        body.get("refresh_token").is_none(),
        "client_credentials issues no refresh token: {body}"
    );
    assert!(body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT by default");
    let claims = jwt_part(token, 1);
    assert_eq!(claims["client_id"], c.id.as_str());
    assert_eq!(claims["sub"], c.id.as_str());
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(
        claims["aud"],
        c.id.as_str(),
        "no audience registered: the client itself"
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["iat"], app.now(), "issued on the engine's clock");
}

#[actix_web::test]
async fn client_secret_post_and_camel_case_parameters_work() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for body in [
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            c.id, c.secret
        ),
        format!(
            "grantType=client_credentials&clientId={}&clientSecret={}",
            c.id, c.secret
        ),
        format!(
            "grantType=client_credentials&client_id={}&clientSecret={}&scope=read",
            c.id, c.secret
        ),
    ] {
        let r = app.post_form("/oauth2/token", &body, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{body}");
        let v: Value = r.json().await.unwrap();
        let token = v["access_token"].as_str().unwrap();
        app.assert_active(&c, token).await;
    }
    // camelCase with Basic authentication, too.
    let r = app
        .token_request(&c, &[("grantType", "client_credentials")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn scope_may_narrow_but_never_widen() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let body = app.token_with(&c, &[("scope", "read")]).await;
    assert_eq!(body["scope"], "read");
    let claims = jwt_part(body["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["scope"], "read");
    let v = app
        .assert_active(&c, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(v["scope"], "read");

    // Order and repeats normalise; still a subset.
    let body = app.token_with(&c, &[("scope", "write read write")]).await;
    assert_eq!(body["scope"], "write read");

    for wider in ["admin", "read admin", "read write delete"] {
        let r = app
            .token_request(
                &c,
                &[("grant_type", "client_credentials"), ("scope", wider)],
            )
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
    // Characters outside RFC 6749 §3.3.
    for bad in ["read\"", "re\\ad", "caf\u{e9}"] {
        let r = app
            .token_request(&c, &[("grant_type", "client_credentials"), ("scope", bad)])
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

#[actix_web::test]
async fn audience_and_resource_must_be_registered() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "audiences": ["https://api.example.com", "orders"]}))
        .await;

    // None asked: every registered audience.
    let body = app.token_with(&c, &[]).await;
    let claims = jwt_part(body["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["aud"], json!(["https://api.example.com", "orders"]));

    // One asked, by `audience` or RFC 8707 `resource`: a single string.
    for param in ["audience", "resource"] {
        let body = app.token_with(&c, &[(param, "orders")]).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_part(token, 1)["aud"], "orders", "{param}");
        let v = app.assert_active(&c, token).await;
        assert_eq!(v["aud"], json!(["orders"]));
    }

    for param in ["audience", "resource"] {
        let r = app
            .token_request(
                &c,
                &[
                    ("grant_type", "client_credentials"),
                    (param, "https://evil.example"),
                ],
            )
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    }
    // One good and one unregistered: refused as a whole.
    let r = app
        .token_request(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("audience", "orders https://evil.example"),
            ],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;

    // A client with no registered audience may not ask for any.
    let plain = app.cc_client().await;
    let r = app
        .token_request(
            &plain,
            &[("grant_type", "client_credentials"), ("audience", "orders")],
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
}

#[actix_web::test]
async fn unknown_or_missing_grant_type_is_refused() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for g in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:saml2-bearer",
        "urn:ietf:params:oauth:grant-type:device_code:x",
        "CLIENT_CREDENTIALS",
    ] {
        let r = app.token_request(&c, &[("grant_type", g)]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
    let r = app.token_request(&c, &[("scope", "read")]).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type"),
        "{body}"
    );
}

#[actix_web::test]
async fn a_client_without_the_grant_is_unauthorized_client() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["https://app.example.com/cb"],
            "scope": "read"
        }))
        .await;
    assert!(!c.secret.is_empty(), "confidential");
    let r = app
        .token_request(&c, &[("grant_type", "client_credentials")])
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;

    // A public client (no secret) may never use client_credentials
    // (RFC 6749 §4.4): a grant the client is not allowed.
    let public = app
        .create_client(json!({"public": true, "redirect_uris": ["https://app.example.com/cb"]}))
        .await;
    let r = app
        .post_form(
            "/oauth2/token",
            &format!("grant_type=client_credentials&client_id={}", public.id),
            None,
        )
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[actix_web::test]
async fn opaque_access_tokens_are_recorded_and_introspect_active() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "access_token_format": "opaque"}))
        .await;
    let body = app.token_with(&c, &[]).await;
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("tes_at_"), "{token}");
    assert!(!token.contains('.'), "not a JWT: {token}");
    let v = app.assert_active(&c, token).await;
    assert_eq!(v["client_id"], c.id.as_str());
    assert_eq!(v["scope"], "read");
    assert_eq!(v["token_type"], "Bearer");
    // A near miss of an opaque token is just unknown.
    let mut other = token.to_string();
    other.pop();
    other.push('A');
    if other != token {
        app.assert_inactive(&c, &other).await;
    }
    assert_eq!(app.revoke(&c, token).await, StatusCode::OK);
    app.assert_inactive(&c, token).await;
}

#[actix_web::test]
async fn a_server_configured_for_opaque_tokens_issues_them_by_default() {
    let app = spawn_app_with(|s| s.tokens.access_token_format = "opaque".into()).await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    assert!(token.starts_with("tes_at_"));
    app.assert_active(&c, &token).await;
    // A client may still ask for JWTs.
    let j = app
        .create_client(json!({"access_token_format": "jwt"}))
        .await;
    let token = app.get_token(&j).await;
    assert_eq!(token.split('.').count(), 3);
}

#[actix_web::test]
async fn a_per_client_token_lifetime_is_honoured() {
    let app = spawn_app().await;
    let c = app.create_client(json!({"access_token_ttl": 120})).await;
    let body = app.token_with(&c, &[]).await;
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();
    let v = app.assert_active(&c, token).await;
    assert_eq!(v["exp"].as_i64().unwrap() - v["iat"].as_i64().unwrap(), 120);
    app.clock.advance(119);
    app.assert_active(&c, token).await;
    app.clock.advance(1);
    app.assert_inactive(&c, token).await;
}

async fn check_algorithm(alg: &str, kty: &str) {
    let app = spawn_app_with(|s| s.keys.algorithm = alg.into()).await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let header = jwt_part(&token, 0);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "at+jwt");
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["client_id"], c.id.as_str());

    let jwks = app.jwks().await;
    for k in jwks["keys"].as_array().unwrap() {
        assert_eq!(k["kty"], kty, "{k}");
        assert_eq!(k["alg"], alg, "{k}");
        assert!(k.get("d").is_none(), "public parts only: {k}");
    }
    let data = verify_against_jwks(&token, &jwks, &app.issuer, &c.id);
    assert_eq!(data.claims["client_id"], c.id.as_str());

    let meta: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["id_token_signing_alg_values_supported"], json!([alg]));

    // A genuine token of this algorithm that the index never saw still
    // verifies by signature; a tampered one does not.
    let (h, claims) = app.genuine_parts(&c);
    let fresh = app.sign_with_server_key(&h, &claims);
    app.assert_active(&c, &fresh).await;
    let mut tampered = jwt_part(&fresh, 1);
    tampered["scope"] = json!("read write admin");
    let parts: Vec<&str> = fresh.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        tessera_actors::secret::b64url(tampered.to_string().as_bytes()),
        parts[2]
    );
    app.assert_inactive(&c, &forged).await;
}

#[actix_web::test]
async fn es256_servers_sign_verifiable_tokens() {
    check_algorithm("ES256", "EC").await;
}

#[actix_web::test]
async fn eddsa_servers_sign_verifiable_tokens() {
    check_algorithm("EdDSA", "OKP").await;
}
