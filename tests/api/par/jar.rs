//! Request objects (RFC 9101): by value at `/oauth2/authorize` and inside
//! a pushed request. Only their claims are the request; a wrong one is an
//! error page (at the PAR endpoint a JSON `invalid_request_object`), and
//! no code is issued.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{
    assert_par_error, by_uri, by_value, claims_for, error_page, par_call, pushed, unsigned, with,
    RequestKey,
};
use crate::flow::*;
use crate::helpers::{spawn_app, TestApp};

const OTHER_REDIRECT: &str = "https://rp.example.com/other";

/// A public, first-party client with `key` registered (and `extra` members).
pub(super) async fn jar_rp(app: &TestApp, key: &RequestKey, extra: Value) -> Rp {
    let mut spec = json!({
        "first_party": true,
        "jwks": key.jwks(),
        "redirect_uris": [REDIRECT, OTHER_REDIRECT],
    });
    for (k, v) in extra.as_object().expect("extra object") {
        spec[k] = v.clone();
    }
    rp_with(app, spec).await
}

/// A logged-in browser's answer to `path`: a code at [`REDIRECT`] with
/// `state`; the code.
pub(super) async fn code_for(app: &TestApp, b: &mut Browser, path: &str, state: &str) -> String {
    let r = b.get(path).await;
    let status = r.status();
    let body_hint = if status == StatusCode::BAD_REQUEST {
        r.text().await.unwrap_or_default()
    } else {
        let loc = redirect(&r, StatusCode::FOUND);
        assert_eq!(loc.base, REDIRECT, "{}", loc.raw);
        assert!(loc.get("error").is_none(), "{}", loc.raw);
        assert_eq!(loc.get("state"), Some(state), "{}", loc.raw);
        assert_eq!(loc.get("iss"), Some(app.issuer.as_str()));
        return loc.param("code").to_string();
    };
    panic!("expected a code, got {status}: {body_hint}");
}

/// The query a tampering browser adds next to the request object.
fn tampered_query() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("scope", "openid profile email read"),
        ("state", "attacker-state"),
        ("redirect_uri", OTHER_REDIRECT),
        ("nonce", "attacker-nonce"),
        ("response_mode", "form_post"),
    ]
}

#[actix_web::test]
async fn a_signed_request_object_is_the_request_and_the_query_is_ignored() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    for key in [RequestKey::es256(), RequestKey::rs256()] {
        let rp = jar_rp(&app, &key, json!({})).await;
        let req = AuthRequest::new(&rp, "openid read");
        let jwt = key.sign(&claims_for(&app, &rp, &req));
        let path = by_value(rp.id(), &jwt, &tampered_query());
        let code = code_for(&app, &mut b, &path, &req.state).await;
        let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
        assert_eq!(t.body["scope"], "openid read", "{}", key.key.alg());
        let id = crate::helpers::jwt_part(t.id(), 1);
        assert_eq!(id["nonce"], req.nonce.as_str());
    }
}

#[actix_web::test]
async fn typ_jwt_or_none_and_numbers_in_the_object_are_accepted() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    let key = RequestKey::es256();
    let rp = jar_rp(&app, &key, json!({})).await;
    for header in [
        json!({"kid": key.kid, "typ": "JWT"}),
        json!({"kid": key.kid}),
        // No kid: the client's one key.
        json!({}),
    ] {
        let req = AuthRequest::new(&rp, "openid read");
        // max_age as a JSON number, as a client library sends it.
        let claims = with(&claims_for(&app, &rp, &req), "max_age", json!(3600));
        let jwt = key.sign_with(&header, &claims);
        let code = code_for(&app, &mut b, &by_value(rp.id(), &jwt, &[]), &req.state).await;
        tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    }
}

#[actix_web::test]
async fn a_request_object_survives_the_login_round_trip() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::es256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    let mut b = Browser::new(&app);
    let login = redirect(
        &b.get(&by_value(rp.id(), &jwt, &tampered_query())).await,
        StatusCode::FOUND,
    );
    assert_eq!(login.base, "/auth/login");
    let return_to = login.param("return_to").to_string();
    // The way back carries a handle, not the object or its parameters.
    let back = Redirect::parse(&return_to);
    let names: Vec<&str> = back.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{return_to}");
    assert!(!return_to.contains(&jwt));
    b.login(&user).await;
    let code = code_for(&app, &mut b, &return_to, &req.state).await;
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read");
    // Another browser cannot take the handle.
    let mut other = logged_in(&app, &user).await;
    error_page(other.get(&return_to).await, "invalid_request_uri").await;
}

