//! Keys published at a `jwks_uri` (a loopback server of the test's own):
//! fetched on first need, cached, fetched again for a new `kid` at most
//! once per interval, and bounded in time and size.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::jwks_server::{JwksServer, Reply};
use super::keys::{jwks, ClientKey};
use super::*;
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn http_app() -> TestApp {
    spawn_app_with(|s| s.client_auth.allow_http_jwks_uri = true).await
}

async fn uri_client(app: &TestApp, uri: &str) -> String {
    let c = app
        .create_client(json!({
            "scope": "read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": uri,
            "access_token_format": "opaque",
        }))
        .await;
    assert!(c.secret.is_empty());
    c.id
}

#[actix_web::test]
async fn keys_are_fetched_once_cached_and_fetched_again_for_a_new_kid() {
    let app = http_app().await;
    let k1 = ClientKey::es256("k1");
    let server = JwksServer::start(Reply::json(&jwks(&[&k1]))).await;
    let id = uri_client(&app, &server.url).await;
    assert_eq!(server.requests(), 0, "not fetched when registered");

    let token = access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
    assert_eq!(server.requests(), 1);
    let v = introspect_by(&app, &k1, &id, &token).await;
    assert_eq!(v["active"], true, "{v}");
    for _ in 0..3 {
        access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
    }
    assert_eq!(server.requests(), 1, "the set is cached");

    // The client rotates: k2 replaces k1 at its jwks_uri. Past the refetch
    // interval, an assertion naming k2 fetches the set again, once.
    let k2 = ClientKey::rsa("k2").signing_with("PS256");
    server.serve(Reply::json(&jwks(&[&k2])));
    app.clock.advance(61);
    access_token(token_by(&app, &assertion(&app, &k2, &id), &[]).await).await;
    assert_eq!(server.requests(), 2, "one fetch for the new kid");
    access_token(token_by(&app, &assertion(&app, &k2, &id), &[]).await).await;
    assert_eq!(server.requests(), 2);

    // Another unknown kid within the interval: no fetch, refused.
    let k3 = ClientKey::es256("k3");
    server.serve(Reply::json(&jwks(&[&k2, &k3])));
    let before = stored_tokens(&app);
    assert_refused(
        &app,
        token_by(&app, &assertion(&app, &k3, &id), &[]).await,
        before,
    )
    .await;
    assert_refused(
        &app,
        token_by(&app, &assertion(&app, &k3, &id), &[]).await,
        before,
    )
    .await;
    assert_eq!(server.requests(), 2, "no fetch within the refetch interval");
    // k1 left the set: refused without a fetch either.
    assert_refused(
        &app,
        token_by(&app, &assertion(&app, &k1, &id), &[]).await,
        before,
    )
    .await;
    assert_eq!(server.requests(), 2);

    // Past the interval k3 fetches and works.
    app.clock.advance(61);
    access_token(token_by(&app, &assertion(&app, &k3, &id), &[]).await).await;
    assert_eq!(server.requests(), 3);

    // The cache grows old (jwks_cache_seconds): fetched again, once.
    app.clock.advance(301);
    access_token(token_by(&app, &assertion(&app, &k2, &id), &[]).await).await;
    access_token(token_by(&app, &assertion(&app, &k2, &id), &[]).await).await;
    assert_eq!(server.requests(), 4);
}

/// Many first assertions at once share one fetch.
#[actix_web::test]
async fn concurrent_assertions_share_one_fetch() {
    let app = http_app().await;
    let k1 = ClientKey::es256("k1");
    let server =
        JwksServer::start(Reply::json(&jwks(&[&k1])).after(Duration::from_millis(200))).await;
    let id = uri_client(&app, &server.url).await;
    let batch: Vec<String> = (0..6).map(|_| assertion(&app, &k1, &id)).collect();
    let answers =
        futures_util::future::join_all(batch.iter().map(|a| token_by(&app, a, &[]))).await;
    for r in answers {
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(server.requests(), 1, "one fetch for all of them");
}

#[actix_web::test]
async fn an_earlier_good_set_keeps_working_while_the_server_fails() {
    let app = http_app().await;
    let k1 = ClientKey::ed25519("k1");
    let server = JwksServer::start(Reply::json(&jwks(&[&k1]))).await;
    let id = uri_client(&app, &server.url).await;
    access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
    server.serve(Reply::status(500, "oops"));
    app.clock.advance(301);
    access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
    assert_eq!(
        server.requests(),
        2,
        "the old set was due, the fetch failed"
    );
    // A new kid while the server fails: refused.
    let k2 = ClientKey::ed25519("k2");
    app.clock.advance(61);
    let before = stored_tokens(&app);
    assert_refused(
        &app,
        token_by(&app, &assertion(&app, &k2, &id), &[]).await,
        before,
    )
    .await;
    access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
}

#[actix_web::test]
async fn a_slow_key_server_fails_within_the_timeout() {
    let app = spawn_app_with(|s| {
        s.client_auth.allow_http_jwks_uri = true;
        s.client_auth.jwks_timeout = 1;
    })
    .await;
    let k1 = ClientKey::es256("k1");
    let server = JwksServer::start(Reply::json(&jwks(&[&k1])).after(Duration::from_secs(4))).await;
    let id = uri_client(&app, &server.url).await;
    let before = stored_tokens(&app);
    let started = Instant::now();
    let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
    let took = started.elapsed();
    assert_refused(&app, r, before).await;
    assert!(
        took < Duration::from_secs(3),
        "bounded by jwks_timeout: {took:?}"
    );
    assert_eq!(server.requests(), 1);
    // Failed just now: not fetched again at once.
    let started = Instant::now();
    let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
    assert_refused(&app, r, before).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.connections(), 1);
    // Once the server is quick again (and a little time has passed), it works.
    server.serve(Reply::json(&jwks(&[&k1])));
    app.clock.advance(61);
    access_token(token_by(&app, &assertion(&app, &k1, &id), &[]).await).await;
}

