//! Registering key-based clients: what is refused (`400 invalid_field`
//! naming the field, nothing created), what a `private_key_jwt` client is
//! given (no secret) and what the admin view shows back.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::keys::{jwks, ClientKey};
use crate::helpers::{assert_api_error, spawn_app};

#[actix_web::test]
async fn bad_key_registrations_are_400_and_create_nothing() {
    let app = spawn_app().await;
    let ec = ClientKey::es256("k1");
    let rsa = ClientKey::rsa("r1");
    let good = jwks(&[&ec]);
    let pkjwt = |extra: Value| {
        let mut spec = json!({"token_endpoint_auth_method": "private_key_jwt"});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        spec
    };
    let weak_rsa =
        json!({"kty": "RSA", "kid": "w", "n": super::keys::b64(&[0xc5; 128]), "e": "AQAB"});
    let mut short_ec = ec.jwk();
    short_ec["x"] = json!(super::keys::b64(&[1u8; 31]));
    let many: Vec<Value> = (0..21)
        .map(|i| {
            let mut k = ec.jwk();
            k["kid"] = json!(format!("k{i}"));
            k
        })
        .collect();
    // Coordinates of the right length that are not a point of P-256.
    let mut off_curve = ec.jwk();
    off_curve["y"] = json!(super::keys::b64(&[0x11; 32]));
    let mut mismatched = ec.jwk();
    mismatched["alg"] = json!("RS256");
    let mut enc_only = ec.jwk();
    enc_only["use"] = json!("enc");
    let mut numeric_kid = ec.jwk();
    numeric_kid["kid"] = json!(7);
    let cases: Vec<(Value, &str)> = vec![
        // private_key_jwt without keys.
        (pkjwt(json!({})), "jwks"),
        // Both ways of registering keys.
        (
            pkjwt(json!({"jwks": good, "jwks_uri": "https://client.example/jwks"})),
            "jwks",
        ),
        // Private members.
        (pkjwt(json!({"jwks": {"keys": [ec.private_jwk()]}})), "jwks"),
        (
            pkjwt(json!({"jwks": {"keys": [rsa.private_jwk()]}})),
            "jwks",
        ),
        (
            pkjwt(json!({"jwks": {"keys": [ec.jwk(), ClientKey::ed25519("e").private_jwk()]}})),
            "jwks",
        ),
        // Symmetric keys.
        (
            pkjwt(
                json!({"jwks": {"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}}),
            ),
            "jwks",
        ),
        // Too short an RSA modulus, a malformed EC point, an unknown curve.
        (pkjwt(json!({"jwks": {"keys": [weak_rsa]}})), "jwks"),
        (pkjwt(json!({"jwks": {"keys": [short_ec]}})), "jwks"),
        (pkjwt(json!({"jwks": {"keys": [off_curve]}})), "jwks"),
        (
            pkjwt(
                json!({"jwks": {"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}]}}),
            ),
            "jwks",
        ),
        // An alg that does not fit the key, a kid that is not a string.
        (pkjwt(json!({"jwks": {"keys": [mismatched]}})), "jwks"),
        (pkjwt(json!({"jwks": {"keys": [numeric_kid]}})), "jwks"),
        // No signature key at all; more than 20 keys; not a JWK Set.
        (pkjwt(json!({"jwks": {"keys": [enc_only]}})), "jwks"),
        (pkjwt(json!({"jwks": {"keys": []}})), "jwks"),
        (pkjwt(json!({"jwks": {"keys": many}})), "jwks"),
        (pkjwt(json!({"jwks": [ec.jwk()]})), "jwks"),
        (pkjwt(json!({"jwks": ec.jwk()})), "jwks"),
        // jwks_uri: absolute, no fragment.
        (pkjwt(json!({"jwks_uri": "/jwks.json"})), "jwks_uri"),
        (
            pkjwt(json!({"jwks_uri": "https://client.example/jwks#frag"})),
            "jwks_uri",
        ),
        (
            pkjwt(json!({"jwks_uri": "ftp://client.example/jwks"})),
            "jwks_uri",
        ),
        // Signing algorithms that do not fit the method.
        (
            pkjwt(json!({"jwks": good, "token_endpoint_auth_signing_alg": "HS256"})),
            "token_endpoint_auth_signing_alg",
        ),
        (
            pkjwt(json!({"jwks": good, "token_endpoint_auth_signing_alg": "none"})),
            "token_endpoint_auth_signing_alg",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "RS256"}),
            "token_endpoint_auth_signing_alg",
        ),
        (
            json!({"token_endpoint_auth_method": "client_secret_basic", "token_endpoint_auth_signing_alg": "HS256"}),
            "token_endpoint_auth_signing_alg",
        ),
        (
            json!({"token_endpoint_auth_signing_alg": "ES256", "jwks": good}),
            "token_endpoint_auth_signing_alg",
        ),
        // A public client authenticates with none.
        (
            json!({"public": true, "redirect_uris": ["https://app.example/cb"],
                   "token_endpoint_auth_method": "private_key_jwt", "jwks": good}),
            "token_endpoint_auth_method",
        ),
        (
            pkjwt(json!({"jwks": good, "request_object_signing_alg": "HS256"})),
            "request_object_signing_alg",
        ),
        (
            pkjwt(json!({"jwks": good, "introspection_signed_response_alg": "PS256"})),
            "introspection_signed_response_alg",
        ),
    ];
    for (spec, field) in cases {
        let r = app
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        let v = assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{spec}: {v}"
        );
    }
    // Not a method at all: the body does not parse.
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({"token_endpoint_auth_method": "client_secret_magic"})),
        )
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    let list = app.listed_clients().await;
    assert!(list.is_empty(), "nothing was created: {list:?}");
}

/// The contract: RSA keys of at least 2048 bits. A modulus of 256 bytes
/// whose first byte is below 0x80 has fewer bits (2041 to 2047 here):
/// no verifier of RS*/PS* (2048 to 8192 bits) could ever use it.
#[actix_web::test]
async fn an_rsa_key_shorter_than_2048_bits_is_refused_at_registration() {
    let app = spawn_app().await;
    for first in [0x01u8, 0x7f] {
        let mut n = vec![first];
        n.extend([0xc5u8; 255]);
        let bits = 2048 - first.leading_zeros();
        let spec = json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [{"kty": "RSA", "kid": "s", "n": super::keys::b64(&n), "e": "AQAB"}]},
        });
        let r = app.admin(Method::POST, "/admin/clients", Some(spec)).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "a {bits}-bit RSA modulus: {v}"
        );
    }
    let list = app.listed_clients().await;
    assert!(list.is_empty(), "nothing was created: {list:?}");
}