#[actix_web::test]
async fn a_request_object_can_be_pushed() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::rs256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    // Parameters next to the object in the body are not the request.
    let mut body = vec![("client_id", rp.id()), ("request", jwt.as_str())];
    body.extend(tampered_query());
    let uri = pushed(par_call(&app, &rp, &body).await).await;
    let mut b = logged_in(&app, &user).await;
    let code = code_for(&app, &mut b, &by_uri(rp.id(), &uri), &req.state).await;
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read");
}

#[actix_web::test]
async fn a_request_object_works_once() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::es256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    let path = by_value(rp.id(), &jwt, &[]);
    code_for(&app, &mut b, &path, &req.state).await;
    error_page(b.get(&path).await, "invalid_request_object").await;
    // In another browser too.
    let mut other = logged_in(&app, &user).await;
    error_page(other.get(&path).await, "invalid_request_object").await;

    // Pushed twice: the second push is refused.
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    let body = [("client_id", rp.id()), ("request", jwt.as_str())];
    pushed(par_call(&app, &rp, &body).await).await;
    assert_par_error(
        par_call(&app, &rp, &body).await,
        StatusCode::BAD_REQUEST,
        "invalid_request_object",
    )
    .await;
    // Pushed, then by value.
    error_page(
        b.get(&by_value(rp.id(), &jwt, &[])).await,
        "invalid_request_object",
    )
    .await;
}

#[actix_web::test]
async fn unsigned_objects_only_from_a_client_registered_for_them() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    let rp = rp_with(
        &app,
        json!({"first_party": true, "request_object_signing_alg": "none"}),
    )
    .await;
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = unsigned(&claims_for(&app, &rp, &req));
    let code = code_for(
        &app,
        &mut b,
        &by_value(rp.id(), &jwt, &tampered_query()),
        &req.state,
    )
    .await;
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read");
    // Its claims are still checked.
    let stale = unsigned(&with(
        &claims_for(&app, &rp, &AuthRequest::new(&rp, SCOPE)),
        "exp",
        json!(app.now() - 10),
    ));
    error_page(
        b.get(&by_value(rp.id(), &stale, &[])).await,
        "invalid_request_object",
    )
    .await;
    let v: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}", rp.id()),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["request_object_signing_alg"], "none", "{v}");
}

#[actix_web::test]
async fn a_registered_request_object_alg_is_the_only_one_accepted() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;
    let ec = RequestKey::es256();
    let ps = RequestKey::ps256();
    let rp = rp_with(
        &app,
        json!({
            "first_party": true,
            "jwks": {"keys": [ec.jwk(), ps.jwk()]},
            "request_object_signing_alg": "PS256",
        }),
    )
    .await;
    let req = AuthRequest::new(&rp, "openid read");
    let claims = claims_for(&app, &rp, &req);
    // ES256 with a registered key: not the registered alg.
    error_page(
        b.get(&by_value(rp.id(), &ec.sign(&claims), &[])).await,
        "invalid_request_object",
    )
    .await;
    // RS256 with the RSA key: not the registered alg either.
    let rs = ps.sign_with(&json!({"kid": ps.kid, "alg": "RS256"}), &claims);
    error_page(
        b.get(&by_value(rp.id(), &rs, &[])).await,
        "invalid_request_object",
    )
    .await;
    // PS256: accepted.
    let jwt = ps.sign(&with(
        &claims,
        "jti",
        json!(uuid::Uuid::new_v4().to_string()),
    ));
    code_for(&app, &mut b, &by_value(rp.id(), &jwt, &[]), &req.state).await;
}

#[actix_web::test]
async fn request_and_request_uri_together_are_refused() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::es256();
    let rp = jar_rp(&app, &key, json!({})).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid read");
    let uri = super::push(&app, &rp, &req).await;
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    let path = by_value(rp.id(), &jwt, &[("request_uri", uri.as_str())]);
    error_page(b.get(&path).await, "invalid_request").await;
    // Neither was used up by the refusal.
    code_for(&app, &mut b, &by_uri(rp.id(), &uri), &req.state).await;
    code_for(&app, &mut b, &by_value(rp.id(), &jwt, &[]), &req.state).await;
}

#[actix_web::test]
async fn a_client_that_must_push_cannot_send_its_request_object_by_value() {
    // RFC 9126 §5/§6: such a client's authorization request data is
    // accepted only through the PAR endpoint.
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let key = RequestKey::es256();
    let rp = jar_rp(
        &app,
        &key,
        json!({"require_pushed_authorization_requests": true}),
    )
    .await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&app, &rp, &req));
    error_page(
        b.get(&by_value(rp.id(), &jwt, &[])).await,
        "invalid_request",
    )
    .await;
}
