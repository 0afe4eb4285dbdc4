//! Losing the database while running: writes answer `503` with
//! `Retry-After` (never a `200` for what was not committed), introspection
//! keeps answering from memory, `/readyz` says `store_unavailable`, and
//! everything comes back without a restart.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{header, spawn_app_on, TestApp, TestBackend, TestDb};

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Poll `f` every 100 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn losing_the_database_answers_503_keeps_introspection_and_recovers() {
    let app = spawn_app_on(TestBackend::Postgres, |s| {
        s.store.statement_timeout_ms = 2000
    })
    .await;
    let opaque = app
        .create_client(
            json!({"client_id": "pg-opaque", "access_token_format": "opaque", "scope": "read"}),
        )
        .await;
    let jwt = app
        .create_client(json!({"client_id": "pg-jwt", "scope": "read"}))
        .await;
    let kept = app.get_token(&opaque).await;
    let signed = app.get_token(&jwt).await;
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    let db = app.db.as_ref().unwrap();
    TestDb::admin_exec(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        db.name()
    ));
    db.terminate_connections();

    // An opaque token exists only once written: no 200 without the commit.
    let r = app
        .token_request(&opaque, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        header(&r, "retry-after").is_some(),
        "503 says when to retry"
    );
    // A revocation is acknowledged only once durable.
    let r = app.revoke_with(&jwt, &[("token", signed.as_str())]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&r, "retry-after").is_some());
    // An admin write too.
    let r = app
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "pg-during", "scope": "read"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Introspection answers from memory all along.
    app.assert_active(&opaque, &kept).await;
    app.assert_active(&jwt, &signed).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "store_unavailable", "{body}");
    assert_eq!(body["store_unavailable"], true, "{body}");

    TestDb::admin_exec(format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        db.name()
    ));
    eventually(
        Duration::from_secs(20),
        "/readyz is ready again",
        || async { ready(&app).await.0 == StatusCode::OK },
    )
    .await;
    // Writes work again in the same process.
    let fresh = app.get_token(&opaque).await;
    app.assert_active(&opaque, &fresh).await;
    assert_eq!(app.revoke(&jwt, &signed).await, StatusCode::OK);
    app.assert_inactive(&jwt, &signed).await;
    // The refused client was never created; it can be now.
    let c = app
        .create_client(json!({"client_id": "pg-during", "scope": "read"}))
        .await;
    assert_eq!(c.id, "pg-during");
}

#[actix_web::test]
async fn cut_connections_are_replaced_without_a_failed_request_afterwards() {
    let app = spawn_app_on(TestBackend::Postgres, |_| {}).await;
    let c = app
        .create_client(
            json!({"client_id": "pg-cut", "access_token_format": "opaque", "scope": "read"}),
        )
        .await;
    let t = app.get_token(&c).await;
    app.db.as_ref().unwrap().terminate_connections();
    // The pool notices the dead connections; at most the first writes
    // after the cut fail (with a 503), then every one succeeds.
    eventually(
        Duration::from_secs(20),
        "a write succeeds after the cut",
        || async {
            app.token_request(&c, &[("grant_type", "client_credentials")])
                .await
                .status()
                == StatusCode::OK
        },
    )
    .await;
    for _ in 0..20 {
        let r = app
            .token_request(&c, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    app.assert_active(&c, &t).await;
}

/// A statement that cannot finish within `statement_timeout_ms` (here: a
/// table another session holds locked) is a `503`, not a hung request.
#[actix_web::test]
async fn a_statement_past_the_timeout_is_a_503_not_a_hung_request() {
    let mut app = spawn_app_on(TestBackend::Postgres, |s| {
        s.store.statement_timeout_ms = 1000
    })
    .await;
    let url = app.db.as_ref().unwrap().url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        crate::testdb::block(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            sqlx::query("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            locked_tx.send(()).unwrap();
            sqlx::query("SELECT pg_sleep(4)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
    });
    locked_rx.recv().unwrap();
    let started = Instant::now();
    let r = app
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({"client_id": "blocked", "scope": "read"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&r, "retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "answered within the timeout, not after the lock: {:?}",
        started.elapsed()
    );
    holder.join().unwrap();
    // A fresh connection: the idle one may meet the server's keep-alive end.
    app.http = crate::helpers::http_client();
    // The lock gone, the same write succeeds.
    let c = app
        .create_client(json!({"client_id": "blocked", "scope": "read"}))
        .await;
    assert_eq!(c.id, "blocked");
}
