//! What the token-exchange grant refuses: clients and policies that do not
//! allow it, malformed requests, targets and scopes beyond the subject,
//! subject and actor tokens that are not the caller's to use.

use reqwest::StatusCode;
use serde_json::json;

use super::support::*;
use crate::flow::SCOPE;
use crate::helpers::*;

#[actix_web::test]
async fn a_client_without_the_grant_type_is_unauthorized() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let cc = app
        .create_client(json!({"scope": "read", "introspect_audiences": [API_A]}))
        .await;
    let actor = app.get_token(&cc).await;
    let r = exchange_token(
        &app,
        &cc,
        &[
            ("subject_token", &s.tokens.access_token),
            ("subject_token_type", ACCESS),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS),
        ],
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[actix_web::test]
async fn missing_and_unknown_parameters_are_invalid_request() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"impersonation": true})).await;
    let subject = s.tokens.access_token.as_str();
    let cases: [&[(&str, &str)]; 6] = [
        &[("subject_token", subject)],
        &[("subject_token_type", ACCESS)],
        &[("subject_token", subject), ("subject_token_type", "")],
        &[
            ("subject_token", subject),
            ("subject_token_type", "urn:example:token-type:nonsense"),
        ],
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS),
            ("requested_token_type", ID),
        ],
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            ),
        ],
    ];
    for params in cases {
        let r = exchange_token(&app, &a, params).await;
        let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(body.get("access_token").is_none(), "{params:?}");
    }
    // The same subject, asked properly, is fine.
    let ok = exchange_token(
        &app,
        &a,
        &[("subject_token", subject), ("subject_token_type", ACCESS)],
    )
    .await;
    assert_eq!(issued(ok).await["scope"], SCOPE);
}

#[actix_web::test]
async fn an_audience_outside_the_policy_and_the_subject_is_invalid_target() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let subject = &s.tokens.access_token;
    let cases: [&[(&str, &str)]; 4] = [
        &[("audience", "https://elsewhere.example.com")],
        &[("resource", "https://elsewhere.example.com")],
        &[
            ("audience", API_B),
            ("resource", "https://elsewhere.example.com"),
        ],
        &[("audience", &a.id)],
    ];
    for params in cases {
        let r = delegate(&app, &a, subject, params).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
    }
    // Without a policy audience, API_B is out of reach too.
    let bare = service(&app, &[API_A], json!({})).await;
    let r = delegate(&app, &bare, subject, &[("audience", API_B)]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_target").await;
}

#[actix_web::test]
async fn a_scope_beyond_the_subjects_is_invalid_scope() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({})).await;
    let first = issued(
        delegate(
            &app,
            &a,
            &s.tokens.access_token,
            &[("scope", "openid read")],
        )
        .await,
    )
    .await;
    // "write" is A's own scope, not the user's: the subject bounds it.
    for wider in [
        "read write",
        "admin",
        "openid read profile email offline_access",
    ] {
        let r = delegate(&app, &a, &s.tokens.access_token, &[("scope", wider)]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
    // A narrowed token cannot be widened again.
    let r = delegate(&app, &a, &at(&first), &[("scope", "openid read email")]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_scope").await;
}

#[actix_web::test]
async fn a_refresh_token_needs_the_policy() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let r = delegate(
        &app,
        &a,
        &s.tokens.access_token,
        &[("requested_token_type", REFRESH)],
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[actix_web::test]
async fn a_subject_token_for_another_client_is_invalid_grant() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    // C answers to API_B only: the user's token names neither it nor API_B.
    let c = service(&app, &[API_B], json!({"audiences": [API_A]})).await;
    let other_cc = app.cc_client().await;
    let foreign_cc = app.get_token(&other_cc).await;
    for subject in [
        s.tokens.access_token.as_str(),
        foreign_cc.as_str(),
        "garbage",
        "a.b.c",
    ] {
        let r = delegate(&app, &c, subject, &[]).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // Nor may it pass the user's refresh token off as its own.
    let r = exchange_token(
        &app,
        &c,
        &[
            ("subject_token", s.tokens.refresh()),
            ("subject_token_type", REFRESH),
            ("actor_token", &app.get_token(&c).await),
            ("actor_token_type", ACCESS),
        ],
    )
    .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn an_actor_token_must_be_the_callers_own_and_active() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({})).await;
    let b = service(&app, &[API_A], json!({})).await;
    let bs = app.get_token(&b).await;
    let revoked = app.get_token(&a).await;
    assert_eq!(app.revoke(&a, &revoked).await, StatusCode::OK);
    let subject = s.tokens.access_token.as_str();
    for actor in [bs.as_str(), revoked.as_str(), subject, "garbage"] {
        let r = exchange_token(
            &app,
            &a,
            &[
                ("subject_token", subject),
                ("subject_token_type", ACCESS),
                ("actor_token", actor),
                ("actor_token_type", ACCESS),
            ],
        )
        .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // B's token serves B.
    let body = issued(delegate(&app, &b, subject, &[]).await).await;
    assert_eq!(
        app.assert_active(&s.rs, &at(&body)).await["act"],
        act_of(&b)
    );
}

#[actix_web::test]
async fn expired_and_revoked_subjects_are_invalid_grant() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({})).await;
    let exp = app.assert_active(&s.rs, &s.tokens.access_token).await["exp"]
        .as_i64()
        .unwrap();

    // Just before it ends, the exchanged token ends with it.
    app.clock.set(exp - 30);
    let body = issued(delegate(&app, &a, &s.tokens.access_token, &[]).await).await;
    assert!(body["expires_in"].as_i64().unwrap() <= 30, "{body}");
    let late = at(&body);
    app.clock.set(exp + 1);
    app.assert_inactive(&s.rs, &late).await;
    let r = delegate(&app, &a, &s.tokens.access_token, &[]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // A fresh access token from the refresh token, then revoked.
    let fresh =
        crate::flow::tokens(crate::flow::refresh(&app, &s.rp, s.tokens.refresh(), None).await)
            .await;
    issued(delegate(&app, &a, &fresh.access_token, &[]).await).await;
    assert_eq!(
        app.revoke(&s.rp.client, &fresh.access_token).await,
        StatusCode::OK
    );
    let r = delegate(&app, &a, &fresh.access_token, &[]).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}
