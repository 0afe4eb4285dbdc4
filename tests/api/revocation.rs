//! `POST /oauth2/token/revoke` (RFC 7009).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn a_revoked_token_is_inactive_at_once() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let keep = app.get_token(&c).await;
    app.assert_active(&c, &token).await;
    let r = app.revoke_with(&c, &[("token", &token)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    assert!(r.bytes().await.unwrap().is_empty());
    app.assert_inactive(&c, &token).await;
    // Only that token.
    app.assert_active(&c, &keep).await;
}

#[actix_web::test]
async fn unknown_garbage_and_already_revoked_tokens_answer_200() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    for t in ["garbage", "a.b.c", "tes_at_unknown", &"x".repeat(9000)] {
        assert_eq!(
            app.revoke(&c, t).await,
            StatusCode::OK,
            "{}",
            &t[..t.len().min(20)]
        );
    }
    assert_eq!(app.revoke(&c, &token).await, StatusCode::OK);
    assert_eq!(
        app.revoke(&c, &token).await,
        StatusCode::OK,
        "already revoked"
    );
    // An expired token, too.
    let t2 = app.get_token(&c).await;
    app.clock.advance(7200);
    assert_eq!(app.revoke(&c, &t2).await, StatusCode::OK);
}

#[actix_web::test]
async fn token_type_hints_and_camel_case_are_accepted() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let t1 = app.get_token(&c).await;
    let t2 = app.get_token(&c).await;
    let r = app
        .revoke_with(&c, &[("token", &t1), ("token_type_hint", "refresh_token")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&c, &t1).await;
    let r = app
        .revoke_with(&c, &[("token", &t2), ("tokenTypeHint", "nonsense")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&c, &t2).await;
}

#[actix_web::test]
async fn a_missing_token_is_invalid_request() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for body in ["", "token=", "token_type_hint=access_token"] {
        let r = app.post_form("/oauth2/token/revoke", body, Some(&c)).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[actix_web::test]
async fn another_clients_token_stays_active() {
    let app = spawn_app().await;
    let owner = app.cc_client().await;
    let other = app.cc_client().await;
    let rs = app
        .create_client(json!({"grant_types": [], "introspect_any": true}))
        .await;
    let token = app.get_token(&owner).await;
    // Even a resource server that may introspect it may not revoke it.
    for attacker in [&other, &rs] {
        assert_eq!(
            app.revoke(attacker, &token).await,
            StatusCode::OK,
            "no oracle"
        );
        app.assert_active(&owner, &token).await;
    }
    assert_eq!(app.revoke(&owner, &token).await, StatusCode::OK);
    app.assert_inactive(&owner, &token).await;
    app.assert_inactive(&rs, &token).await;
}

#[actix_web::test]
async fn revocation_requires_client_authentication() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let r = app
        .post_form("/oauth2/token/revoke", &format!("token={token}"), None)
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = app
        .post_form(
            "/oauth2/token/revoke",
            &format!("token={token}&client_id={}", c.id),
            None,
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong = TestClient {
        id: c.id.clone(),
        secret: "nope".into(),
    };
    let r = app.revoke_with(&wrong, &[("token", &token)]).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    app.assert_active(&c, &token).await;
    // client_secret_post.
    let r = app
        .post_form(
            "/oauth2/token/revoke",
            &format!(
                "token={token}&client_id={}&client_secret={}",
                c.id, c.secret
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&c, &token).await;
}

#[actix_web::test]
async fn revoking_opaque_and_jwt_tokens_of_one_client() {
    let app = spawn_app().await;
    let opaque = app
        .create_client(json!({"access_token_format": "opaque"}))
        .await;
    let t = app.get_token(&opaque).await;
    assert_eq!(app.revoke(&opaque, &t).await, StatusCode::OK);
    app.assert_inactive(&opaque, &t).await;
}

/// A token the index never saw (a genuine signature, e.g. issued before a
/// restart that lost its record) is revocable, and stays revoked.
#[actix_web::test]
async fn a_token_verified_by_signature_can_be_revoked() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (h, claims) = app.genuine_parts(&c);
    let token = app.sign_with_server_key(&h, &claims);
    app.assert_active(&c, &token).await;
    assert_eq!(app.revoke(&c, &token).await, StatusCode::OK);
    app.assert_inactive(&c, &token).await;
}
