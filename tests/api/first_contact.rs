//! What a newcomer and an operator run into first: a form sent to a JSON
//! endpoint, a client registered with unusable redirect URIs, the server's
//! address opened in a browser, and a fresh server's first scrape against
//! the dashboards.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_api_error, header, http_client, spawn_app};
use crate::process::Server;

#[actix_web::test]
async fn a_json_endpoint_says_it_expects_json() {
    let app = spawn_app().await;
    for (ct, body) in [
        (
            Some("application/x-www-form-urlencoded"),
            "client_id=a&scope=read",
        ),
        (Some("text/plain"), "{}"),
        (None, "client_id=a"),
    ] {
        let mut req = app
            .http
            .post(app.url("/admin/clients"))
            .bearer_auth(&app.admin_token)
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("application/json")
        );
        let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains("JSON") && m.contains("Content-Type: application/json"),
            "{ct:?}: {m}"
        );
    }
    // Malformed JSON names the problem and what is expected.
    let r = app
        .http
        .post(app.url("/admin/clients"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{\"scope\": 5}")
        .send()
        .await
        .unwrap();
    let e = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("invalid type") && m.contains("application/json"),
        "{m}"
    );
    assert!(app.listed_clients().await.is_empty());
}

async fn register(app: &crate::helpers::TestApp, spec: Value) -> reqwest::Response {
    app.admin(Method::POST, "/admin/clients", Some(spec)).await
}

#[actix_web::test]
async fn a_code_flow_client_needs_a_redirect_uri() {
    let app = spawn_app().await;
    for spec in [
        json!({"grant_types": ["authorization_code"]}),
        json!({"public": true}),
        json!({"grant_types": ["authorization_code", "refresh_token"], "redirect_uris": []}),
    ] {
        let e = assert_api_error(
            register(&app, spec.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert!(
            e["message"].as_str().unwrap().starts_with("redirect_uris:"),
            "{spec}: {e}"
        );
    }
    // A client that never runs the code flow needs none.
    let r = register(&app, json!({"grant_types": ["client_credentials"]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn plain_http_redirect_uris_only_to_loopback() {
    let app = spawn_app().await;
    for uri in [
        "http://app.example.com/cb",
        "http://localhost.example.com/cb",
        "http://127.0.0.1@evil.example/cb",
        "http://192.168.1.10/cb",
    ] {
        let spec = json!({"public": true, "redirect_uris": [uri]});
        let e = assert_api_error(
            register(&app, spec).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        let m = e["message"].as_str().unwrap();
        assert!(
            m.starts_with("redirect_uris:") && m.contains("https"),
            "{uri}: {m}"
        );
    }
    for uri in [
        "https://app.example.com/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8400/cb",
        "http://[::1]:8400/cb",
        "http://localhost/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
    ] {
        let spec = json!({"public": true, "redirect_uris": [uri]});
        let r = register(&app, spec).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{uri}");
    }
}

#[actix_web::test]
async fn the_cli_refuses_the_same_redirect_uris() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::process::run(
        dir.path(),
        &[
            "client",
            "create",
            "--public",
            "--redirect-uri",
            "http://app.example.com/cb",
        ],
    );
    assert!(!out.status.success(), "{}", crate::process::stdout(&out));
    assert!(
        crate::process::stderr(&out).contains("redirect_uris"),
        "{}",
        crate::process::stderr(&out)
    );
}

#[actix_web::test]
async fn the_root_is_a_landing_page_in_a_browser_and_an_index_otherwise() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    for href in [
        "/account",
        "/auth/login",
        "/docs/",
        "/.well-known/openid-configuration",
    ] {
        assert!(html.contains(&format!("href=\"{href}")), "{href}: {html}");
    }

    let r = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["issuer"], app.issuer.as_str());
    assert_eq!(
        v["openid_configuration"],
        format!("{}/.well-known/openid-configuration", app.issuer)
    );
    // Unknown paths are still a 404.
    let r = app.http.get(app.url("/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The `tessera_*` names in every PromQL expression of `grafana/dashboards`.
fn dashboard_metric_names() -> BTreeSet<String> {
    fn exprs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                        _ => exprs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
            _ => {}
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            exprs(&v, &mut all);
        }
    }
    let mut names = BTreeSet::new();
    for e in all {
        let bytes: Vec<char> = e.chars().collect();
        let mut i = 0;
        while i < bytes.len() {
            let word_start =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
            if word_start && e.chars().skip(i).take(8).collect::<String>() == "tessera_" {
                let name: String = bytes[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                i += name.len();
                names.insert(name);
            } else {
                i += 1;
            }
        }
    }
    assert!(names.len() >= 20, "{names:?}");
    names
}

#[actix_web::test]
async fn a_fresh_servers_first_scrape_has_every_dashboard_metric() {
    let names = dashboard_metric_names();
    // A process of its own: the test binary's recorder has seen the other
    // tests' traffic.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &dir.path().join("serve.log"));
    let r = http_client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let samples: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    // The cluster row's families come from cluster nodes only; a fresh
    // cluster node's first scrape is checked in
    // `metrics_dashboard::a_cluster_node_exports_every_metric_the_cluster_row_names`.
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with("tessera_cluster_"))
        .filter(|n| !samples.contains(n.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in the first scrape: {missing:?}");
}