/// A server that sends its head at once and then stalls in the body is
/// cut off by the same timeout.
#[actix_web::test]
async fn a_key_server_stalling_in_the_body_fails_within_the_timeout() {
    let app = spawn_app_with(|s| {
        s.client_auth.allow_http_jwks_uri = true;
        s.client_auth.jwks_timeout = 1;
    })
    .await;
    let k1 = ClientKey::es256("k1");
    let mut padded = jwks(&[&k1]);
    padded["padding"] = json!("x".repeat(2048));
    for reply in [
        Reply::json(&padded).stalling(Duration::from_secs(4)),
        Reply::json(&padded)
            .without_length()
            .stalling(Duration::from_secs(4)),
    ] {
        let server = JwksServer::start(reply).await;
        let id = uri_client(&app, &server.url).await;
        let before = stored_tokens(&app);
        let started = Instant::now();
        let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
        let took = started.elapsed();
        assert_refused(&app, r, before).await;
        assert!(
            took < Duration::from_secs(3),
            "bounded by jwks_timeout: {took:?}"
        );
        assert_eq!(server.requests(), 1);
    }
}

#[actix_web::test]
async fn huge_non_json_and_error_answers_are_refused() {
    let app = spawn_app_with(|s| {
        s.client_auth.allow_http_jwks_uri = true;
        s.client_auth.jwks_max_bytes = 4096;
    })
    .await;
    let k1 = ClientKey::es256("k1");
    let set = jwks(&[&k1]);
    let mut padded = set.clone();
    padded["padding"] = json!("x".repeat(8 * 1024));
    let hostile = [
        ("huge, announced", Reply::json(&padded)),
        ("huge, not announced", Reply::json(&padded).without_length()),
        ("not JSON", Reply::status(200, "<html>keys</html>")),
        ("JSON, no keys", Reply::json(&json!({"keys": []}))),
        (
            "JSON, a private key only",
            Reply::json(&json!({"keys": [k1.private_jwk()]})),
        ),
        ("404", Reply::status(404, &set.to_string())),
        ("redirect", {
            let mut r = Reply::status(302, "");
            r.body = Vec::new();
            r
        }),
    ];
    for (why, reply) in hostile {
        let server = JwksServer::start(reply).await;
        let id = uri_client(&app, &server.url).await;
        let before = stored_tokens(&app);
        let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
        let body = assert_refused(&app, r, before).await;
        eprintln!("{why}: {body}");
        assert_eq!(server.requests(), 1, "{why}");
        // The same key served properly works: the answer was the problem.
        server.serve(Reply::json(&set));
        app.clock.advance(6);
        let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{why}: then served properly");
        assert_eq!(server.requests(), 2, "{why}");
    }
}

#[actix_web::test]
async fn http_key_servers_are_not_contacted_unless_allowed() {
    let app = spawn_app().await;
    let k1 = ClientKey::es256("k1");
    let server = JwksServer::start(Reply::json(&jwks(&[&k1]))).await;
    let id = uri_client(&app, &server.url).await;
    let before = stored_tokens(&app);
    for _ in 0..2 {
        let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
        assert_refused(&app, r, before).await;
        app.clock.advance(61);
    }
    assert_eq!(server.connections(), 0, "the server was never contacted");
    // Allowed, loopback only: an http URI naming another host is not
    // fetched either (nothing listens there; the refusal is immediate).
    let app = http_app().await;
    let id = uri_client(&app, "http://192.0.2.1/jwks.json").await;
    let started = Instant::now();
    let before = stored_tokens(&app);
    let r = token_by(&app, &assertion(&app, &k1, &id), &[]).await;
    assert_refused(&app, r, before).await;
    assert!(started.elapsed() < Duration::from_secs(2), "not fetched");
}

#[actix_web::test]
async fn fetches_and_assertions_are_counted_in_metrics() {
    let app = http_app().await;
    let k1 = ClientKey::es256("k1");
    let good = JwksServer::start(Reply::json(&jwks(&[&k1]))).await;
    let bad = JwksServer::start(Reply::status(500, "no")).await;
    let id = uri_client(&app, &good.url).await;
    let broken = uri_client(&app, &bad.url).await;
    let a = assertion(&app, &k1, &id);
    access_token(token_by(&app, &a, &[]).await).await;
    let before = stored_tokens(&app);
    assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    let r = token_by(&app, &assertion(&app, &k1, &broken), &[]).await;
    assert_refused(&app, r, before).await;
    let fetches = metric_lines(&app, "tessera_jwks_fetches_total").await;
    let has = |lines: &[String], label: &str| lines.iter().any(|l| l.contains(label));
    assert!(has(&fetches, r#"outcome="ok""#), "{fetches:?}");
    assert!(has(&fetches, r#"outcome="error""#), "{fetches:?}");
    let jwts = metric_lines(&app, "tessera_client_jwts_total").await;
    assert!(has(&jwts, r#"outcome="accepted""#), "{jwts:?}");
    assert!(has(&jwts, r#"outcome="replayed""#), "{jwts:?}");
}
