//! `private_key_jwt` that works: every key type, every accepted `aud`, at
//! the token, introspection, revocation and PAR endpoints.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::keys::{sign_jwt, ClientKey};
use super::*;
use crate::helpers::{spawn_app, INACTIVE};

#[actix_web::test]
async fn every_key_type_gets_a_token_that_introspects_active() {
    let app = spawn_app().await;
    let observer = app
        .create_client(json!({"scope": "read", "introspect_any": true}))
        .await;
    let keys = [
        ClientKey::es256("ec"),
        ClientKey::es384("ec384"),
        ClientKey::ed25519("ed"),
        ClientKey::rsa("rs"),
        ClientKey::rsa("ps").signing_with("PS256"),
        ClientKey::rsa("rs512").signing_with("RS512"),
    ];
    for key in &keys {
        let id = key_client(&app, &[key], json!({})).await;
        let before = stored_tokens(&app);
        let body = issued(token_by(&app, &assertion(&app, key, &id), &[]).await).await;
        assert_eq!(body["token_type"], "Bearer", "{}: {body}", key.alg());
        assert_eq!(body["scope"], "read write", "{}: {body}", key.alg());
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            stored_tokens(&app),
            before + 1,
            "{}: one token issued",
            key.alg()
        );
        let v = app.assert_active(&observer, token).await;
        assert_eq!(v["client_id"], id.as_str(), "{v}");
        // The client introspects its own token by assertion too.
        let v = introspect_by(&app, key, &id, token).await;
        assert_eq!(v["active"], true, "{}: {v}", key.alg());
    }
    // With JWT access tokens too: the token names the client.
    let key = &keys[0];
    let id = key_client(&app, &[key], json!({"access_token_format": "jwt"})).await;
    let token = access_token(token_by(&app, &assertion(&app, key, &id), &[]).await).await;
    assert_eq!(
        crate::helpers::jwt_part(&token, 1)["client_id"],
        id.as_str()
    );
    app.assert_active(&observer, &token).await;
}

#[actix_web::test]
async fn one_client_with_several_keys_may_sign_with_any_and_name_none() {
    let app = spawn_app().await;
    let (ec, rsa, ed) = (
        ClientKey::es256("a"),
        ClientKey::rsa("b").signing_with("PS384"),
        ClientKey::ed25519("c"),
    );
    let id = key_client(&app, &[&ec, &rsa, &ed], json!({})).await;
    for key in [&ec, &rsa, &ed] {
        access_token(token_by(&app, &assertion(&app, key, &id), &[]).await).await;
        // Without a kid, the keys that fit the alg are tried.
        let a = sign_jwt(key, &json!({"alg": key.alg()}), &claims(&app, &id));
        access_token(token_by(&app, &a, &[]).await).await;
    }
    // client_id in the body may name the client too.
    let a = assertion(&app, &ec, &id);
    access_token(token_by(&app, &a, &[("client_id", &id)]).await).await;
    // A pinned algorithm is accepted when used.
    let pinned = key_client(
        &app,
        &[&rsa],
        json!({"token_endpoint_auth_signing_alg": "PS384"}),
    )
    .await;
    access_token(token_by(&app, &assertion(&app, &rsa, &pinned), &[]).await).await;
}

#[actix_web::test]
async fn aud_may_be_the_issuer_the_token_endpoint_or_an_array_holding_one() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k");
    let id = key_client(&app, &[&key], json!({})).await;
    let token_endpoint = format!("{}/oauth2/token", app.issuer);
    for aud in [
        json!(app.issuer),
        json!(token_endpoint),
        json!(["https://elsewhere.example", app.issuer]),
        json!([token_endpoint]),
    ] {
        let c = with(claims(&app, &id), json!({"aud": aud}));
        let a = sign_jwt(&key, &header_of(&key), &c);
        let r = token_by(&app, &a, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "aud {aud}");
        issued(r).await;
    }
}

/// The client introspects and revokes its token, each call authenticated
/// by a new assertion; `aud` may also be the URL of the endpoint called.
#[actix_web::test]
async fn introspection_and_revocation_accept_assertions() {
    let app = spawn_app().await;
    let key = ClientKey::rsa("k").signing_with("PS256");
    let id = key_client(&app, &[&key], json!({})).await;
    let token = access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;

    let introspect = format!("{}/oauth2/token/introspect", app.issuer);
    let revoke = format!("{}/oauth2/token/revoke", app.issuer);
    let token_endpoint = format!("{}/oauth2/token", app.issuer);
    for aud in [&app.issuer, &introspect, &token_endpoint] {
        let a = sign_jwt(
            &key,
            &header_of(&key),
            &with(claims(&app, &id), json!({"aud": aud})),
        );
        let r = post(
            &app,
            "/oauth2/token/introspect",
            &[
                ("token", &token),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &a),
            ],
        )
        .await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "aud {aud}: {v}");
        assert_eq!(v["active"], true, "aud {aud}: {v}");
        assert_eq!(v["client_id"], id.as_str(), "{v}");
    }

    let a = sign_jwt(
        &key,
        &header_of(&key),
        &with(claims(&app, &id), json!({"aud": revoke})),
    );
    let r = post(
        &app,
        "/oauth2/token/revoke",
        &[
            ("token", &token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = introspect_by(&app, &key, &id, &token).await;
    assert_eq!(v.to_string(), INACTIVE);
}

#[actix_web::test]
async fn a_pushed_authorization_request_accepts_an_assertion() {
    let app = spawn_app().await;
    let key = ClientKey::ed25519("k");
    let id = key_client(
        &app,
        &[&key],
        json!({
            "scope": "openid",
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://rp.example/cb"],
        }),
    )
    .await;
    let par = format!("{}/oauth2/par", app.issuer);
    let a = sign_jwt(
        &key,
        &header_of(&key),
        &with(claims(&app, &id), json!({"aud": par})),
    );
    let r = post(
        &app,
        "/oauth2/par",
        &[
            ("response_type", "code"),
            ("redirect_uri", "https://rp.example/cb"),
            ("scope", "openid"),
            ("state", "s1"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["request_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("urn:ietf:params:oauth:request_uri:")),
        "{body}"
    );
    // The same assertion again: its jti is used.
    let r = post(
        &app,
        "/oauth2/par",
        &[
            ("response_type", "code"),
            ("redirect_uri", "https://rp.example/cb"),
            ("scope", "openid"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    let body =
        crate::helpers::assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("jti was already used"),
        "{body}"
    );
}

/// A client deleted and registered again under its id with a new key:
/// the old key no longer works, the new one does.
#[actix_web::test]
async fn a_client_registered_again_with_a_new_key_drops_the_old_one() {
    let app = spawn_app().await;
    let old = ClientKey::es256("same-kid");
    let new = ClientKey::es256("same-kid");
    let id = key_client(&app, &[&old], json!({"client_id": "again"})).await;
    access_token(token_by(&app, &assertion(&app, &old, &id), &[]).await).await;
    let r = app
        .admin(reqwest::Method::DELETE, "/admin/clients/again", None)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    key_client(&app, &[&new], json!({"client_id": "again"})).await;
    let before = stored_tokens(&app);
    let r = token_by(&app, &assertion(&app, &old, &id), &[]).await;
    assert_refused(&app, r, before).await;
    access_token(token_by(&app, &assertion(&app, &new, &id), &[]).await).await;
}
