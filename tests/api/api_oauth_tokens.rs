//! `POST /api/oauth/token` and `POST /api/oauth/revoke` (SPEC §4): personal
//! tokens exchanged without rotation, rotating account families rotated,
//! wrong clients refused; revocation by body or of the bearer's own grant,
//! only ever of the caller's own tokens; introspection telling what a
//! personal token and its access tokens are.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera_actors::clock::rfc3339;
use tessera_actors::domain::Scope;
use tessera_actors::grants::first_party::{self, AccountGrant};

use crate::flow::{introspector, public_rp, userinfo};
use crate::helpers::{assert_api_error, header, spawn_app, TestApp, ACCOUNT_CLIENT};
use crate::personal_tokens::{
    access, cookie, exchange, exchange_as, list, list_ids, personal, user_with_scope,
};
use crate::sessions::{call, user_token, Auth};

fn secret(v: &Value) -> &str {
    v["token"].as_str().unwrap()
}

async fn revoke(app: &TestApp, auth: Auth<'_>, body: Option<Value>) -> Response {
    let body = body.map(|b| b.to_string());
    call(
        app,
        Method::POST,
        "/api/oauth/revoke",
        auth,
        body.as_deref(),
    )
    .await
}

#[actix_web::test]
async fn a_personal_token_is_exchanged_without_rotation() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let c = cookie(&app, alice).await;
    let t = personal(&app, Auth::Cookie(&c), "openid profile read").await;

    let first = exchange(&app, secret(&t)).await;
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["access_token", "expire_at", "refresh_token", "token_type"]
    );
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["refresh_token"], secret(&t), "no rotation");
    assert_eq!(first["expire_at"], rfc3339(app.now() + 3600));

    // The same token works again, also as a form with camelCase names.
    app.clock.advance(10);
    let r = app
        .http
        .post(app.url("/api/oauth/token"))
        .form(&[
            ("clientId", ACCOUNT_CLIENT),
            ("refreshToken", secret(&t)),
            ("grantType", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let second: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["refresh_token"], secret(&t));
    assert_ne!(second["access_token"], first["access_token"]);

    // The access token is alice's and works as a bearer.
    let at = first["access_token"].as_str().unwrap();
    let r = userinfo(&app, at).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], alice.to_string());
    assert_eq!(list(&app, Auth::Bearer(at)).await.len(), 1);

    // Introspection says what each token is.
    let v = app.assert_active(&rs, at).await;
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert_eq!(v["token_use"], "access_token", "{v}");
    assert_eq!(v["token_origin"], "personal_token", "{v}");
    assert_eq!(v["client_id"], ACCOUNT_CLIENT, "{v}");
    assert_eq!(v["scope"], "openid profile read", "{v}");
    assert_eq!(v["sub"], alice.to_string(), "{v}");
    let v = app.assert_active(&rs, secret(&t)).await;
    assert_eq!(v["token_type"], "refresh_token", "{v}");
    assert_eq!(v["token_use"], "refresh_token", "{v}");
    assert_eq!(v["token_origin"], "personal_token", "{v}");
    assert_eq!(v["jti"], t["id"], "{v}");
    // An ordinary token carries no origin.
    let plain = user_token(&app, alice, None).await;
    let v = app.assert_active(&rs, &plain).await;
    assert!(v.get("token_origin").is_none(), "{v}");
}

