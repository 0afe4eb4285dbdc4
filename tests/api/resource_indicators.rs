//! Resource indicators (RFC 8707): `resource` at the authorization
//! endpoint (and in pushed requests and request objects) says which of the
//! client's registered audiences the grant is for; at the token endpoint
//! it narrows one access token's `aud` within the grant, and a refresh
//! token keeps the whole authorized set.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{assert_oauth_error, jwt_part, spawn_app, TestApp, TestClient};

const A: &str = "https://api.a.example";
const B: &str = "https://api.b.example";
const C: &str = "https://api.c.example";

/// A confidential, first-party client whose tokens may be for A and B.
async fn rp(app: &TestApp) -> Rp {
    rp_with(
        app,
        json!({
            "public": false,
            "first_party": true,
            "audiences": [A, B],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }),
    )
    .await
}

/// The `aud` of a JWT access token, as a set (a string is one audience).
fn aud(access_token: &str) -> BTreeSet<String> {
    match &jwt_part(access_token, 1)["aud"] {
        Value::String(s) => [s.clone()].into(),
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().expect("a string audience").to_string())
            .collect(),
        other => panic!("aud {other}"),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A code for `req` from a fresh logged-in browser.
async fn code_for(app: &TestApp, user: &TestUser, req: &AuthRequest) -> String {
    logged_in(app, user).await.code(app, req).await
}

async fn exchange_with(
    app: &TestApp,
    rp: &Rp,
    code: &str,
    req: &AuthRequest,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut p = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", req.verifier.as_str()),
    ];
    p.extend_from_slice(extra);
    token_call(app, rp, &p).await
}

async fn refresh_with(
    app: &TestApp,
    rp: &Rp,
    rt: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    p.extend_from_slice(extra);
    token_call(app, rp, &p).await
}

/// An OAuth error and no token in the answer.
async fn refused(r: reqwest::Response, code: &str) {
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, code).await;
    assert!(body.get("access_token").is_none(), "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
}

#[actix_web::test]
async fn one_resource_at_authorize_is_the_tokens_only_audience() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let rs = introspector(&app).await;
    let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
    let code = code_for(&app, &user, &req).await;
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[]).await).await;
    assert_eq!(
        jwt_part(&t.access_token, 1)["aud"],
        A,
        "one audience: a string"
    );
    let v = app.assert_active(&rs, &t.access_token).await;
    assert_eq!(v["aud"], json!([A]), "{v}");
    // A refresh keeps to what was authorized.
    let t2 = tokens(refresh_with(&app, &rp, t.refresh(), &[]).await).await;
    assert_eq!(aud(&t2.access_token), set(&[A]));
    let t3 = tokens(refresh_with(&app, &rp, t2.refresh(), &[("resource", A)]).await).await;
    assert_eq!(aud(&t3.access_token), set(&[A]));
}

#[actix_web::test]
async fn token_requests_narrow_the_audience_within_the_grant() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE)
        .push("resource", A)
        .push("resource", B);
    let code = code_for(&app, &user, &req).await;
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[("resource", B)]).await).await;
    assert_eq!(jwt_part(&t.access_token, 1)["aud"], B);

    // The refresh token was granted both: A now, then both again.
    let t2 = tokens(refresh_with(&app, &rp, t.refresh(), &[("resource", A)]).await).await;
    assert_eq!(jwt_part(&t2.access_token, 1)["aud"], A);
    let t3 = tokens(refresh_with(&app, &rp, t2.refresh(), &[]).await).await;
    assert_eq!(aud(&t3.access_token), set(&[A, B]));
    let t4 =
        tokens(refresh_with(&app, &rp, t3.refresh(), &[("resource", B), ("resource", A)]).await)
            .await;
    assert_eq!(aud(&t4.access_token), set(&[A, B]));
}

#[actix_web::test]
async fn no_resource_at_authorize_means_all_the_clients_audiences() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let code = code_for(&app, &user, &req).await;
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[("resource", A)]).await).await;
    assert_eq!(aud(&t.access_token), set(&[A]));
    let t2 = tokens(refresh_with(&app, &rp, t.refresh(), &[]).await).await;
    assert_eq!(aud(&t2.access_token), set(&[A, B]));
}

