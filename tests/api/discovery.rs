//! `GET /oauth2/jwks` and the discovery documents.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn jwks_holds_public_rsa_parts_only_with_unique_kids() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type").unwrap().contains("json"));
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "current and next: {jwks}");
    let mut seen = HashSet::new();
    for k in keys {
        assert!(
            seen.insert(k["kid"].as_str().unwrap().to_string()),
            "duplicate kid: {jwks}"
        );
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "RS256");
        let n =
            tessera_actors::secret::b64url_decode(k["n"].as_str().unwrap()).expect("base64url n");
        assert!(n.len() >= 256, "at least 2048-bit modulus");
        assert_eq!(k["e"], "AQAB");
        let members: HashSet<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        let allowed: HashSet<&str> = ["kty", "use", "kid", "alg", "n", "e"].into();
        assert_eq!(members, allowed, "public members only: {k}");
    }
    // Nothing private anywhere in the document.
    let text = jwks.to_string();
    for private in [
        "\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "private",
    ] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    // The current signing kid is one of them.
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    let kid = jwt_part(&token, 0)["kid"].as_str().unwrap().to_string();
    assert!(seen.contains(&kid));
}

#[actix_web::test]
async fn kids_are_rfc7638_thumbprints() {
    let app = spawn_app().await;
    let jwks = app.jwks().await;
    for k in jwks["keys"].as_array().unwrap() {
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            k["e"].as_str().unwrap(),
            k["n"].as_str().unwrap()
        );
        let digest = tessera_actors::secret::sha256(canonical.as_bytes());
        assert_eq!(k["kid"], tessera_actors::secret::b64url(&digest));
    }
}

#[actix_web::test]
async fn discovery_is_served_at_three_paths_and_its_endpoints_work() {
    let app = spawn_app().await;
    let mut docs = Vec::new();
    for path in [
        "/oauth2/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(header(&r, "content-type")
            .unwrap()
            .starts_with("application/json"));
        docs.push(r.json::<Value>().await.unwrap());
    }
    assert!(docs.iter().all(|d| *d == docs[0]), "one document");
    let d = &docs[0];
    let iss = app.issuer.as_str();
    assert_eq!(d["issuer"], iss);
    assert_eq!(d["token_endpoint"], format!("{iss}/oauth2/token"));
    assert_eq!(
        d["introspection_endpoint"],
        format!("{iss}/oauth2/token/introspect")
    );
    assert_eq!(
        d["revocation_endpoint"],
        format!("{iss}/oauth2/token/revoke")
    );
    assert_eq!(d["jwks_uri"], format!("{iss}/oauth2/jwks"));
    let grants: Vec<&str> = d["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(grants.contains(&"client_credentials"));
    for m in ["client_secret_basic", "client_secret_post"] {
        assert!(d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == m));
        assert!(d["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == m));
    }
    assert!(d["access_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "RS256"));

    // A client that only knows the issuer finds everything from here.
    let c = app.cc_client().await;
    let r = app
        .http
        .post(d["token_endpoint"].as_str().unwrap())
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks: Value = app
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    verify_against_jwks(&token, &jwks, iss, &c.id);
    let r = app
        .http
        .post(d["introspection_endpoint"].as_str().unwrap())
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = app
        .http
        .post(d["revocation_endpoint"].as_str().unwrap())
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.assert_inactive(&c, &token).await;
}

#[actix_web::test]
async fn a_configured_issuer_is_used_everywhere() {
    let app = spawn_app_with(|s| s.issuer = Some("https://auth.example.com/".into())).await;
    assert_eq!(
        app.issuer, "https://auth.example.com",
        "trailing slash trimmed"
    );
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], "https://auth.example.com");
    assert_eq!(d["token_endpoint"], "https://auth.example.com/oauth2/token");
    let c = app.cc_client().await;
    let token = app.get_token(&c).await;
    assert_eq!(jwt_part(&token, 1)["iss"], "https://auth.example.com");
    let v = app.assert_active(&c, &token).await;
    assert_eq!(v["iss"], "https://auth.example.com");
    // The fallback path checks against the configured issuer too.
    let (h, claims) = app.genuine_parts(&c);
    app.assert_active(&c, &app.sign_with_server_key(&h, &claims))
        .await;
}
