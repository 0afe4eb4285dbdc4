//! A TLS-terminating proxy in front (`tls.client_cert_header`): the header
//! is honoured from `tls.trusted_proxies` only, over plain HTTP, for
//! authentication and for bound tokens at userinfo (code flow).

use base64::Engine as _;
use rcgen::DnType;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera::configuration::Settings;
use tessera::startup::Application;

use super::*;
use crate::flow::{create_user, rp_with, run_flow, SCOPE};
use crate::helpers::{http_client, spawn_app_with, TestApp};

const HEADER: &str = "X-Client-Cert";

/// nginx's `$ssl_client_escaped_cert`: the PEM, URL-encoded.
fn escaped(pair: &Pair) -> String {
    pair.cert_pem
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A client sending `pair` in the header on every request.
fn with_header(pair: &Pair) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER, HeaderValue::from_str(&escaped(pair)).unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn behind_proxy(cas: &ClientCa, dir: &tempfile::TempDir, proxy: &str) -> TestApp {
    let ca_file = cas.file(dir);
    let proxy = proxy.to_string();
    spawn_app_with(move |s| {
        s.tls.client_cert_header = Some(HEADER.into());
        s.tls.trusted_proxies = vec![proxy];
        s.tls.client_ca_file = Some(ca_file);
    })
    .await
}

async fn ignored_count(app: &TestApp) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("tessera_client_cert_header_ignored_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn cn_client() -> Value {
    json!({"token_endpoint_auth_method": "tls_client_auth",
           "tls_client_auth_subject_dn": "CN=proxied", "scope": "read"})
}

#[actix_web::test]
async fn the_header_is_honoured_from_a_trusted_proxy() {
    let cas = ClientCa::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let app = behind_proxy(&cas, &dir, "127.0.0.0/8").await;
    assert!(app.address.starts_with("http://"));
    let cert = cas.client(&[(DnType::CommonName, "proxied")], &[]);
    let id = register(&app, cn_client()).await;
    issued(cc_token(&app, &with_header(&cert), &id).await).await;
    // Base64 DER works too; another name does not.
    let mut headers = HeaderMap::new();
    headers.insert(
        HEADER,
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(&cert.der))
            .unwrap(),
    );
    let der = reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .build()
        .unwrap();
    issued(cc_token(&app, &der, &id).await).await;
    let other = cas.client(&[(DnType::CommonName, "someone else")], &[]);
    refused(cc_token(&app, &with_header(&other), &id).await).await;
    refused(cc_token(&app, &http_client(), &id).await).await;
}

#[actix_web::test]
async fn the_header_from_anyone_else_is_ignored_and_counted() {
    let cas = ClientCa::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let app = behind_proxy(&cas, &dir, "10.9.9.9").await;
    let cert = cas.client(&[(DnType::CommonName, "proxied")], &[]);
    let id = register(&app, cn_client()).await;
    let before = ignored_count(&app).await;
    refused(cc_token(&app, &with_header(&cert), &id).await).await;
    let after = ignored_count(&app).await;
    assert!(after >= before + 1.0, "{before} -> {after}");
}

#[actix_web::test]
async fn a_code_flow_token_bound_through_the_proxy_needs_the_certificate_at_userinfo() {
    let cas = ClientCa::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let mut app = behind_proxy(&cas, &dir, "127.0.0.1").await;
    let cert = cas.client(&[(DnType::CommonName, "rp")], &[]);
    let rp = rp_with(
        &app,
        json!({"first_party": true, "tls_client_certificate_bound_access_tokens": true}),
    )
    .await;
    let user = create_user(&app, "mtls-user").await;
    // The whole flow through the "proxy" (the browser's certificate does
    // not matter; the token request's does).
    app.http = with_header(&cert);
    let flow = run_flow(&app, &rp, &user, SCOPE).await;
    let at = &flow.tokens.access_token;
    let r = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sub"], user.id.to_string());
    for http in [
        http_client(),
        with_header(&cas.client(&[(DnType::CommonName, "rp")], &[])),
    ] {
        let r = http
            .get(app.url("/oauth2/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let www = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(www.contains("invalid_token"), "{www}");
    }
}

#[actix_web::test]
async fn a_header_without_trusted_proxies_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        workers: Some(1),
        ..Settings::default()
    };
    settings.tls.client_cert_header = Some(HEADER.into());
    let e = match Application::build(settings).await {
        Ok(_) => panic!("the application started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("tls.trusted_proxies"), "{e}");
}
