//! `tessera client create` with the RFC 7591 / OIDC Registration flags,
//! on a stopped server's store and through a running server.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::keys::{jwks, sign_jwt, ClientKey};
use super::{header_of, JWT_BEARER};
use crate::helpers::http_client;
use crate::process::{run, stderr, stdout, Server, ADMIN_TOKEN};

/// The issuer `crate::process` gives every server.
const ISSUER: &str = "http://tessera.test";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

fn field(out: &str, name: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
}

async fn admin_view(s: &Server, id: &str) -> Value {
    let r = http_client()
        .get(s.url(&format!("/admin/clients/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{id}");
    r.json().await.unwrap()
}

async fn token_by_key(s: &Server, key: &ClientKey, id: &str) -> (StatusCode, Value) {
    let t = now();
    let claims = json!({
        "iss": id, "sub": id, "aud": ISSUER, "iat": t, "exp": t + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let a = sign_jwt(key, &header_of(key), &claims);
    let r = http_client()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[actix_web::test]
async fn client_create_registers_key_based_clients_locally_and_remotely() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = ClientKey::es256("cli-1");
    let set = jwks(&[&key]);
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, set.to_string()).unwrap();

    // On the store: keys from a file, every new flag.
    let o = run(
        &data,
        &[
            "client",
            "create",
            "--client-id",
            "kj",
            "--scope",
            "read",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--token-endpoint-auth-signing-alg",
            "ES256",
            "--jwks",
            file.to_str().unwrap(),
            "--require-pushed-authorization-requests",
            "--request-object-signing-alg",
            "ES256",
            // The server's signing algorithm (RS256 by default).
            "--introspection-signed-response-alg",
            "RS256",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(field(&out, "client_id:").as_deref(), Some("kj"), "{out}");
    assert!(field(&out, "client_secret:").is_none(), "no secret: {out}");

    // Refused flags: a clean failure, nothing created.
    for (args, says) in [
        (
            vec!["--token-endpoint-auth-method", "client_secret_magic"],
            "client_secret_magic",
        ),
        (
            vec![
                "--token-endpoint-auth-method",
                "private_key_jwt",
                "--jwks",
                "/nonexistent/jwks.json",
            ],
            "/nonexistent/jwks.json",
        ),
        (
            vec![
                "--token-endpoint-auth-method",
                "private_key_jwt",
                "--jwks",
                "{not json",
            ],
            "jwks",
        ),
        (
            vec!["--token-endpoint-auth-method", "private_key_jwt"],
            "jwks",
        ),
    ] {
        let mut full = vec!["client", "create", "--client-id", "refused"];
        full.extend(args.iter().copied());
        let o = run(&data, &full);
        assert!(!o.status.success(), "{args:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    let s = Server::start(&data, &dir.path().join("serve.log"));
    let view = admin_view(&s, "kj").await;
    assert_eq!(
        view["token_endpoint_auth_method"], "private_key_jwt",
        "{view}"
    );
    assert_eq!(view["token_endpoint_auth_signing_alg"], "ES256", "{view}");
    assert_eq!(view["jwks"], set, "{view}");
    assert_eq!(
        view["require_pushed_authorization_requests"], true,
        "{view}"
    );
    assert_eq!(view["request_object_signing_alg"], "ES256", "{view}");
    assert_eq!(view["introspection_signed_response_alg"], "RS256", "{view}");
    let r = http_client()
        .get(s.url("/admin/clients/refused"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was created");
    // The key works against the server.
    let (status, body) = token_by_key(&s, &key, "kj").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Through the running server: keys inline, and a jwks_uri.
    let rsa = ClientKey::rsa("cli-2").signing_with("PS256");
    let inline = jwks(&[&rsa]).to_string();
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "client",
            "create",
            "--client-id",
            "kr",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--jwks",
            &inline,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(field(&out, "client_id:").as_deref(), Some("kr"), "{out}");
    assert!(field(&out, "client_secret:").is_none(), "no secret: {out}");
    let view = admin_view(&s, "kr").await;
    assert_eq!(
        view["token_endpoint_auth_method"], "private_key_jwt",
        "{view}"
    );
    assert_eq!(view["jwks"], jwks(&[&rsa]), "{view}");
    assert_eq!(
        view["require_pushed_authorization_requests"], false,
        "{view}"
    );
    let (status, body) = token_by_key(&s, &rsa, "kr").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "client",
            "create",
            "--client-id",
            "ku",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "https://client.example/jwks.json",
            "--token-endpoint-auth-signing-alg",
            "PS256",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let view = admin_view(&s, "ku").await;
    assert_eq!(
        view["jwks_uri"], "https://client.example/jwks.json",
        "{view}"
    );
    assert_eq!(view["token_endpoint_auth_signing_alg"], "PS256", "{view}");

    // client_secret_jwt through the server: a secret, shown once.
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "client",
            "create",
            "--client-id",
            "kh",
            "--token-endpoint-auth-method",
            "client_secret_jwt",
            "--token-endpoint-auth-signing-alg",
            "HS256",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        field(&out, "client_secret:").is_some_and(|s| s.starts_with("tes_cs_")),
        "{out}"
    );
    let view = admin_view(&s, "kh").await;
    assert_eq!(
        view["token_endpoint_auth_method"], "client_secret_jwt",
        "{view}"
    );

    // The server's refusal comes back as the command's.
    let o = run(
        &data,
        &[
            "--url",
            &s.address,
            "client",
            "create",
            "--client-id",
            "refused",
            "--token-endpoint-auth-method",
            "private_key_jwt",
            "--jwks",
            &inline,
            "--jwks-uri",
            "https://client.example/jwks.json",
        ],
    );
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("jwks"), "{}", stderr(&o));
    s.kill();
}
