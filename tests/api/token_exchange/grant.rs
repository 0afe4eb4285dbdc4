//! The token-exchange grant when it succeeds: delegation with an actor
//! token, audience and scope narrowing, chains, impersonation, and every
//! subject token type.

use serde_json::{json, Value};

use super::support::*;
use crate::flow::*;
use crate::helpers::*;

#[actix_web::test]
async fn a_service_exchanges_a_users_token_and_is_named_as_its_actor() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({})).await;
    let subject = app.assert_active(&s.rs, &s.tokens.access_token).await;
    let subject_exp = subject["exp"].as_i64().expect("exp");
    app.clock.advance(1000);

    let body = issued(delegate(&app, &a, &s.tokens.access_token, &[]).await).await;
    assert_eq!(body["issued_token_type"], ACCESS, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["scope"], SCOPE, "the subject's scope: {body}");
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!(
        expires_in <= subject_exp - app.now(),
        "expires_in {expires_in} outlives the subject ({} left)",
        subject_exp - app.now()
    );
    assert!(body.get("refresh_token").is_none(), "{body}");

    let token = at(&body);
    let user_sub = s.user.id.to_string();
    for caller in [&s.rs, &a] {
        let v = app.assert_active(caller, &token).await;
        assert_eq!(v["sub"], user_sub, "{v}");
        assert_eq!(v["client_id"], a.id, "{v}");
        assert_eq!(v["act"], act_of(&a), "{v}");
        assert_eq!(v["scope"], SCOPE, "{v}");
        assert_eq!(auds(&v["aud"]), vec![API_A, API_C], "{v}");
        assert!(v["exp"].as_i64().unwrap() <= subject_exp, "{v}");
    }
    let c = claims(&token);
    assert_eq!(c["sub"], user_sub, "{c}");
    assert_eq!(c["client_id"], a.id, "{c}");
    assert_eq!(c["act"], act_of(&a), "{c}");
    assert_eq!(c["iss"], app.issuer, "{c}");
    assert!(c["exp"].as_i64().unwrap() <= subject_exp, "{c}");
    // The subject is untouched.
    app.assert_active(&s.rs, &s.tokens.access_token).await;
}

#[actix_web::test]
async fn the_audience_narrows_within_the_policy_and_the_scope_downscopes() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let subject = &s.tokens.access_token;

    // (extra parameters, the audiences granted, the scope granted)
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<&'a str>, &'a str);
    let cases: [Case; 5] = [
        (&[("audience", API_B)], vec![API_B], SCOPE),
        (
            &[("resource", API_B), ("scope", "read")],
            vec![API_B],
            "read",
        ),
        (
            &[("audience", API_C), ("scope", "openid email")],
            vec![API_C],
            "openid email",
        ),
        (
            &[("audience", API_B), ("resource", API_A)],
            vec![API_A, API_B],
            SCOPE,
        ),
        (&[("scope", "read")], vec![API_A, API_C], "read"),
    ];
    for (params, want_aud, want_scope) in cases {
        let body = issued(delegate(&app, &a, subject, params).await).await;
        assert_eq!(body["scope"], want_scope, "{params:?}: {body}");
        let token = at(&body);
        let v = app.assert_active(&s.rs, &token).await;
        assert_eq!(auds(&v["aud"]), want_aud, "{params:?}: {v}");
        assert_eq!(v["scope"], want_scope, "{params:?}: {v}");
        assert_eq!(auds(&claims(&token)["aud"]), want_aud, "{params:?}");
    }
}

#[actix_web::test]
async fn audience_and_resource_may_be_repeated() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let subject = &s.tokens.access_token;
    for name in ["audience", "resource"] {
        let params = [(name, API_B), (name, API_C)];
        let body = issued(delegate(&app, &a, subject, &params).await).await;
        let v = app.assert_active(&s.rs, &at(&body)).await;
        assert_eq!(auds(&v["aud"]), vec![API_B, API_C], "{name}: {v}");
        let params = [(name, API_B), (name, "https://elsewhere.example.com")];
        let r = delegate(&app, &a, subject, &params).await;
        assert_oauth_error(r, reqwest::StatusCode::BAD_REQUEST, "invalid_target").await;
    }
}

