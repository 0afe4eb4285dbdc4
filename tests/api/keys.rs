//! Signing-key rotation: manual (`POST /admin/keys/rotate`) and when due,
//! and the retirement of old keys once their last token has expired.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

async fn admin_keys(app: &TestApp) -> Vec<Value> {
    let r = app.admin(Method::GET, "/admin/keys", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn kid_in_state(keys: &[Value], state: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k["state"] == state)
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn manual_rotation_promotes_next_and_keeps_old_tokens_verifiable() {
    let app = spawn_app().await;
    let c = app.cc_client().await;

    let before = admin_keys(&app).await;
    assert_eq!(before.len(), 2);
    let k1 = kid_in_state(&before, "current");
    let k2 = kid_in_state(&before, "next");
    assert_eq!((k1.len(), k2.len()), (1, 1), "{before:?}");
    let (k1, k2) = (k1[0].clone(), k2[0].clone());
    for k in &before {
        assert!(
            k.get("private_der").is_none() && k.get("d").is_none(),
            "no private parts: {k}"
        );
    }
    // The next key is published before it signs anything.
    let jwks_before = app.jwks_kids().await;
    assert!(jwks_before.contains(&k1) && jwks_before.contains(&k2));

    let old = app.get_token(&c).await;
    assert_eq!(jwt_part(&old, 0)["kid"], k1.as_str());

    app.clock.advance(10);
    let r = app.admin(Method::POST, "/admin/keys/rotate", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Vec<Value> = r.json().await.unwrap();
    assert_eq!(
        kid_in_state(&after, "current"),
        vec![k2.clone()],
        "next became current"
    );
    assert_eq!(kid_in_state(&after, "retired"), vec![k1.clone()]);
    let k3 = kid_in_state(&after, "next");
    assert_eq!(k3.len(), 1);
    let k3 = k3[0].clone();
    assert!(k3 != k1 && k3 != k2);
    let retired = after.iter().find(|k| k["kid"] == k1.as_str()).unwrap();
    let retired_at = retired["retired_at"].as_i64().unwrap();
    assert_eq!(retired_at, app.now());
    // Retired until the longest-lived token it can have signed is gone.
    assert!(retired["expires_at"].as_i64().unwrap() >= retired_at + 86_400);
    assert_eq!(admin_keys(&app).await, after, "GET /admin/keys agrees");

    let new = app.get_token(&c).await;
    assert_eq!(
        jwt_part(&new, 0)["kid"],
        k2.as_str(),
        "new tokens carry the new kid"
    );

    let jwks = app.jwks().await;
    let mut kids = kids(&jwks);
    kids.sort();
    let mut want = vec![k1.clone(), k2.clone(), k3.clone()];
    want.sort();
    assert_eq!(kids, want, "retired, current and next");

    // Both tokens introspect active and verify against the published set.
    app.assert_active(&c, &old).await;
    app.assert_active(&c, &new).await;
    verify_against_jwks(&old, &jwks, &app.issuer, &c.id);
    verify_against_jwks(&new, &jwks, &app.issuer, &c.id);
    // And a token signed by the retired key that the index never saw.
    let mut claims = jwt_part(&old, 1);
    claims["jti"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
    let header = jwt_part(&old, 0);
    let retired_key = app.stored_key(tessera_actors::keys::KeyState::Retired);
    let der = tessera_actors::secret::b64url_decode(&retired_key.private_der).unwrap();
    let twin = sign_raw(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&der),
        jsonwebtoken::Algorithm::RS256,
    );
    app.assert_active(&c, &twin).await;
}

#[actix_web::test]
async fn a_retired_key_disappears_once_its_tokens_have_expired() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let old = app.get_token(&c).await;
    let k1 = jwt_part(&old, 0)["kid"].as_str().unwrap().to_string();
    let keys: Vec<Value> = app
        .admin(Method::POST, "/admin/keys/rotate", None)
        .await
        .json()
        .await
        .unwrap();
    let expires_at = keys.iter().find(|k| k["kid"] == k1.as_str()).unwrap()["expires_at"]
        .as_i64()
        .unwrap();

    // Just before: still there.
    app.clock.set(expires_at - 1);
    app.tick_keys().await;
    assert!(app.jwks_kids().await.contains(&k1));

    app.clock.set(expires_at);
    app.tick_keys().await;
    let kids = app.jwks_kids().await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(!kids.contains(&k1));
    let listed = app
        .admin(Method::GET, "/admin/keys", None)
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    assert!(listed.iter().all(|k| k["kid"] != k1.as_str()));
    // Tokens under the gone key are dead (long expired anyway).
    app.assert_inactive(&c, &old).await;
    // Fresh tokens are fine.
    let t = app.get_token(&c).await;
    app.assert_active(&c, &t).await;
}

#[actix_web::test]
async fn keys_rotate_by_themselves_when_due() {
    let app = spawn_app_with(|s| s.keys.rotation_period = 3600).await;
    let c = app.cc_client().await;
    let t1 = app.get_token(&c).await;
    let k1 = jwt_part(&t1, 0)["kid"].as_str().unwrap().to_string();
    app.clock.advance(3599);
    app.tick_keys().await;
    assert_eq!(
        jwt_part(&app.get_token(&c).await, 0)["kid"],
        k1.as_str(),
        "not due yet"
    );
    app.clock.advance(1);
    app.tick_keys().await;
    let t2 = app.get_token(&c).await;
    let k2 = jwt_part(&t2, 0)["kid"].as_str().unwrap().to_string();
    assert_ne!(k1, k2, "rotated when due");
    assert!(
        app.jwks_kids().await.contains(&k1),
        "the old key still verifies"
    );
    app.assert_active(&c, &t2).await;
}

#[actix_web::test]
async fn repeated_rotations_keep_every_live_key_published() {
    let app = spawn_app_with(|s| s.keys.algorithm = "ES256".into()).await;
    let c = app.cc_client().await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(app.get_token(&c).await);
        app.clock.advance(60);
        let r = app.admin(Method::POST, "/admin/keys/rotate", None).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let jwks = app.jwks().await;
    assert_eq!(kids(&jwks).len(), 5, "three retired, current, next");
    for t in &tokens {
        app.assert_active(&c, t).await;
        verify_against_jwks(t, &jwks, &app.issuer, &c.id);
    }
    let mut distinct: Vec<String> = tokens
        .iter()
        .map(|t| jwt_part(t, 0)["kid"].as_str().unwrap().to_string())
        .collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
}

#[actix_web::test]
async fn rotation_needs_the_admin_token() {
    let app = spawn_app().await;
    let kids = app.jwks_kids().await;
    for auth in [None, Some("Bearer wrong")] {
        let mut r = app.http.post(app.url("/admin/keys/rotate"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        assert_api_error(
            r.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let r = app.http.get(app.url("/admin/keys")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.jwks_kids().await, kids, "nothing rotated");
}
