//! The token endpoint's authorization_code grant (SECURITY.md "Token
//! endpoint"): single use with revocation on replay, races, binding to the
//! client and redirect URI, lifetime, PKCE and its downgrade; and an ID
//! token is never an access token.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::flow::*;
use crate::helpers::{assert_oauth_error, spawn_app, TestApp, INACTIVE};

/// A logged-in browser and a fresh code for `rp`; the request (verifier).
async fn fresh_code(app: &TestApp, rp: &Rp, b: &mut Browser) -> (String, AuthRequest) {
    let req = AuthRequest::new(rp, SCOPE);
    let code = b.code(app, &req).await;
    (code, req)
}

#[actix_web::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_the_first_exchange() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let rs = introspector(&app).await;
    let mut b = logged_in(&app, &user).await;
    let (code, req) = fresh_code(&app, &rp, &mut b).await;
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    app.assert_active(&rs, &t.access_token).await;
    app.assert_active(&rs, t.refresh()).await;
    // A token minted later from the same grant (a refresh) dies too.
    let t2 = tokens(refresh(&app, &rp, t.refresh(), None).await).await;

    let r = exchange(&app, &rp, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    for tok in [&t.access_token, t.refresh(), &t2.access_token, t2.refresh()] {
        assert_eq!(app.introspect_raw(&rs, tok).await, INACTIVE);
    }
    assert_eq!(
        userinfo(&app, &t.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = refresh(&app, &rp, t2.refresh(), None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The code stays dead.
    let r = exchange(&app, &rp, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn a_replay_with_bad_client_auth_revokes_nothing() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = confidential_rp(&app).await;
    let rs = introspector(&app).await;
    let mut b = logged_in(&app, &user).await;
    let (code, req) = fresh_code(&app, &rp, &mut b).await;
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;

    // Wrong secret: 401, nothing revoked.
    let mut forged = rp.clone();
    forged.client.secret = "wrong".into();
    let r = exchange(&app, &forged, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Unknown client: 401, nothing revoked.
    let mut unknown = rp.clone();
    unknown.client.id = "tes_cl_unknown".into();
    let r = exchange(&app, &unknown, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Another, genuine client replaying it: refused, nothing revoked.
    let other = confidential_rp(&app).await;
    let r = exchange(&app, &other, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    app.assert_active(&rs, &t.access_token).await;
    app.assert_active(&rs, t.refresh()).await;
}

#[actix_web::test]
async fn sixteen_parallel_exchanges_of_one_code_yield_exactly_one_success() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    for _ in 0..3 {
        let (code, req) = fresh_code(&app, &rp, &mut b).await;
        let answers =
            join_all((0..16).map(|_| exchange(&app, &rp, &code, Some(&req.verifier)))).await;
        let mut ok = 0;
        for r in answers {
            if r.status() == StatusCode::OK {
                ok += 1;
            } else {
                assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
            }
        }
        assert_eq!(ok, 1, "exactly one exchange wins");
    }
}

#[actix_web::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = rp_with(
        &app,
        json!({"first_party": true, "redirect_uris": [REDIRECT, "https://rp.example.com/cb2"]}),
    )
    .await;
    let other = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let (code, req) = fresh_code(&app, &rp, &mut b).await;

    // Another public client.
    let r = exchange(&app, &other, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Another registered redirect URI, or none.
    let mut moved = rp.clone();
    moved.redirect_uri = "https://rp.example.com/cb2".into();
    let r = exchange(&app, &moved, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = token_call(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &req.verifier),
        ],
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // None of that consumed it: the rightful exchange still works.
    tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
}

#[actix_web::test]
async fn a_code_expires_after_its_lifetime() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let (code, req) = fresh_code(&app, &rp, &mut b).await;
    let (young, young_req) = fresh_code(&app, &rp, &mut b).await;
    app.clock.advance(59);
    tokens(exchange(&app, &rp, &young, Some(&young_req.verifier)).await).await;
    app.clock.advance(2);
    let r = exchange(&app, &rp, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn the_pkce_verifier_must_be_present_and_right() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let (code, req) = fresh_code(&app, &rp, &mut b).await;
    let r = exchange(&app, &rp, &code, None).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let (other_verifier, _) = pkce_pair();
    for wrong in [
        other_verifier.as_str(),
        &s256(&req.verifier), // the challenge itself
        &req.verifier[..42],
        "short",
    ] {
        let r = exchange(&app, &rp, &code, Some(wrong)).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
}

#[actix_web::test]
async fn a_verifier_for_a_code_without_challenge_is_a_downgrade() {
    let app = spawn_app().await;
    let user = create_user(&app, "grace").await;
    let rp = confidential_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    // A confidential client may leave PKCE out...
    let req = AuthRequest::new(&rp, SCOPE)
        .without("code_challenge")
        .without("code_challenge_method");
    let code = b.code(&app, &req).await;
    // ...but then a verifier at the token endpoint is a downgrade attempt.
    let r = exchange(&app, &rp, &code, Some(&req.verifier)).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let code = b.code(&app, &req).await;
    let t = tokens(exchange(&app, &rp, &code, None).await).await;
    assert!(t.id_token.is_some());
}

#[actix_web::test]
async fn an_id_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let user = create_user(&app, "heidi").await;
    let rp = first_party_rp(&app).await;
    let rs = introspector(&app).await;
    let flow = run_flow(&app, &rp, &user, SCOPE).await;
    let id = flow.tokens.id();
    assert_eq!(app.introspect_raw(&rs, id).await, INACTIVE);
    for hint in ["access_token", "refresh_token"] {
        let r = app
            .introspect_with(&rs, &[("token", id), ("token_type_hint", hint)])
            .await;
        assert_eq!(r.text().await.unwrap(), INACTIVE);
    }
    let r = userinfo(&app, id).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        crate::helpers::header(&r, "www-authenticate").is_some_and(|h| h.contains("invalid_token"))
    );
    // Nor does it authenticate anything else that takes a bearer token.
    let r = app
        .http
        .get(app.url("/sessions/session"))
        .bearer_auth(id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The real access token works, for contrast.
    assert_eq!(
        userinfo(&app, &flow.tokens.access_token).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn userinfo_needs_the_openid_scope() {
    let app = spawn_app().await;
    let user = create_user(&app, "ivan").await;
    let rp = first_party_rp(&app).await;
    let flow = run_flow(&app, &rp, &user, "read").await;
    assert!(flow.tokens.id_token.is_none(), "no openid, no ID token");
    let r = userinfo(&app, &flow.tokens.access_token).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // openid only: sub, nothing else.
    let flow = run_flow(&app, &rp, &user, "openid").await;
    let r = userinfo(&app, &flow.tokens.access_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, json!({"sub": user.id.to_string()}));
}