#[actix_web::test]
async fn a_chain_of_delegations_nests_the_actors() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let b = service(&app, &[API_B], json!({})).await;

    let first = issued(
        delegate(
            &app,
            &a,
            &s.tokens.access_token,
            &[("audience", API_B), ("scope", "openid read")],
        )
        .await,
    )
    .await;
    let second = issued(delegate(&app, &b, &at(&first), &[]).await).await;
    assert_eq!(second["scope"], "openid read", "{second}");
    let token = at(&second);
    let want = act_over(&b, act_of(&a));
    let v = app.assert_active(&s.rs, &token).await;
    assert_eq!(v["sub"], s.user.id.to_string(), "{v}");
    assert_eq!(v["client_id"], b.id, "{v}");
    assert_eq!(v["act"], want, "{v}");
    assert_eq!(auds(&v["aud"]), vec![API_B], "{v}");
    assert_eq!(claims(&token)["act"], want);
    // B sees the token it holds; A's token keeps its single actor.
    assert_eq!(app.assert_active(&b, &token).await["act"], want);
    assert_eq!(app.assert_active(&b, &at(&first)).await["act"], act_of(&a));
}

#[actix_web::test]
async fn impersonation_needs_the_policy() {
    let app = spawn_app().await;
    let s = setup(&app, &[]).await;
    let subject = s.tokens.access_token.as_str();
    let plain = [("subject_token", subject), ("subject_token_type", ACCESS)];

    let a = service(&app, &[API_A], json!({"audiences": [API_B]})).await;
    let r = exchange_token(&app, &a, &plain).await;
    assert_oauth_error(r, reqwest::StatusCode::BAD_REQUEST, "unauthorized_client").await;

    let imp = service(&app, &[API_A], json!({"impersonation": true})).await;
    let body = issued(exchange_token(&app, &imp, &plain).await).await;
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["scope"], SCOPE);
    let token = at(&body);
    let v = app.assert_active(&s.rs, &token).await;
    assert_eq!(v["sub"], s.user.id.to_string(), "{v}");
    assert_eq!(v["client_id"], imp.id, "{v}");
    assert!(v.get("act").is_none(), "impersonation names no actor: {v}");
    assert!(claims(&token).get("act").is_none());

    // Impersonating with a delegated token keeps the actor it carries.
    let b = service(&app, &[API_B], json!({"impersonation": true})).await;
    let delegated = issued(delegate(&app, &a, subject, &[("audience", API_B)]).await).await;
    let d = at(&delegated);
    let p = [
        ("subject_token", d.as_str()),
        ("subject_token_type", ACCESS),
    ];
    let kept = at(&issued(exchange_token(&app, &b, &p).await).await);
    let v = app.assert_active(&s.rs, &kept).await;
    assert_eq!(v["client_id"], b.id, "{v}");
    assert_eq!(v["act"], act_of(&a), "{v}");
}

/// The relying party itself exchanges what it holds, as its own actor.
async fn exchange_own(
    app: &TestApp,
    rp: &Rp,
    subject: &str,
    ty: &str,
    extra: &[(&str, &str)],
) -> Value {
    let actor = app.get_token(&rp.client).await;
    let mut p = vec![
        ("subject_token", subject),
        ("subject_token_type", ty),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS),
    ];
    p.extend_from_slice(extra);
    issued(exchange_token(app, &rp.client, &p).await).await
}

#[actix_web::test]
async fn refresh_id_and_jwt_subject_tokens_are_accepted() {
    let app = spawn_app().await;
    let s = setup(&app, &["client_credentials", GRANT]).await;
    let rp = &s.rp;
    let user_sub = s.user.id.to_string();
    assert!(s.tokens.id_token.is_some(), "openid gives an ID token");

    let subjects = [
        (s.tokens.refresh(), REFRESH),
        (s.tokens.id(), ID),
        (s.tokens.access_token.as_str(), JWT),
        (s.tokens.access_token.as_str(), ACCESS),
    ];
    for (subject, ty) in subjects {
        let body = exchange_own(&app, rp, subject, ty, &[]).await;
        assert_eq!(body["issued_token_type"], ACCESS, "{ty}: {body}");
        let v = app.assert_active(&s.rs, &at(&body)).await;
        assert_eq!(v["sub"], user_sub, "{ty}: {v}");
        assert_eq!(v["client_id"], rp.id(), "{ty}: {v}");
        assert_eq!(v["act"], act_of(&rp.client), "{ty}: {v}");
    }
    // The refresh token was not consumed: it still refreshes.
    let r = tokens(refresh(&app, rp, s.tokens.refresh(), None).await).await;
    assert_eq!(r.body["scope"], SCOPE);

    // A JWT can be asked for.
    let body = exchange_own(
        &app,
        rp,
        &s.tokens.access_token,
        ACCESS,
        &[("requested_token_type", JWT), ("scope", "read")],
    )
    .await;
    assert_eq!(body["issued_token_type"], JWT, "{body}");
    assert_eq!(body["scope"], "read", "{body}");
    let c = claims(&at(&body));
    assert_eq!(c["sub"], user_sub, "{c}");
    assert_eq!(c["act"], act_of(&rp.client), "{c}");
}