#[actix_web::test]
async fn a_token_request_outside_the_grant_is_invalid_target() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    for outside in [B, C, "not a uri"] {
        let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
        let code = code_for(&app, &user, &req).await;
        refused(
            exchange_with(&app, &rp, &code, &req, &[("resource", outside)]).await,
            "invalid_target",
        )
        .await;
        // With one good and one bad: refused too.
        let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
        let code = code_for(&app, &user, &req).await;
        refused(
            exchange_with(
                &app,
                &rp,
                &code,
                &req,
                &[("resource", A), ("resource", outside)],
            )
            .await,
            "invalid_target",
        )
        .await;
    }
    // A refresh outside the grant.
    let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
    let code = code_for(&app, &user, &req).await;
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[]).await).await;
    refused(
        refresh_with(&app, &rp, t.refresh(), &[("resource", B)]).await,
        "invalid_target",
    )
    .await;
}

/// RFC 6749 §5.2 / RFC 8707 §2.2: a token request refused for its
/// `resource` is an error about that request; the refresh token it
/// presented is not spent by it (else a client's mistake ends its grant,
/// and the retry looks like a stolen token's replay).
#[actix_web::test]
async fn a_refresh_refused_for_its_resource_leaves_the_refresh_token_usable() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let rs = introspector(&app).await;
    let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
    let code = code_for(&app, &user, &req).await;
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[]).await).await;
    refused(
        refresh_with(&app, &rp, t.refresh(), &[("resource", B)]).await,
        "invalid_target",
    )
    .await;
    let r = refresh_with(&app, &rp, t.refresh(), &[]).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token still works after a refused resource: {body}"
    );
    app.assert_active(&rs, &t.access_token).await;
}

/// The same for a code: a refused `resource` is the client's mistake, not
/// a use of the code.
#[actix_web::test]
async fn a_code_refused_for_its_resource_can_still_be_exchanged() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE).set("resource", A);
    let code = code_for(&app, &user, &req).await;
    refused(
        exchange_with(&app, &rp, &code, &req, &[("resource", B)]).await,
        "invalid_target",
    )
    .await;
    let r = exchange_with(&app, &rp, &code, &req, &[("resource", A)]).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the code still works after a refused resource: {body}"
    );
}

#[actix_web::test]
async fn an_unregistered_resource_at_authorize_goes_back_as_invalid_target() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    for extra in [vec![C], vec![A, C], vec!["urn:not:registered"]] {
        let mut req = AuthRequest::new(&rp, SCOPE);
        for r in extra {
            req = req.push("resource", r);
        }
        let r = b.get(&req.path()).await;
        assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            "invalid_target",
            Some(&req.state),
        );
    }
    // At the PAR endpoint: 400 invalid_target.
    let req = AuthRequest::new(&rp, SCOPE).set("resource", C);
    let r = crate::par::par_call(&app, &rp, &req.pairs).await;
    crate::par::assert_par_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
}

#[actix_web::test]
async fn pushed_and_signed_requests_carry_resources() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = crate::par::RequestKey::es256();
    let rp = rp_with(
        &app,
        json!({
            "public": false,
            "first_party": true,
            "audiences": [A, B],
            "jwks": key.jwks(),
        }),
    )
    .await;
    let mut b = logged_in(&app, &user).await;

    // Pushed: resource=B.
    let req = AuthRequest::new(&rp, SCOPE).set("resource", B);
    let uri = crate::par::push(&app, &rp, &req).await;
    let r = b.get(&crate::par::by_uri(rp.id(), &uri)).await;
    let code = redirect(&r, StatusCode::FOUND).param("code").to_string();
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[]).await).await;
    assert_eq!(aud(&t.access_token), set(&[B]));

    // A request object with a resource array, and a query asking for A only.
    let req = AuthRequest::new(&rp, SCOPE);
    let claims = crate::par::with(
        &crate::par::claims_for(&app, &rp, &req),
        "resource",
        json!([A, B]),
    );
    let jwt = key.sign(&claims);
    let r = b
        .get(&crate::par::by_value(rp.id(), &jwt, &[("resource", A)]))
        .await;
    let code = redirect(&r, StatusCode::FOUND).param("code").to_string();
    let t = tokens(exchange_with(&app, &rp, &code, &req, &[]).await).await;
    assert_eq!(aud(&t.access_token), set(&[A, B]));
}

#[actix_web::test]
async fn client_credentials_still_takes_resource() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let c: &TestClient = &rp.client;
    let body = app.token_with(c, &[("resource", A)]).await;
    assert_eq!(aud(body["access_token"].as_str().unwrap()), set(&[A]));
    let body = app.token_with(c, &[("resource", A), ("resource", B)]).await;
    assert_eq!(aud(body["access_token"].as_str().unwrap()), set(&[A, B]));
    let body = app.token_with(c, &[]).await;
    assert_eq!(aud(body["access_token"].as_str().unwrap()), set(&[A, B]));
    let r = app
        .token_request(c, &[("grant_type", "client_credentials"), ("resource", C)])
        .await;
    refused(r, "invalid_target").await;
}
