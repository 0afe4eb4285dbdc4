//! JWT responses from the introspection endpoint (RFC 9701): asked for by
//! `Accept: application/token-introspection+jwt` or by registration, signed
//! with the server's key, holding exactly the plain answer.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_oauth_error, decoding_key, header, jwk, jwt_part, spawn_app, spawn_app_with, TestApp,
    TestClient,
};

const JWT_TYPE: &str = "application/token-introspection+jwt";

async fn introspect_accepting(
    app: &TestApp,
    caller: &TestClient,
    token: &str,
    accept: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .http
        .post(app.url("/oauth2/token/introspect"))
        .basic_auth(&caller.id, Some(&caller.secret))
        .form(&[("token", token)]);
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    r.send().await.expect("introspection request")
}

/// Assert a signed answer for `caller`: media type, header, signature by
/// the JWKS, `iss`, `aud`, `iat`; its `token_introspection`.
async fn signed_answer(app: &TestApp, caller: &TestClient, r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type").as_deref(), Some(JWT_TYPE));
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let jwt = r.text().await.unwrap();
    assert_eq!(jwt.split('.').count(), 3, "a compact JWS: {jwt}");
    let h = jwt_part(&jwt, 0);
    assert_eq!(h["typ"], "token-introspection+jwt", "{h}");
    let jwks = app.jwks().await;
    let key = jwk(&jwks, h["kid"].as_str().expect("kid"));
    assert_eq!(h["alg"], key["alg"], "signed with the key's own alg");
    let alg: jsonwebtoken::Algorithm = key["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[app.issuer.as_str()]);
    v.set_audience(&[caller.id.as_str()]);
    v.validate_exp = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["iss", "aud"]);
    let claims = jsonwebtoken::decode::<Value>(&jwt, &decoding_key(key), &v)
        .expect("the answer verifies against the JWKS")
        .claims;
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], caller.id.as_str());
    assert_eq!(claims["iat"], app.now());
    claims["token_introspection"].clone()
}

#[actix_web::test]
async fn a_signed_answer_holds_exactly_the_plain_one() {
    let app = spawn_app().await;
    let rs = app
        .create_client(json!({"introspect_any": true, "scope": "read"}))
        .await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    // The server's clock, not the wall clock, dates the answer.
    app.clock.advance(7);

    let plain = app.assert_active(&rs, &token).await;
    let signed = signed_answer(
        &app,
        &rs,
        introspect_accepting(&app, &rs, &token, Some(JWT_TYPE)).await,
    )
    .await;
    assert_eq!(signed, plain);
    assert_eq!(signed["active"], true);

    // Its own token, introspected by the client that holds it.
    let own = app.introspect(&c, &token).await;
    let signed = signed_answer(
        &app,
        &c,
        introspect_accepting(&app, &c, &token, Some(JWT_TYPE)).await,
    )
    .await;
    assert_eq!(signed, own);

    // Among other media types, with parameters.
    let signed = signed_answer(
        &app,
        &rs,
        introspect_accepting(
            &app,
            &rs,
            &token,
            Some("application/json;q=0.5, application/token-introspection+jwt; charset=utf-8"),
        )
        .await,
    )
    .await;
    assert_eq!(signed, plain);
}

#[actix_web::test]
async fn an_inactive_token_is_signed_as_active_false() {
    let app = spawn_app().await;
    let rs = app
        .create_client(json!({"introspect_any": true, "scope": "read"}))
        .await;
    let c = app.cc_client().await;
    let revoked = app.get_token(&c).await;
    assert_eq!(app.revoke(&c, &revoked).await, StatusCode::OK);
    for token in ["garbage", revoked.as_str()] {
        app.assert_inactive(&rs, token).await;
        let signed = signed_answer(
            &app,
            &rs,
            introspect_accepting(&app, &rs, token, Some(JWT_TYPE)).await,
        )
        .await;
        assert_eq!(signed, json!({"active": false}));
    }
}

#[actix_web::test]
async fn a_client_registered_for_signed_answers_always_gets_them() {
    let app = spawn_app().await;
    let rs = app
        .create_client(json!({
            "introspect_any": true,
            "scope": "read",
            "introspection_signed_response_alg": "RS256",
        }))
        .await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let plain = app.introspect(&c, &token).await;
    let signed = signed_answer(
        &app,
        &rs,
        introspect_accepting(&app, &rs, &token, None).await,
    )
    .await;
    // The same answer as any caller allowed to see the token gets.
    assert_eq!(signed["sub"], plain["sub"]);
    assert_eq!(signed["jti"], plain["jti"]);
    assert_eq!(signed["active"], true);
    let signed = signed_answer(
        &app,
        &rs,
        introspect_accepting(&app, &rs, "garbage", None).await,
    )
    .await;
    assert_eq!(signed, json!({"active": false}));
    let v: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}", rs.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["introspection_signed_response_alg"], "RS256", "{v}");
}

#[actix_web::test]
async fn json_is_still_json() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("application/jwt"),
    ] {
        let r = introspect_accepting(&app, &c, &token, accept).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("application/json"),
            "{accept:?}"
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["active"], true);
    }
    // Errors are never signed.
    let r = app
        .http
        .post(app.url("/oauth2/token/introspect"))
        .header("accept", JWT_TYPE)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_web::test]
async fn discovery_names_the_servers_alg_and_answers_use_it() {
    for alg in ["RS256", "ES256"] {
        let app = spawn_app_with(|s| s.keys.algorithm = alg.into()).await;
        let d: Value = app
            .http
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            d["introspection_signing_alg_values_supported"],
            json!([alg])
        );
        let c = app.cc_client().await;
        let token = app.get_token(&c).await;
        let r = introspect_accepting(&app, &c, &token, Some(JWT_TYPE)).await;
        let plain = app.introspect(&c, &token).await;
        let signed = signed_answer(&app, &c, r).await;
        assert_eq!(signed, plain);
    }
}

/// RFC 9701 §6 / RFC 7591: `introspection_signed_response_alg` is the alg
/// the client's answers are signed with. A server that signs with its own
/// key either refuses a registration it cannot honour or honours it.
#[actix_web::test]
async fn a_registered_alg_is_honoured_or_refused() {
    let app = spawn_app().await;
    let server_alg = app.jwks().await["keys"][0]["alg"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server_alg, "RS256");
    let r = app
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "introspect_any": true,
                "scope": "read",
                "introspection_signed_response_alg": "ES256",
            })),
        )
        .await;
    if r.status() == StatusCode::BAD_REQUEST {
        return;
    }
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let rs = TestClient {
        id: body["client_id"].as_str().unwrap().to_string(),
        secret: body["client_secret"].as_str().unwrap().to_string(),
    };
    let r = introspect_accepting(&app, &rs, "garbage", None).await;
    assert_eq!(header(&r, "content-type").as_deref(), Some(JWT_TYPE));
    let jwt = r.text().await.unwrap();
    assert_eq!(
        jwt_part(&jwt, 0)["alg"],
        "ES256",
        "registered for ES256, signed with {}",
        jwt_part(&jwt, 0)["alg"]
    );
}

#[actix_web::test]
async fn only_the_servers_kinds_of_alg_may_be_registered() {
    let app = spawn_app().await;
    for alg in ["HS256", "none", "PS256", "rs256", ""] {
        let r = app
            .admin(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({"scope": "read", "introspection_signed_response_alg": alg})),
            )
            .await;
        let v = crate::helpers::assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("introspection_signed_response_alg"),
            "{alg}: {v}"
        );
    }
}