#[actix_web::test]
async fn wrong_clients_and_bad_requests_are_refused() {
    let app = spawn_app().await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let c = cookie(&app, alice).await;
    let t = personal(&app, Auth::Cookie(&c), "read").await;

    // Another public client: the token is not its.
    let other = public_rp(&app).await;
    let r = exchange_as(&app, other.id(), secret(&t)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // An unknown client, and a confidential one (it must authenticate).
    let r = exchange_as(&app, "nobody", secret(&t)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_client").await;
    let confidential = app.cc_client().await;
    let r = exchange_as(&app, &confidential.id, secret(&t)).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_client").await;
    // Unknown token.
    let r = exchange_as(&app, ACCOUNT_CLIENT, "tes_pat_nope").await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let post = |body: Value| {
        app.http
            .post(app.url("/api/oauth/token"))
            .json(&body)
            .send()
    };
    let r = post(
        json!({"client_id": ACCOUNT_CLIENT, "refresh_token": secret(&t), "grant_type": "password"}),
    )
    .await
    .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let r = post(json!({"client_id": ACCOUNT_CLIENT, "grant_type": "refresh_token"}))
        .await
        .unwrap();
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(
        body["message"].as_str().unwrap().contains("refresh_token"),
        "{body}"
    );
    let r =
        post(json!({"client_id": "", "refresh_token": secret(&t), "grant_type": "refresh_token"}))
            .await
            .unwrap();
    let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(
        body["message"].as_str().unwrap().contains("client_id"),
        "{body}"
    );
    let r = app
        .http
        .post(app.url("/api/oauth/token"))
        .header("content-type", "text/plain")
        .body("refresh_token=x")
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = app
        .http
        .post(app.url("/api/oauth/token"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    // Still good after all that.
    exchange(&app, secret(&t)).await;
}

#[actix_web::test]
async fn a_rotating_account_family_rotates_here_and_reuse_is_refused() {
    let app = spawn_app().await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let user = app.engine.users.get(&alice).unwrap();
    let issued = first_party::issue(
        &app.engine,
        AccountGrant {
            user: &user,
            client: None,
            scope: Scope::parse("openid").unwrap(),
            origin: "registration",
            rotating: true,
            refresh_ttl: 3600,
            sid: None,
            amr: vec!["pwd".into()],
        },
    )
    .await
    .unwrap();
    let next = exchange(&app, &issued.refresh_token).await;
    let rotated = next["refresh_token"].as_str().unwrap();
    assert_ne!(rotated, issued.refresh_token, "rotated");
    let r = exchange_as(&app, ACCOUNT_CLIENT, &issued.refresh_token).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Reuse revoked the whole family, the replacement too.
    let r = exchange_as(&app, ACCOUNT_CLIENT, rotated).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn revoke_with_a_body_revokes_the_named_refresh_token_and_its_access_tokens() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let bob = user_with_scope(&app, "bob", "read").await;
    let c = cookie(&app, alice).await;
    let keep = personal(&app, Auth::Cookie(&c), "read").await;
    let doomed = personal(&app, Auth::Cookie(&c), "read").await;
    let bearer = access(&app, secret(&keep)).await;
    let minted = access(&app, secret(&doomed)).await;
    let bobs = personal(&app, Auth::Cookie(&cookie(&app, bob).await), "read").await;

    // Another user's token, an access token, unknown ones: 404, untouched.
    for other in [secret(&bobs), minted.as_str(), "tes_pat_unknown"] {
        let r = revoke(
            &app,
            Auth::Bearer(&bearer),
            Some(json!({"refresh_token": other})),
        )
        .await;
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    app.assert_active(&rs, secret(&bobs)).await;
    app.assert_active(&rs, &minted).await;

    let r = revoke(
        &app,
        Auth::Bearer(&bearer),
        Some(json!({"refresh_token": secret(&doomed)})),
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["message"].is_string());
    app.assert_inactive(&rs, secret(&doomed)).await;
    app.assert_inactive(&rs, &minted).await;
    app.assert_active(&rs, secret(&keep)).await;
    app.assert_active(&rs, &bearer).await;
    assert_eq!(
        list_ids(&list(&app, Auth::Cookie(&c)).await),
        [keep["id"].as_str().unwrap()]
    );
    // Revoked already: 404 now.
    let r = revoke(
        &app,
        Auth::Bearer(&bearer),
        Some(json!({"refresh_token": secret(&doomed)})),
    )
    .await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;

    // A form body and a session-cookie caller work too.
    let r = app
        .http
        .post(app.url("/api/oauth/revoke"))
        .header("cookie", format!("tessera_session={c}"))
        .form(&[("refresh_token", secret(&keep))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&rs, &bearer).await;
}

#[actix_web::test]
async fn revoke_without_a_body_revokes_the_bearers_own_grant() {
    let app = spawn_app().await;
    let rs = introspector(&app).await;
    let alice = user_with_scope(&app, "alice", "read").await;
    let c = cookie(&app, alice).await;
    let t = personal(&app, Auth::Cookie(&c), "read").await;
    let other = personal(&app, Auth::Cookie(&c), "read").await;
    let a1 = access(&app, secret(&t)).await;
    let a2 = access(&app, secret(&t)).await;
    let o1 = access(&app, secret(&other)).await;

    let r = revoke(&app, Auth::Bearer(&a1), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    for tok in [secret(&t), a1.as_str(), a2.as_str()] {
        app.assert_inactive(&rs, tok).await;
    }
    app.assert_active(&rs, secret(&other)).await;
    app.assert_active(&rs, &o1).await;
    assert_eq!(
        list_ids(&list(&app, Auth::Cookie(&c)).await),
        [other["id"].as_str().unwrap()]
    );
    // The bearer itself is dead now.
    let r = revoke(&app, Auth::Bearer(&a1), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // `{}` counts as no body.
    let r = revoke(&app, Auth::Bearer(&o1), Some(json!({}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&rs, secret(&other)).await;

    // A bearer minted from no refresh token: nothing to revoke.
    let lone = user_token(&app, alice, None).await;
    let r = revoke(&app, Auth::Bearer(&lone), None).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    app.assert_active(&rs, &lone).await;
    // A cookie caller must name the token; no caller at all is a 401.
    let r = revoke(&app, Auth::Cookie(&c), None).await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let r = revoke(&app, Auth::None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&r, "www-authenticate").is_some());
}
