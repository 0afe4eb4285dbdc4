//! How a client authenticates: one method at a time (`400
//! invalid_request` for several), only the one it registered (`401
//! invalid_client` for another), at every endpoint.

use reqwest::StatusCode;
use serde_json::json;

use super::keys::{hmac_jwt, sign_jwt, unsigned_jwt, ClientKey};
use super::*;
use crate::helpers::{spawn_app, TestClient};

#[actix_web::test]
async fn ambiguous_or_malformed_requests_are_400() {
    let (app, key, id) = one_client().await;
    let secret_client = app
        .create_client(json!({"scope": "read", "access_token_format": "opaque"}))
        .await;
    let before = stored_tokens(&app);
    let a = assertion(&app, &key, &id);
    let cc = ("grant_type", "client_credentials");
    // Wrong or missing client_assertion_type.
    for t in [
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        Some("jwt-bearer"),
        Some(""),
        None,
    ] {
        let mut p = vec![cc, ("client_assertion", a.as_str())];
        if let Some(t) = t {
            p.push(("client_assertion_type", t));
        }
        assert_bad_request(&app, post(&app, "/oauth2/token", &p).await, before).await;
    }
    // A type without an assertion.
    let p = [
        cc,
        ("client_assertion_type", JWT_BEARER),
        ("client_id", id.as_str()),
    ];
    assert_bad_request(&app, post(&app, "/oauth2/token", &p).await, before).await;
    // An assertion and Basic, or and a client_secret.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&secret_client.id, Some(&secret_client.secret))
        .form(&[
            cc,
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_bad_request(&app, r, before).await;
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some("anything"))
        .form(&[
            cc,
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_bad_request(&app, r, before).await;
    let p = [
        cc,
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &a),
        ("client_secret", "x"),
    ];
    assert_bad_request(&app, post(&app, "/oauth2/token", &p).await, before).await;
    // client_id in the body that is not the assertion's sub.
    let p = [
        cc,
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &a),
        ("client_id", &secret_client.id),
    ];
    assert_bad_request(&app, post(&app, "/oauth2/token", &p).await, before).await;
    // Two assertions.
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={a}&client_assertion={a}",
        JWT_BEARER
    );
    let r = app.post_form("/oauth2/token", &body, None).await;
    assert_bad_request(&app, r, before).await;
    // None of the above used the assertion up.
    access_token(token_by(&app, &a, &[]).await).await;
}

#[actix_web::test]
async fn a_client_registered_for_a_method_uses_that_one() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = key_client(&app, &[&key], json!({})).await;
    let basic_only = app
        .create_client(
            json!({"scope": "read", "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .await;
    let post_only = app
        .create_client(json!({"scope": "read", "token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let legacy = app.cc_client().await;
    let before = stored_tokens(&app);
    let cc = [("grant_type", "client_credentials")];

    // private_key_jwt client: no secret to present, nor "none".
    for secret in ["", "x", "tes_cs_guess"] {
        let fake = TestClient {
            id: id.clone(),
            secret: secret.into(),
        };
        assert_unauthorized(&app, app.token_request(&fake, &cc).await, before).await;
        let p = [cc[0], ("client_id", id.as_str()), ("client_secret", secret)];
        assert_unauthorized(&app, post(&app, "/oauth2/token", &p).await, before).await;
    }
    let p = [cc[0], ("client_id", id.as_str())];
    assert_unauthorized(&app, post(&app, "/oauth2/token", &p).await, before).await;

    // client_secret_basic client: the right secret in the body is refused.
    let p = [
        cc[0],
        ("client_id", basic_only.id.as_str()),
        ("client_secret", basic_only.secret.as_str()),
    ];
    assert_unauthorized(&app, post(&app, "/oauth2/token", &p).await, before).await;
    // client_secret_post client: the right secret by Basic is refused.
    assert_unauthorized(&app, app.token_request(&post_only, &cc).await, before).await;
    // Each of them, and a client registered without a method, sending an
    // HMAC assertion keyed with its own secret.
    for c in [&basic_only, &post_only, &legacy] {
        let a = hmac_jwt(
            c.secret.as_bytes(),
            &json!({"alg": "HS256"}),
            &claims(&app, &c.id),
        );
        assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
    }
    // And each works its own way.
    assert_eq!(
        app.token_request(&basic_only, &cc).await.status(),
        StatusCode::OK
    );
    let p = [
        cc[0],
        ("client_id", post_only.id.as_str()),
        ("client_secret", post_only.secret.as_str()),
    ];
    assert_eq!(
        post(&app, "/oauth2/token", &p).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(&legacy, &cc).await.status(),
        StatusCode::OK
    );
    access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;
}

#[actix_web::test]
async fn introspection_and_revocation_refuse_bad_assertions_too() {
    let (app, key, id) = one_client().await;
    let token = access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;
    let forger = ClientKey::es256("k1");
    for path in ["/oauth2/token/introspect", "/oauth2/token/revoke"] {
        for a in [
            sign_jwt(&forger, &header_of(&forger), &claims(&app, &id)),
            unsigned_jwt(&claims(&app, &id)),
            sign_jwt(
                &key,
                &header_of(&key),
                &with(claims(&app, &id), json!({"exp": app.now() - 60})),
            ),
        ] {
            let r = post(
                &app,
                path,
                &[
                    ("token", &token),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &a),
                ],
            )
            .await;
            assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
        }
    }
    // Nothing was revoked.
    let v = introspect_by(&app, &key, &id, &token).await;
    assert_eq!(v["active"], true, "{v}");
}
