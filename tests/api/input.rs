//! Bad input: repeated parameters, wrong content types, oversize bodies,
//! and the charset of every `error_description`.

use std::io::{Read, Write};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const OAUTH_PATHS: [&str; 3] = [
    "/oauth2/token",
    "/oauth2/token/introspect",
    "/oauth2/token/revoke",
];

#[actix_web::test]
async fn a_repeated_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let cases = [
        (
            "/oauth2/token",
            "grant_type=client_credentials&scope=read&scope=write".to_string(),
        ),
        (
            "/oauth2/token",
            "grant_type=client_credentials&grant_type=client_credentials".to_string(),
        ),
        // The snake_case and camelCase spellings are the same parameter.
        (
            "/oauth2/token",
            "grant_type=client_credentials&grantType=client_credentials".to_string(),
        ),
        (
            "/oauth2/token/introspect",
            format!("token={token}&token={token}"),
        ),
        (
            "/oauth2/token/introspect",
            format!("token={token}&token_type_hint=a&tokenTypeHint=b"),
        ),
        ("/oauth2/token/revoke", format!("token={token}&token=x")),
    ];
    for (path, body) in cases {
        let r = app.post_form(path, &body, Some(&c)).await;
        let v = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("repeated"),
            "{path} {body}: {v}"
        );
    }
    // The repeated revocation did nothing.
    app.assert_active(&c, &token).await;
}

#[actix_web::test]
async fn a_wrong_content_type_is_a_json_400() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    for path in OAUTH_PATHS {
        for ct in [
            Some("application/json"),
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let mut r = app
                .http
                .post(app.url(path))
                .basic_auth(&c.id, Some(&c.secret))
                .body(r#"{"grant_type":"client_credentials","token":"x"}"#);
            if let Some(ct) = ct {
                r = r.header("content-type", ct);
            }
            let r = r.send().await.unwrap();
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
    }
    // A charset parameter and odd case are still the form type.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .header(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(64 * 1024)
    );
    for path in OAUTH_PATHS {
        let r = app.post_form(path, &big, Some(&c)).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let v: Value = r.json().await.expect("a JSON error");
        assert_eq!(v["error"], "payload_too_large");
    }
    // Just under the limit is parsed (and the padding ignored).
    let fits = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(64 * 1024 - 40)
    );
    assert!(fits.len() <= 64 * 1024);
    assert_eq!(
        app.post_form("/oauth2/token", &fits, Some(&c))
            .await
            .status(),
        StatusCode::OK
    );

    // The admin API's JSON bodies have the same limit.
    let spec = json!({"name": "x".repeat(70 * 1024)});
    let r = app.admin(Method::POST, "/admin/clients", Some(spec)).await;
    assert_api_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

/// A chunked body (no Content-Length) over the limit is cut off too.
#[actix_web::test]
async fn chunked_bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let port = app.port;
    let status = actix_web::rt::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let chunk = "a".repeat(8192);
        for _ in 0..10 {
            if write!(s, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
                break; // the server may stop reading early
            }
        }
        let _ = write!(s, "0\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).to_string()
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(status.contains("payload_too_large"), "{status}");
}

#[actix_web::test]
async fn error_descriptions_never_echo_unsafe_characters() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    // Parameter names end up in descriptions: make them as nasty as possible.
    let nasty = "%22%5C%C3%A9%0A%00%7F%E2%80%8B";
    let bodies = [
        format!("grant_type=client_credentials&{nasty}=1&{nasty}=2"),
        format!("grant_type=x%22%5C%C3%A9%0A&{nasty}=1"),
        "grant_type=client_credentials&scope=%22%5C%0A%C3%A9".to_string(),
        "grant_type=client_credentials&audience=%22%5C%0A%C3%A9".to_string(),
        "grant_type=client_credentials&resource=%C3%A9%E2%80%8B".to_string(),
        "scope=%22".to_string(),
    ];
    for body in &bodies {
        let r = app.post_form("/oauth2/token", body, Some(&c)).await;
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        let d = v["error_description"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}: {v}"));
        assert_description_charset(d);
    }
    for path in ["/oauth2/token/introspect", "/oauth2/token/revoke"] {
        let r = app
            .post_form(path, &format!("{nasty}=1&{nasty}=1"), Some(&c))
            .await;
        let v = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_description_charset(v["error_description"].as_str().unwrap());
    }
    // Basic credentials with unsafe bytes.
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth("a\"b\\c\u{e9}", Some("x\"\\"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[actix_web::test]
async fn malformed_form_encoding_is_handled() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    // Broken percent escapes, bare `&`s, `=`-less pairs: never a 5xx.
    for body in [
        "%",
        "%zz=1",
        "&&&",
        "grant_type",
        "=x",
        "grant_type=client_credentials&%E0%A4%A=1",
    ] {
        let r = app.post_form("/oauth2/token", body, Some(&c)).await;
        assert!(
            r.status().is_client_error() || r.status().is_success(),
            "{body}: {}",
            r.status()
        );
        let v: Value = r.json().await.expect("JSON answer");
        assert!(v.is_object());
    }
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json_404() {
    let app = spawn_app().await;
    for (m, p) in [
        (Method::GET, "/nope"),
        (Method::GET, "/oauth2/token"),
        (Method::DELETE, "/oauth2/jwks"),
        (Method::PUT, "/admin/clients"),
    ] {
        let r = app
            .http
            .request(m.clone(), app.url(p))
            .send()
            .await
            .unwrap();
        assert_api_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}
