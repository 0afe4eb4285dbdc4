//! Over real TLS on loopback: `tls_client_auth` by subject DN and by SAN,
//! refusals (wrong DN, another CA, no certificate), `self_signed_tls_client_auth`,
//! certificate-bound tokens, discovery.

use rcgen::DnType;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::helpers::{jwt_part, TestApp};
use crate::tls::{client, spawn_tls_app, Ca, Pair, TlsFiles};

/// A TLS server asking for client certificates, trusting `client_ca`.
struct Server {
    app: TestApp,
    ca: Ca,
    _files: TlsFiles,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(client_ca: &ClientCa) -> Server {
        let ca = Ca::new("server CA");
        let files = TlsFiles::new(&ca.server());
        let dir = tempfile::tempdir().unwrap();
        let ca_file = client_ca.file(&dir);
        let app = spawn_tls_app(&files, &ca, |s| {
            s.tls.client_certificates = true;
            s.tls.client_ca_file = Some(ca_file);
        })
        .await;
        Server {
            app,
            ca,
            _files: files,
            _dir: dir,
        }
    }

    /// A client presenting `identity`, or none.
    fn http(&self, identity: Option<&Pair>) -> reqwest::Client {
        let mut b = client(&self.ca);
        if let Some(p) = identity {
            b = b.identity(p.identity());
        }
        b.build().unwrap()
    }
}

fn subject() -> Vec<(DnType, &'static str)> {
    vec![
        (DnType::CountryName, "DE"),
        (DnType::OrganizationName, "Example Corp"),
        (DnType::CommonName, "Client One"),
    ]
}

#[actix_web::test]
async fn tls_client_auth_by_subject_dn_and_by_san_dns() {
    let cas = ClientCa::new("client CA");
    let s = Server::start(&cas).await;
    let app = &s.app;
    let cert = cas.client(&subject(), &["client.example.com"]);
    let by_dn = register(
        app,
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "cn=Client  One, organizationName=example corp,C=DE",
               "scope": "read"}),
    )
    .await;
    let by_san = register(
        app,
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_san_dns": "CLIENT.example.com", "scope": "read"}),
    )
    .await;
    let with = s.http(Some(&cert));
    for id in [&by_dn, &by_san] {
        let at = issued(cc_token(app, &with, id).await).await;
        assert!(!at.is_empty());
    }
    // The admin view shows the registration back, without a secret.
    let view: Value = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{by_san}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["token_endpoint_auth_method"], "tls_client_auth",
        "{view}"
    );
    assert_eq!(
        view["tls_client_auth_san_dns"], "CLIENT.example.com",
        "{view}"
    );
    assert!(view.get("client_secret").is_none(), "{view}");

    // Another subject, the same CA: neither name fits.
    let other = cas.client(
        &[(DnType::CommonName, "Client Two")],
        &["other.example.com"],
    );
    for id in [&by_dn, &by_san] {
        refused(cc_token(app, &s.http(Some(&other)), id).await).await;
    }
    // The right names from a CA the server does not trust.
    let stranger = ClientCa::new("another CA").client(&subject(), &["client.example.com"]);
    for id in [&by_dn, &by_san] {
        let body = refused(cc_token(app, &s.http(Some(&stranger)), id).await).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("chain"),
            "{body}"
        );
    }
    // No certificate at all.
    for id in [&by_dn, &by_san] {
        refused(cc_token(app, &s.http(None), id).await).await;
    }
    // A secret is no way in for a certificate client.
    let r = s
        .http(Some(&cert))
        .post(app.url("/oauth2/token"))
        .basic_auth(&by_dn, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    refused(r).await;
}

#[actix_web::test]
async fn a_certificate_of_an_intermediate_ca_chains_with_the_intermediate_sent() {
    let root = ClientCa::new("client root");
    let s = Server::start(&root).await;
    let app = &s.app;
    let intermediate = root.intermediate("client intermediate");
    let leaf = intermediate.client(&[(DnType::CommonName, "via intermediate")], &[]);
    let id = register(
        app,
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "CN=via intermediate"}),
    )
    .await;
    // The leaf alone does not reach the root the server trusts...
    refused(cc_token(app, &s.http(Some(&leaf)), &id).await).await;
    // ...the leaf with its intermediate does.
    let chained = Pair {
        cert_pem: format!("{}{}", leaf.cert_pem, intermediate.pem),
        ..leaf.clone()
    };
    issued(cc_token(app, &s.http(Some(&chained)), &id).await).await;
}

