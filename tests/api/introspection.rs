//! `POST /oauth2/token/introspect` (RFC 7662): the active answer, exactly
//! `{"active":false}` for everything else, and who may see what.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[actix_web::test]
async fn an_active_answer_carries_every_field() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read write", "audiences": ["https://api.example.com"]}))
        .await;
    let token = app.token_with(&c, &[("scope", "read")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = jwt_part(&token, 1);
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["scope"], "read");
    assert_eq!(v["client_id"], c.id.as_str());
    assert_eq!(v["sub"], c.id.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iss"], app.issuer.as_str());
    assert_eq!(v["aud"], json!(["https://api.example.com"]));
    assert_eq!(v["iat"], app.now());
    assert_eq!(v["nbf"], app.now());
    assert_eq!(v["exp"], app.now() + 3600);
    // The answer agrees with the token's own claims.
    for f in [
        "jti",
        "iat",
        "nbf",
        "exp",
        "iss",
        "sub",
        "client_id",
        "scope",
    ] {
        assert_eq!(v[f], claims[f], "{f}");
    }
    assert!(uuid::Uuid::parse_str(v["jti"].as_str().unwrap()).is_ok());
    assert!(
        v.get("username").is_none(),
        "no user behind client_credentials: {v}"
    );
}

#[actix_web::test]
async fn inactive_answers_are_exactly_active_false() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let long = "a".repeat(10_000);
    for garbage in [
        "x",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.e30.x",
        "tes_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "..",
        " ",
        long.as_str(),
        "\u{e9}\u{0}",
    ] {
        app.assert_inactive(&c, garbage).await;
    }
    // A prefix or an extension of a real token.
    app.assert_inactive(&c, &token[..token.len() - 1]).await;
    app.assert_inactive(&c, &format!("{token}A")).await;
    app.assert_inactive(&c, &format!("{token} ")).await;
    app.assert_active(&c, &token).await;
}

#[actix_web::test]
async fn expiry_follows_the_engine_clock_with_zero_leeway() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let exp = jwt_part(&token, 1)["exp"].as_i64().unwrap();
    app.clock.set(exp - 1);
    app.assert_active(&c, &token).await;
    app.clock.set(exp);
    app.assert_inactive(&c, &token).await;
    app.clock.advance(3600);
    app.assert_inactive(&c, &token).await;
}

#[actix_web::test]
async fn a_token_is_not_active_before_it_was_issued() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    app.clock.advance(-10);
    app.assert_inactive(&c, &token).await;
    app.clock.advance(10);
    app.assert_active(&c, &token).await;
}

#[actix_web::test]
async fn a_client_sees_only_its_own_tokens() {
    let app = spawn_app().await;
    let a = app.cc_client().await;
    let b = app.cc_client().await;
    let ta = app.get_token(&a).await;
    let tb = app.get_token(&b).await;
    app.assert_active(&a, &ta).await;
    app.assert_active(&b, &tb).await;
    app.assert_inactive(&a, &tb).await;
    app.assert_inactive(&b, &ta).await;
}

#[actix_web::test]
async fn resource_servers_see_tokens_addressed_to_them() {
    let app = spawn_app().await;
    let issuer = app
        .create_client(json!({"scope": "read", "audiences": ["https://orders.example", "https://billing.example"]}))
        .await;
    let orders_rs = app
        .create_client(
            json!({"grant_types": [], "introspect_audiences": ["https://orders.example"]}),
        )
        .await;
    let any_rs = app
        .create_client(json!({"grant_types": [], "introspect_any": true}))
        .await;
    let bystander = app.cc_client().await;

    let for_orders = app
        .token_with(&issuer, &[("audience", "https://orders.example")])
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let for_billing = app
        .token_with(&issuer, &[("audience", "https://billing.example")])
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.get_token(&bystander).await;

    let v = app.assert_active(&orders_rs, &for_orders).await;
    assert_eq!(
        v["client_id"],
        issuer.id.as_str(),
        "the RS learns who the token was issued to"
    );
    app.assert_inactive(&orders_rs, &for_billing).await;
    app.assert_inactive(&orders_rs, &other).await;

    for t in [&for_orders, &for_billing, &other] {
        app.assert_active(&any_rs, t).await;
    }
    app.assert_inactive(&bystander, &for_orders).await;

    // A client whose id is the token's audience is a resource server for it.
    let named = app
        .create_client(json!({"client_id": "inventory", "grant_types": []}))
        .await;
    let minter = app.create_client(json!({"audiences": ["inventory"]})).await;
    let t = app.get_token(&minter).await;
    app.assert_active(&named, &t).await;

    // Revoked: nobody sees it.
    assert_eq!(app.revoke(&issuer, &for_orders).await, StatusCode::OK);
    app.assert_inactive(&orders_rs, &for_orders).await;
    app.assert_inactive(&any_rs, &for_orders).await;
}

#[actix_web::test]
async fn introspection_requires_client_authentication() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    // No credentials at all.
    let r = app
        .post_form("/oauth2/token/introspect", &format!("token={token}"), None)
        .await;
    assert_eq!(
        header(&r, "www-authenticate")
            .as_deref()
            .map(|h| h.starts_with("Basic")),
        Some(true)
    );
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A confidential client's id without its secret.
    let r = app
        .post_form(
            "/oauth2/token/introspect",
            &format!("token={token}&client_id={}", c.id),
            None,
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Wrong secret.
    let wrong = TestClient {
        id: c.id.clone(),
        secret: "tes_cs_wrong".into(),
    };
    let r = app.introspect_with(&wrong, &[("token", &token)]).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A public client cannot introspect (it has nothing to authenticate with).
    let public = app
        .create_client(json!({"public": true, "redirect_uris": ["https://app.example/cb"]}))
        .await;
    let r = app
        .post_form(
            "/oauth2/token/introspect",
            &format!("token={token}&client_id={}", public.id),
            None,
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // client_secret_post works.
    let r = app
        .post_form(
            "/oauth2/token/introspect",
            &format!(
                "token={token}&client_id={}&client_secret={}",
                c.id, c.secret
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
}

#[actix_web::test]
async fn a_missing_token_is_invalid_request() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for body in ["", "token=", "token_type_hint=access_token", "tok=x"] {
        let r = app
            .post_form("/oauth2/token/introspect", body, Some(&c))
            .await;
        let v = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            v["error_description"].as_str().unwrap().contains("token"),
            "{v}"
        );
    }
}

#[actix_web::test]
async fn a_wrong_token_type_hint_changes_nothing() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let plain = app.introspect(&c, &token).await;
    for hint in [
        "refresh_token",
        "access_token",
        "id_token",
        "bogus",
        "\u{e9}",
    ] {
        for name in ["token_type_hint", "tokenTypeHint"] {
            let r = app
                .introspect_with(&c, &[("token", &token), (name, hint)])
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.json::<Value>().await.unwrap(), plain, "{name}={hint}");
        }
        let r = app
            .introspect_with(&c, &[("token", "garbage"), ("token_type_hint", hint)])
            .await;
        assert_eq!(r.text().await.unwrap(), INACTIVE);
    }
}
