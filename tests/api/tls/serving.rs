//! Serving over TLS: discovery names an `https://` issuer, HTTP/2 and
//! HTTP/1.1 are both answered, plain HTTP to the TLS port gets nothing,
//! and the plain health listener answers the health endpoints only.

use reqwest::{StatusCode, Version};
use serde_json::Value;
use tessera::startup::Application;

use super::{client, spawn_tls_app, Ca, TlsFiles};
use crate::helpers::{http_client, test_settings, TestBackend};

#[actix_web::test]
async fn discovery_over_https_names_an_https_issuer() {
    let ca = Ca::new("discovery CA");
    let files = TlsFiles::new(&ca.server());
    let app = spawn_tls_app(&files, &ca, |_| {}).await;
    assert_eq!(app.issuer, app.address);
    for path in [
        "/.well-known/openid-configuration",
        "/oauth2/.well-known/openid-configuration",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["issuer"], app.address.as_str(), "{doc}");
        for endpoint in ["token_endpoint", "introspection_endpoint", "jwks_uri"] {
            let url = doc[endpoint].as_str().unwrap();
            assert!(url.starts_with("https://127.0.0.1:"), "{endpoint}: {url}");
        }
    }
    // The token endpoints work over it, and a token names the https issuer.
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["iss"], app.address.as_str(), "{v}");
}

#[actix_web::test]
async fn http2_and_http1_are_both_answered() {
    let ca = Ca::new("ALPN CA");
    let files = TlsFiles::new(&ca.server());
    let app = spawn_tls_app(&files, &ca, |_| {}).await;
    // ALPN picks HTTP/2 when the client offers it.
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), Version::HTTP_2);
    let h1 = client(&ca).http1_only().build().unwrap();
    let r = h1.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.version(), Version::HTTP_11);
    // A form POST over each: introspection.
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    for (http, version) in [(&app.http, Version::HTTP_2), (&h1, Version::HTTP_11)] {
        let r = http
            .post(app.url("/oauth2/token/introspect"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), version);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["active"], true, "{v}");
    }
}

#[actix_web::test]
async fn plain_http_to_the_tls_port_gets_no_answer() {
    let ca = Ca::new("plain CA");
    let files = TlsFiles::new(&ca.server());
    let app = spawn_tls_app(&files, &ca, |_| {}).await;
    let r = http_client()
        .get(format!("http://127.0.0.1:{}/healthz", app.port))
        .send()
        .await;
    assert!(r.is_err(), "a plain request was answered: {r:?}");
    // The server is still up for TLS clients.
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_health_listener_answers_health_only_over_plain_http() {
    let ca = Ca::new("health CA");
    let files = TlsFiles::new(&ca.server());
    let app = spawn_tls_app(&files, &ca, |s| {
        s.tls.health_bind = Some("127.0.0.1:0".into());
    })
    .await;
    let port = app.health_port.expect("a health listener");
    assert_ne!(port, app.port);
    let plain = http_client();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let r = plain.get(url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = plain.get(url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    for path in [
        "/oauth2/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
        "/oauth2/jwks",
        "/metrics",
        "/admin/clients",
    ] {
        let r = plain.get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = plain
        .post(url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The main port still serves everything, over TLS.
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn stopping_the_server_stops_its_health_listener() {
    let ca = Ca::new("stop CA");
    let files = TlsFiles::new(&ca.server());
    let dir = tempfile::tempdir().unwrap();
    let (mut settings, _db) = test_settings(dir.path(), TestBackend::Sled);
    files.set(&mut settings);
    settings.tls.health_bind = Some("127.0.0.1:0".into());
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let (port, health) = (app.port(), app.health_port().expect("health port"));
    let handle = app.handle();
    let running = actix_web::rt::spawn(app.run_until_stopped());
    let plain = http_client();
    let health_url = format!("http://127.0.0.1:{health}/healthz");
    assert_eq!(
        plain.get(&health_url).send().await.unwrap().status(),
        StatusCode::OK
    );
    handle.stop(true).await;
    running.await.unwrap().unwrap();
    assert!(plain.get(&health_url).send().await.is_err());
    let tls = client(&ca).build().unwrap();
    assert!(tls
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .is_err());
}