#[actix_web::test]
async fn self_signed_tls_client_auth_takes_only_the_registered_certificate() {
    let s = Server::start(&ClientCa::new("client CA")).await;
    let app = &s.app;
    let (cert, jwks) = self_signed("self signed one");
    let id = register(
        app,
        json!({"token_endpoint_auth_method": "self_signed_tls_client_auth",
               "jwks": jwks, "scope": "read"}),
    )
    .await;
    issued(cc_token(app, &s.http(Some(&cert)), &id).await).await;
    let (another, _) = self_signed("self signed one");
    refused(cc_token(app, &s.http(Some(&another)), &id).await).await;
    refused(cc_token(app, &s.http(None), &id).await).await;
}

#[actix_web::test]
async fn bound_tokens_carry_the_thumbprint_and_need_the_certificate() {
    let cas = ClientCa::new("client CA");
    let s = Server::start(&cas).await;
    let app = &s.app;
    let cert = cas.client(&subject(), &[]);
    let id = register(
        app,
        json!({"token_endpoint_auth_method": "tls_client_auth",
               "tls_client_auth_subject_dn": "CN=Client One,O=Example Corp,C=DE",
               "tls_client_certificate_bound_access_tokens": true,
               "access_token_format": "jwt", "scope": "read",
               "introspect_any": true}),
    )
    .await;
    let with = s.http(Some(&cert));
    let at = issued(cc_token(app, &with, &id).await).await;
    let x5t = thumbprint(&cert);
    assert_eq!(jwt_part(&at, 1)["cnf"]["x5t#S256"], x5t.as_str());

    // Introspection (the client introspecting its own token) shows it.
    let r = with
        .post(app.url("/oauth2/token/introspect"))
        .form(&[("token", at.as_str()), ("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["cnf"]["x5t#S256"], x5t.as_str(), "{body}");

    // At a resource: without the certificate (or with another) the token
    // is refused; with it, the binding holds (a client's token has no
    // user, so userinfo goes no further than that).
    let userinfo = |http: reqwest::Client| {
        let url = app.url("/oauth2/userinfo");
        let at = at.clone();
        async move { http.get(url).bearer_auth(at).send().await.unwrap() }
    };
    let other = cas.client(&subject(), &[]);
    for http in [s.http(None), s.http(Some(&other))] {
        let r = userinfo(http).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let www = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(www.contains("invalid_token"), "{www}");
    }
    let r = userinfo(with.clone()).await;
    assert_ne!(r.status(), StatusCode::UNAUTHORIZED);

    // A bound-token client without a certificate gets nothing.
    let secret_client = app
        .create_client(json!({"scope": "read", "tls_client_certificate_bound_access_tokens": true}))
        .await;
    let r = s
        .http(None)
        .post(app.url("/oauth2/token"))
        .basic_auth(&secret_client.id, Some(&secret_client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    crate::helpers::assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    // With one (any, here self-signed: a secret authenticates), bound to it.
    let (own, _) = self_signed("any");
    let r = s
        .http(Some(&own))
        .post(app.url("/oauth2/token"))
        .basic_auth(&secret_client.id, Some(&secret_client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let at = issued(r).await;
    let body = app.introspect(&secret_client, &at).await;
    assert_eq!(body["cnf"]["x5t#S256"], thumbprint(&own).as_str(), "{body}");
}

#[actix_web::test]
async fn discovery_lists_mtls_only_when_certificates_can_come() {
    let s = Server::start(&ClientCa::new("client CA")).await;
    let doc: Value = s
        .app
        .http
        .get(s.app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = doc["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("\"tls_client_auth\""), "{methods}");
    assert!(methods.contains("self_signed_tls_client_auth"), "{methods}");
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
    let aliases = &doc["mtls_endpoint_aliases"];
    assert_eq!(
        aliases["token_endpoint"], doc["token_endpoint"],
        "{aliases}"
    );
    assert_eq!(aliases["userinfo_endpoint"], doc["userinfo_endpoint"]);
    assert_eq!(
        aliases["pushed_authorization_request_endpoint"],
        doc["pushed_authorization_request_endpoint"]
    );

    let plain = crate::helpers::spawn_app().await;
    let doc: Value = plain
        .http
        .get(plain.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = doc["token_endpoint_auth_methods_supported"].to_string();
    assert!(!methods.contains("tls_client_auth"), "{methods}");
    assert!(doc
        .get("tls_client_certificate_bound_access_tokens")
        .is_none());
    assert!(doc.get("mtls_endpoint_aliases").is_none());
}
