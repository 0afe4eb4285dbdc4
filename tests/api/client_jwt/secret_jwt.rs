//! `client_secret_jwt`: assertions with an HMAC of the client secret.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::keys::{hmac_jwt, sign_jwt, ClientKey};
use super::*;
use crate::helpers::{spawn_app, TestApp, TestClient};

async fn hmac_client(app: &TestApp, extra: Value) -> TestClient {
    let mut spec = json!({
        "scope": "read",
        "token_endpoint_auth_method": "client_secret_jwt",
        "access_token_format": "opaque",
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let c = app.create_client(spec).await;
    assert!(c.secret.starts_with("tes_cs_"), "{c:?}");
    c
}

fn hs(app: &TestApp, alg: &str, secret: &str, id: &str) -> String {
    hmac_jwt(
        secret.as_bytes(),
        &json!({"alg": alg, "typ": "JWT"}),
        &claims(app, id),
    )
}

#[actix_web::test]
async fn an_hmac_of_the_secret_authenticates_and_nothing_else_does() {
    let app = spawn_app().await;
    let c = hmac_client(&app, json!({})).await;
    for alg in ["HS256", "HS384", "HS512"] {
        let token = access_token(token_by(&app, &hs(&app, alg, &c.secret, &c.id), &[]).await).await;
        let a = hs(&app, alg, &c.secret, &c.id);
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
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["active"], true, "{alg}: {v}");
    }
    let before = stored_tokens(&app);
    let mut near = c.secret.clone();
    near.pop();
    let other = hmac_client(&app, json!({})).await;
    for a in [
        hs(&app, "HS256", "tes_cs_wrong", &c.id),
        hs(&app, "HS256", &near, &c.id),
        hs(&app, "HS256", "", &c.id),
        // Another client's secret.
        hs(&app, "HS256", &other.secret, &c.id),
        // A replay.
        {
            let a = hs(&app, "HS256", &c.secret, &c.id);
            access_token(token_by(&app, &a, &[]).await).await;
            a
        },
        // Claims checked as for private_key_jwt.
        hmac_jwt(
            c.secret.as_bytes(),
            &json!({"alg": "HS256"}),
            &with(
                claims(&app, &c.id),
                json!({"aud": "https://elsewhere.example"}),
            ),
        ),
        hmac_jwt(
            c.secret.as_bytes(),
            &json!({"alg": "HS256"}),
            &with(claims(&app, &c.id), json!({"exp": app.now() + 3600})),
        ),
    ] {
        let before = stored_tokens(&app);
        assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    }
    assert!(stored_tokens(&app) >= before);
    // Its secret also works by Basic? Only if it registered that: no.
    let cc = [("grant_type", "client_credentials")];
    let before = stored_tokens(&app);
    assert_unauthorized(&app, app.token_request(&c, &cc).await, before).await;
    let p = [
        cc[0],
        ("client_id", c.id.as_str()),
        ("client_secret", c.secret.as_str()),
    ];
    assert_unauthorized(&app, post(&app, "/oauth2/token", &p).await, before).await;
    // An asymmetric assertion from a client_secret_jwt client.
    let key = ClientKey::es256("k");
    let a = sign_jwt(&key, &header_of(&key), &claims(&app, &c.id));
    assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
}

#[actix_web::test]
async fn a_pinned_hmac_alg_is_the_only_one() {
    let app = spawn_app().await;
    let c = hmac_client(&app, json!({"token_endpoint_auth_signing_alg": "HS512"})).await;
    let before = stored_tokens(&app);
    for alg in ["HS256", "HS384"] {
        let r = token_by(&app, &hs(&app, alg, &c.secret, &c.id), &[]).await;
        assert_refused(&app, r, before).await;
    }
    access_token(token_by(&app, &hs(&app, "HS512", &c.secret, &c.id), &[]).await).await;
}

#[actix_web::test]
async fn a_private_key_jwt_client_cannot_use_client_secret_jwt() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k");
    let id = key_client(&app, &[&key], json!({})).await;
    let before = stored_tokens(&app);
    // It has no secret; whatever one guesses, and the key's own material.
    for secret in [
        String::new(),
        "tes_cs_guess".to_string(),
        key.jwk().to_string(),
        key.public_pem(),
    ] {
        for alg in ["HS256", "HS512"] {
            let r = token_by(&app, &hs(&app, alg, &secret, &id), &[]).await;
            assert_unauthorized(&app, r, before).await;
        }
    }
}

#[actix_web::test]
async fn after_a_secret_rotation_only_the_new_secret_signs() {
    let app = spawn_app().await;
    let c = hmac_client(&app, json!({})).await;
    access_token(token_by(&app, &hs(&app, "HS256", &c.secret, &c.id), &[]).await).await;
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/clients/{}/secret", c.id),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let new = v["client_secret"]
        .as_str()
        .expect("the new secret")
        .to_string();
    assert_ne!(new, c.secret);
    let before = stored_tokens(&app);
    let r = token_by(&app, &hs(&app, "HS256", &c.secret, &c.id), &[]).await;
    assert_refused(&app, r, before).await;
    access_token(token_by(&app, &hs(&app, "HS256", &new, &c.id), &[]).await).await;
    // The admin view never shows either.
    let view: Value = app
        .admin(Method::GET, &format!("/admin/clients/{}", c.id), None)
        .await
        .json()
        .await
        .unwrap();
    let text = view.to_string();
    assert!(!text.contains(&new) && !text.contains(&c.secret), "{view}");
}

/// A client_secret_jwt client that also registered public keys (for its
/// request objects): HMACs keyed with what is public about them do not
/// verify, and its keys do not sign its assertions.
#[actix_web::test]
async fn the_public_keys_of_a_client_secret_jwt_client_are_no_hmac_key() {
    let app = spawn_app().await;
    let key = ClientKey::rsa("k");
    let c = hmac_client(&app, json!({"jwks": super::keys::jwks(&[&key])})).await;
    let before = stored_tokens(&app);
    for secret in [
        key.public_pem().into_bytes(),
        key.public_der(),
        key.public_raw(),
        key.jwk().to_string().into_bytes(),
        super::keys::jwks(&[&key]).to_string().into_bytes(),
    ] {
        for h in [json!({"alg": "HS256"}), json!({"alg": "HS256", "kid": "k"})] {
            let a = hmac_jwt(&secret, &h, &claims(&app, &c.id));
            let body = assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("signature does not verify"),
                "{body}"
            );
        }
    }
    let a = sign_jwt(&key, &header_of(&key), &claims(&app, &c.id));
    assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
    access_token(token_by(&app, &hs(&app, "HS256", &c.secret, &c.id), &[]).await).await;
}
