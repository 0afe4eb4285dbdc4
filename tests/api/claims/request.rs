//! Individually requested claims: released in the ID token and at
//! userinfo beyond what the scope releases, and nowhere else.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{flow_tokens, id_claims, userinfo_json};
use crate::flow::*;
use crate::helpers::{assert_oauth_error, spawn_app};
use crate::par::{by_uri, by_value, claims_for, par_call, push, RequestKey};

const BOTH: &str = r#"{"id_token":{"email":null,"name":{"essential":true}},"userinfo":{"email_verified":null,"preferred_username":{"essential":false}}}"#;

#[actix_web::test]
async fn requested_claims_reach_the_id_token_and_userinfo_even_beyond_the_scope() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;

    // Without a claims request, scope openid releases none of them.
    let plain = flow_tokens(&app, &rp, &mut b, &AuthRequest::new(&rp, "openid")).await;
    let id = id_claims(&plain);
    for c in ["email", "name", "email_verified", "preferred_username"] {
        assert!(id.get(c).is_none(), "{c} without asking: {id}");
    }
    let info = userinfo_json(&app, &plain.access_token).await;
    for c in ["email", "name", "email_verified", "preferred_username"] {
        assert!(info.get(c).is_none(), "{c} without asking: {info}");
    }

    let req = AuthRequest::new(&rp, "openid").set("claims", BOTH);
    let t = flow_tokens(&app, &rp, &mut b, &req).await;
    let id = id_claims(&t);
    assert_eq!(id["email"], user.email.as_str(), "{id}");
    assert_eq!(id["name"], "alice Example", "{id}");
    assert!(id.get("email_verified").is_none(), "userinfo's only: {id}");
    assert!(
        id.get("preferred_username").is_none(),
        "userinfo's only: {id}"
    );
    assert_eq!(id["sub"], user.id.to_string());
    let info = userinfo_json(&app, &t.access_token).await;
    assert_eq!(info["email_verified"], true, "{info}");
    assert_eq!(info["preferred_username"], "alice", "{info}");
    assert!(info.get("email").is_none(), "the ID token's only: {info}");
    assert!(info.get("name").is_none(), "the ID token's only: {info}");

    // A refresh keeps them, for the ID token and the new access token.
    let r = tokens(refresh(&app, &rp, t.refresh(), None).await).await;
    let id = id_claims(&r);
    assert_eq!(id["email"], user.email.as_str(), "{id}");
    assert_eq!(id["name"], "alice Example", "{id}");
    let info = userinfo_json(&app, &r.access_token).await;
    assert_eq!(info["preferred_username"], "alice", "{info}");
    assert!(info.get("email").is_none(), "{info}");
}

#[actix_web::test]
async fn unknown_claims_are_ignored_and_known_ones_still_released() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid").set(
        "claims",
        r#"{"id_token":{"shoe_size":{"essential":true},"email":{"essential":true,"value":"someone@else.example"},"auth_time":{"essential":true}},"userinfo":{"phone_number":null},"other":{"x":1}}"#,
    );
    let t = flow_tokens(&app, &rp, &mut b, &req).await;
    let id = id_claims(&t);
    assert!(id.get("shoe_size").is_none(), "{id}");
    // The user's own value, whatever value was asked for.
    assert_eq!(id["email"], user.email.as_str(), "{id}");
    assert!(id["auth_time"].is_i64(), "{id}");
    let info = userinfo_json(&app, &t.access_token).await;
    assert!(info.get("phone_number").is_none(), "{info}");
    assert_eq!(info["sub"], user.id.to_string());
}

#[actix_web::test]
async fn claims_the_client_may_not_request_are_not_released() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = rp_with(&app, json!({"first_party": true, "scope": "openid read"})).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid").set(
        "claims",
        r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null}}"#,
    );
    let t = flow_tokens(&app, &rp, &mut b, &req).await;
    assert!(id_claims(&t).get("email").is_none());
    assert!(userinfo_json(&app, &t.access_token)
        .await
        .get("name")
        .is_none());
}

#[actix_web::test]
async fn a_malformed_claims_parameter_is_invalid_request_at_the_client() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let long = format!(
        r#"{{"id_token":{{"email":null}},"pad":"{}"}}"#,
        "x".repeat(5000)
    );
    for bad in [
        "not json",
        "{",
        "[]",
        "42",
        r#"{"id_token":"email"}"#,
        r#"{"userinfo":["email"]}"#,
        r#"{"id_token":{"email":true}}"#,
        r#"{"id_token":{"email":{"essential":"yes"}}}"#,
        r#"{"id_token":{"acr":{"values":"mfa"}}}"#,
        r#"{"id_token":{"acr":{"values":[2]}}}"#,
        r#"{"id_token":{"acr":{"value":"mfa","values":["mfa"]}}}"#,
        long.as_str(),
    ] {
        let req = AuthRequest::new(&rp, "openid").set("claims", bad);
        let r = b.get(&req.path()).await;
        let loc = assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            "invalid_request",
            Some(&req.state),
        );
        assert!(
            loc.param("error_description").contains("claims"),
            "{bad}: {}",
            loc.raw
        );
        // Pushed, it is refused at the PAR endpoint.
        let r = par_call(&app, &rp, &req.pairs).await;
        let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("claims")),
            "{bad}: {body}"
        );
    }
}

