//! A store that cannot persist (an injected full disk): nothing is
//! acknowledged that was not made durable, and introspection keeps working.

use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
pub(crate) async fn a_failing_flush_makes_revocation_503_and_acknowledges_nothing() {
    let app = spawn_sled_app_with(|_| {}).await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let faults = app.store().faults().clone();

    faults.fail_flush.store(true, Ordering::SeqCst);
    let r = app.revoke_with(&c, &[("token", &token)]).await;
    assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
    assert_oauth_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    // Not acknowledged, so not published: still active, and introspection
    // answers throughout.
    for _ in 0..3 {
        app.assert_active(&c, &token).await;
        app.assert_inactive(&c, "garbage").await;
    }
    // JWT issuance does not wait for the disk and keeps working.
    let other = app.get_token(&c).await;
    app.assert_active(&c, &other).await;

    faults.fail_flush.store(false, Ordering::SeqCst);
    assert_eq!(app.revoke(&c, &token).await, StatusCode::OK);
    app.assert_inactive(&c, &token).await;
    app.assert_active(&c, &other).await;
}

#[actix_web::test]
async fn writes_that_must_be_durable_fail_with_5xx_while_the_disk_is_full() {
    let app = spawn_sled_app_with(|_| {}).await;
    let opaque = app
        .create_client(json!({"access_token_format": "opaque"}))
        .await;
    let faults = app.store().faults().clone();
    faults.fail_flush.store(true, Ordering::SeqCst);

    // An opaque token exists only in the store: no token without the disk.
    let r = app
        .token_request(&opaque, &[("grant_type", "client_credentials")])
        .await;
    let body = assert_oauth_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert!(body.get("access_token").is_none());

    // Admin writes: 503 and not visible.
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "during-fault"})),
        )
        .await;
    assert_api_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let r = app
        .admin(Method::GET, "/admin/clients/during-fault", None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/clients/{}/secret", opaque.id),
            None,
        )
        .await;
    assert_api_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // The old secret still works, since the new one was never acknowledged.
    let r = app.introspect_with(&opaque, &[("token", "x")]).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Health stays up; the failures are counted.
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("tessera_store_flush_failures_total"),
        "{metrics}"
    );

    faults.fail_flush.store(false, Ordering::SeqCst);
    let t = app.get_token(&opaque).await;
    app.assert_active(&opaque, &t).await;
}

/// A write that answered 503 never happened: retrying it once the disk is
/// back must succeed, and the store must agree with what the API showed.
#[actix_web::test]
async fn an_unacknowledged_client_creation_can_be_retried() {
    let app = spawn_sled_app_with(|_| {}).await;
    let faults = app.store().faults().clone();
    faults.fail_flush.store(true, Ordering::SeqCst);
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "retry-me"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    faults.fail_flush.store(false, Ordering::SeqCst);

    let r = app
        .admin(Method::GET, "/admin/clients/retry-me", None)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "never acknowledged, never visible"
    );
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "retry-me"})),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
}

/// A secret rotation that answered 503 must not take effect later: the old
/// secret is the one the operator still holds.
#[actix_web::test]
async fn an_unacknowledged_secret_rotation_does_not_take_effect() {
    let app = spawn_sled_app_with(|_| {}).await;
    let c = app.cc_client().await;
    let faults = app.store().faults().clone();
    faults.fail_flush.store(true, Ordering::SeqCst);
    let r = app
        .admin(
            Method::POST,
            &format!("/admin/clients/{}/secret", c.id),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    faults.fail_flush.store(false, Ordering::SeqCst);
    // Any later durable write flushes whatever the failed one left behind.
    app.create_client(json!({"client_id": "unrelated"})).await;
    let stored = app
        .store()
        .tree("clients")
        .unwrap()
        .get(c.id.as_bytes())
        .unwrap()
        .unwrap();
    let stored: tessera_actors::directory::Client = tessera_actors::store::decode(&stored).unwrap();
    assert!(
        tessera_actors::secret::verify_secret(&c.secret, stored.secret_hash.as_ref().unwrap()),
        "the store holds a secret nobody was given; the client is locked out at the next restart"
    );
    app.get_token(&c).await;
}
