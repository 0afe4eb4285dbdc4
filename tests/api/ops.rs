//! Operations: health, readiness, metrics, and the OpenAPI document.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["keys_loaded"], true);
    assert_eq!(v["actors_up"], true);
}

#[actix_web::test]
async fn readyz_is_503_once_the_actors_are_down() {
    let app = spawn_app().await;
    app.engine.shutdown();
    // Stopping arbiters is asynchronous; readiness must follow shortly.
    let mut last = StatusCode::OK;
    for _ in 0..100 {
        last = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if last == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(last, StatusCode::SERVICE_UNAVAILABLE);
    // Liveness is not readiness.
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn metrics_expose_requests_introspections_and_histograms() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let t = app.get_token(&c).await;
    app.assert_active(&c, &t).await;
    app.assert_inactive(&c, "garbage").await;
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| !l.starts_with('#') && l.contains(needle))
    };
    assert!(has("tessera_http_requests_total{"), "{text}");
    assert!(
        has(r#"route="/oauth2/token""#),
        "requests are labelled by route pattern"
    );
    assert!(has("tessera_introspections_total{"), "{text}");
    assert!(has(r#"result="active""#) && has(r#"result="inactive""#));
    assert!(
        has("tessera_http_request_duration_seconds_bucket{"),
        "a histogram, not a summary"
    );
    assert!(has(r#"le="+Inf""#));
    assert!(has("tessera_tokens_issued_total{"));
    assert!(text.contains("# TYPE tessera_http_requests_total counter"));
    assert!(text.contains("# TYPE tessera_http_request_duration_seconds histogram"));
    // Label cardinality stays bounded: raw paths never become labels.
    let _ = app
        .admin(Method::GET, "/admin/clients/some-random-id-123", None)
        .await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("some-random-id-123"));
    assert!(text.contains(r#"route="/admin/clients/{client_id}""#));
}

/// Every `#[get("...")]`-style route declared under `src/routes`.
fn declared_routes() -> BTreeSet<(String, String)> {
    fn walk(dir: &Path, out: &mut BTreeSet<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    let line = line.trim();
                    for m in ["get", "post", "put", "delete", "patch"] {
                        let prefix = format!("#[{m}(\"");
                        if let Some(rest) = line.strip_prefix(&prefix) {
                            let path = rest.split('"').next().unwrap();
                            out.insert((m.to_string(), path.to_string()));
                        }
                    }
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes"),
        &mut out,
    );
    out
}

#[actix_web::test]
async fn openapi_is_3_1_and_documents_every_route_served() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "tessera");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let declared = declared_routes();
    assert!(declared.len() >= 17, "{declared:?}");
    assert_eq!(
        documented, declared,
        "the OpenAPI document lists exactly the declared routes"
    );

    // Every documented route is actually served (not the fallback 404).
    for (method, path) in &documented {
        // Path parameters become a value that names nothing.
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') && seg.ends_with('}') {
                    "no-such-thing"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let m: Method = method.to_uppercase().parse().unwrap();
        let r = app
            .http
            .request(m, app.url(&concrete))
            .bearer_auth(&app.admin_token)
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("no such route"),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }

    // Security schemes the handlers name exist.
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for s in ["client_secret_basic", "client_secret_post", "admin_token"] {
        assert!(schemes.contains_key(s), "{s}");
    }
    // And the documented token request knows the form content type.
    let token_post = &doc["paths"]["/oauth2/token"]["post"];
    assert!(token_post["requestBody"]["content"]
        .as_object()
        .unwrap()
        .contains_key("application/x-www-form-urlencoded"));
}

#[actix_web::test]
async fn the_api_page_is_served_from_the_binary_over_the_generated_document() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers()["location"], "/docs/");
    let r = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    // The page's own config names our document, and its assets are here.
    let init = app
        .http
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let r = app.http.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(
            r.bytes().await.unwrap().len() > 10_000,
            "{asset} is the real file"
        );
    }
}

/// The commit `git` names for this checkout, when git and a checkout are
/// there (a source tarball has neither).
fn checkout_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

#[test]
fn version_names_the_commit_and_the_backends() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected_commit = checkout_commit().unwrap_or_else(|| "unknown".into());
    assert_eq!(
        text.trim(),
        format!(
            "tessera {} (commit {expected_commit}; backends: sled, postgres)",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[actix_web::test]
async fn build_info_is_a_metric() {
    let app = spawn_app().await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("tessera_build_info{"))
        .unwrap_or_else(|| panic!("no tessera_build_info in {text}"));
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains(r#"backends="sled,postgres""#), "{line}");
    let commit = tessera::build_info::COMMIT;
    assert!(line.contains(&format!("commit=\"{commit}\"")), "{line}");
    if let Some(c) = checkout_commit() {
        assert_eq!(commit, c, "the library was built from this checkout");
    }
}