#[actix_web::test]
async fn claims_beyond_the_consented_scope_need_consent() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = public_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    // Consent to openid alone.
    let plain = AuthRequest::new(&rp, "openid");
    b.authorize(&app, &plain).await;
    let again = b.get(&AuthRequest::new(&rp, "openid").path()).await;
    assert_eq!(again.status(), StatusCode::FOUND, "openid is consented");
    // Asking for the e-mail address one by one asks again.
    let req = AuthRequest::new(&rp, "openid").set("claims", r#"{"id_token":{"email":null}}"#);
    let r = b.get(&req.path()).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let html = r.text().await.expect("consent page");
    assert!(
        html.contains("See your email address"),
        "the page asks for the email scope"
    );
    let loc = redirect(&b.consent(&html, "allow").await, StatusCode::SEE_OTHER);
    let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(id_claims(&t)["email"], user.email.as_str());
}

#[actix_web::test]
async fn claims_travel_in_a_pushed_request() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid").set("claims", BOTH);
    let uri = push(&app, &rp, &req).await;
    let r = b.get(&by_uri(rp.id(), &uri)).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert!(loc.get("error").is_none(), "{}", loc.raw);
    let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(id_claims(&t)["email"], user.email.as_str());
    let info = userinfo_json(&app, &t.access_token).await;
    assert_eq!(info["preferred_username"], "frank", "{info}");
}

#[actix_web::test]
async fn claims_travel_in_a_request_object_as_an_object_or_a_string() {
    let app = spawn_app().await;
    let user = create_user(&app, "grace").await;
    let key = RequestKey::es256();
    let rp = rp_with(&app, json!({"first_party": true, "jwks": key.jwks()})).await;
    let mut b = logged_in(&app, &user).await;
    let as_object: Value = serde_json::from_str(BOTH).expect("JSON");
    for claims in [as_object, Value::String(BOTH.into())] {
        let req = AuthRequest::new(&rp, "openid");
        let mut object = claims_for(&app, &rp, &req);
        object["claims"] = claims;
        let r = b.get(&by_value(rp.id(), &key.sign(&object), &[])).await;
        let loc = redirect(&r, StatusCode::FOUND);
        assert!(loc.get("error").is_none(), "{}", loc.raw);
        let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
        let id = id_claims(&t);
        assert_eq!(id["email"], user.email.as_str(), "{id}");
        assert_eq!(id["name"], "grace Example", "{id}");
        let info = userinfo_json(&app, &t.access_token).await;
        assert_eq!(info["email_verified"], true, "{info}");
    }
    // A malformed claims member in the object is refused like one sent.
    let req = AuthRequest::new(&rp, "openid");
    let mut object = claims_for(&app, &rp, &req);
    object["claims"] = json!({"id_token": ["email"]});
    let r = b.get(&by_value(rp.id(), &key.sign(&object), &[])).await;
    let loc = assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        "invalid_request",
        Some(&req.state),
    );
    assert!(loc.param("error_description").contains("claims"));
}

#[actix_web::test]
async fn a_sub_asked_for_by_value_must_be_the_signed_in_user() {
    let app = spawn_app().await;
    let user = create_user(&app, "heidi").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let sub = |id: &str| format!(r#"{{"id_token":{{"sub":{{"value":"{id}"}}}}}}"#);
    let other = uuid::Uuid::new_v4().to_string();
    // Another user: no positive answer.
    let req = AuthRequest::new(&rp, "openid")
        .set("claims", &sub(&other))
        .set("prompt", "none");
    let r = b.get(&req.path()).await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        "login_required",
        Some(&req.state),
    );
    let req = AuthRequest::new(&rp, "openid").set("claims", &sub(&other));
    let loc = redirect(&b.get(&req.path()).await, StatusCode::FOUND);
    assert_eq!(loc.base, "/auth/login", "{}", loc.raw);
    // The signed-in user: a code.
    let req = AuthRequest::new(&rp, "openid").set("claims", &sub(&user.id.to_string()));
    let t = flow_tokens(&app, &rp, &mut b, &req).await;
    assert_eq!(id_claims(&t)["sub"], user.id.to_string());
}