#[actix_web::test]
async fn a_private_key_jwt_client_gets_no_secret_and_the_admin_view_shows_its_registration() {
    let app = spawn_app().await;
    let ec = ClientKey::es256("k1");
    let ed = ClientKey::ed25519("k2");
    let set = jwks(&[&ec, &ed]);
    let spec = json!({
        "client_id": "signer",
        "scope": "read",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": set,
        "require_pushed_authorization_requests": true,
        "request_object_signing_alg": "ES256",
        // The server's signing algorithm (RS256 by default).
        "introspection_signed_response_alg": "RS256",
    });
    let r = app
        .admin(Method::POST, "/admin/clients", Some(spec.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert!(
        created.get("client_secret").is_none(),
        "no secret for a private_key_jwt client: {created}"
    );
    assert_eq!(created["public"], false, "{created}");

    let r = app.admin(Method::GET, "/admin/clients/signer", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.unwrap();
    assert_eq!(
        view["token_endpoint_auth_method"], "private_key_jwt",
        "{view}"
    );
    assert_eq!(view["token_endpoint_auth_signing_alg"], "ES256", "{view}");
    assert_eq!(view["jwks"], set, "{view}");
    assert!(view.get("jwks_uri").is_none(), "{view}");
    assert_eq!(
        view["require_pushed_authorization_requests"], true,
        "{view}"
    );
    assert_eq!(view["request_object_signing_alg"], "ES256", "{view}");
    assert_eq!(view["introspection_signed_response_alg"], "RS256", "{view}");
    assert!(view.get("client_secret").is_none(), "{view}");
    assert!(view.get("jwt_secret").is_none(), "{view}");

    // It has no secret to rotate.
    let r = app
        .admin(Method::POST, "/admin/clients/signer/secret", None)
        .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;

    // A jwks_uri client: shown back, no secret either.
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "published",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://client.example/jwks.json",
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    let view: Value = app
        .admin(Method::GET, "/admin/clients/published", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["jwks_uri"], "https://client.example/jwks.json",
        "{view}"
    );
    assert!(view.get("jwks").is_none(), "{view}");

    // Twenty keys is the most a set may hold.
    let twenty: Vec<Value> = (0..20)
        .map(|i| {
            let mut k = ec.jwk();
            k["kid"] = json!(format!("k{i}"));
            k
        })
        .collect();
    let c = app
        .create_client(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": twenty},
        }))
        .await;
    assert!(c.secret.is_empty());

    // Keys for encryption ride along in a set but are not signature keys.
    let mut enc = ClientKey::es256("enc").jwk();
    enc["use"] = json!("enc");
    let c = app
        .create_client(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [ec.jwk(), enc]},
        }))
        .await;
    assert!(c.secret.is_empty());
}

#[actix_web::test]
async fn client_secret_jwt_clients_get_a_secret_never_shown_again_and_none_is_public() {
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "hmac",
                "token_endpoint_auth_method": "client_secret_jwt",
                "token_endpoint_auth_signing_alg": "HS512",
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let secret = created["client_secret"]
        .as_str()
        .expect("a secret")
        .to_string();
    let view: Value = app
        .admin(Method::GET, "/admin/clients/hmac", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["token_endpoint_auth_method"], "client_secret_jwt",
        "{view}"
    );
    assert_eq!(view["token_endpoint_auth_signing_alg"], "HS512", "{view}");
    assert!(
        !view.to_string().contains(&secret),
        "the secret is never shown again: {view}"
    );
    let listed = app.listed_clients().await;
    assert!(!Value::Array(listed).to_string().contains(&secret));

    let r = app
        .admin(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "spa",
                "token_endpoint_auth_method": "none",
                "redirect_uris": ["https://app.example/cb"],
            })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["public"], true, "{created}");
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "none", "{created}");
}
