//! What the metadata says about client authentication.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

const ASYMMETRIC: [&str; 9] = [
    "ES256", "ES384", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

fn set(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

#[actix_web::test]
async fn discovery_lists_the_methods_and_algorithms_of_client_assertions() {
    let app = spawn_app().await;
    let methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none"
    ]);
    let authenticated = json!([
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt"
    ]);
    let mut algs: Vec<&str> = ASYMMETRIC.to_vec();
    algs.extend(["HS256", "HS384", "HS512"]);
    let algs = json!(algs);
    for path in [
        "/.well-known/openid-configuration",
        "/oauth2/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let m: Value = r.json().await.unwrap();
        for (field, want) in [
            ("token_endpoint_auth_methods_supported", &methods),
            ("token_endpoint_auth_signing_alg_values_supported", &algs),
            (
                "introspection_endpoint_auth_methods_supported",
                &authenticated,
            ),
            (
                "introspection_endpoint_auth_signing_alg_values_supported",
                &algs,
            ),
            ("revocation_endpoint_auth_methods_supported", &methods),
            (
                "revocation_endpoint_auth_signing_alg_values_supported",
                &algs,
            ),
        ] {
            assert_eq!(set(&m[field]), set(want), "{path} {field}: {m}");
        }
        for field in [
            "token_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
        ] {
            assert!(
                !set(&m[field]).contains("none"),
                "RFC 8414 §2: none is never listed: {field}"
            );
        }
        assert_eq!(m["token_endpoint"], format!("{}/oauth2/token", app.issuer));
    }
}
