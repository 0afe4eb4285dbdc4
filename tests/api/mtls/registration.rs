//! Registration of certificate clients (RFC 8705 §2.1.2): the one name a
//! `tls_client_auth` client registers, the keys of a self-signed one.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::self_signed;
use crate::helpers::{assert_api_error, spawn_app};

#[actix_web::test]
async fn certificate_clients_are_refused_without_what_they_need() {
    let app = spawn_app().await;
    let tls = |extra: Value| {
        let mut spec = json!({"token_endpoint_auth_method": "tls_client_auth"});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    let (_, jwks) = self_signed("registered");
    let mut no_x5c = jwks.clone();
    no_x5c["keys"][0].as_object_mut().unwrap().remove("x5c");
    let cases = [
        (tls(json!({})), "tls_client_auth"),
        (
            tls(
                json!({"tls_client_auth_subject_dn": "CN=a", "tls_client_auth_san_dns": "a.example"}),
            ),
            "exactly one",
        ),
        (
            tls(json!({"tls_client_auth_subject_dn": "not a dn"})),
            "tls_client_auth_subject_dn",
        ),
        (
            tls(json!({"tls_client_auth_san_ip": "300.1.1.1"})),
            "tls_client_auth_san_ip",
        ),
        (
            json!({"tls_client_auth_san_dns": "a.example"}),
            "only for tls_client_auth",
        ),
        (
            json!({"token_endpoint_auth_method": "self_signed_tls_client_auth"}),
            "x5c",
        ),
        (
            json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": no_x5c}),
            "x5c",
        ),
    ];
    for (spec, says) in cases {
        let r = app
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        let body = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(body.to_string().contains(says), "{spec}: {body}");
    }
    // Well formed: no secret is issued to either kind.
    for spec in [
        tls(json!({"tls_client_auth_san_ip": "10.0.0.1"})),
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwks}),
    ] {
        let r = app
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{spec}");
        let body: Value = r.json().await.unwrap();
        assert!(body.get("client_secret").is_none(), "{body}");
    }
}
