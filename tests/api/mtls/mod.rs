//! RFC 8705: mutual-TLS client authentication (`tls_client_auth`,
//! `self_signed_tls_client_auth`) and certificate-bound access tokens, over
//! real TLS on loopback and through a trusted proxy's certificate header.
//!
//! Certificates are made here with rcgen: a client CA issuing certificates
//! with chosen subjects and SANs, and self-signed ones with their JWK.

mod proxy;
mod registration;
mod tls_auth;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::secret::b64url;

use crate::helpers::{assert_oauth_error, TestApp};
use crate::tls::Pair;

/// A CA that issues client certificates, and its PEM (for
/// `tls.client_ca_file`).
pub struct ClientCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl ClientCa {
    pub fn new(name: &str) -> ClientCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        ClientCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate with this subject (in encoding order, so the
    /// RFC 4514 string lists it backwards) and these SANs.
    pub fn client(&self, subject: &[(DnType, &str)], sans: &[&str]) -> Pair {
        let params = client_params(subject, sans);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// An intermediate CA under this one; its certificate's PEM is in
    /// the intermediate's own `pem`.
    pub fn intermediate(&self, name: &str) -> ClientCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ClientCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Write the CA certificate to a file in `dir`.
    pub fn file(&self, dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("client-ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

fn client_params(subject: &[(DnType, &str)], sans: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    // Only the names given (rcgen starts with a CN of its own).
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in subject {
        params.distinguished_name.push(t.clone(), *v);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

/// A self-signed client certificate and a JWK Set holding its key with
/// the certificate as `x5c` (RFC 8705 §2.2).
pub fn self_signed(name: &str) -> (Pair, Value) {
    let key = KeyPair::generate().unwrap();
    let cert = client_params(&[(DnType::CommonName, name)], &[])
        .self_signed(&key)
        .unwrap();
    let raw = key.public_key_raw();
    let jwks = json!({"keys": [{
        "kty": "EC",
        "crv": "P-256",
        "kid": name,
        "x": b64url(&raw[1..33]),
        "y": b64url(&raw[33..65]),
        "x5c": [STANDARD.encode(cert.der())],
    }]});
    let pair = Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    };
    (pair, jwks)
}

/// RFC 8705 §3.1: base64url SHA-256 of the certificate's DER.
pub fn thumbprint(pair: &Pair) -> String {
    use sha2::Digest;
    b64url(&sha2::Sha256::digest(&pair.der))
}

/// Register a client through the admin API; its id.
pub async fn register(app: &TestApp, spec: Value) -> String {
    app.create_client(spec).await.id
}

/// `POST /oauth2/token` (client_credentials) naming the client in the body
/// only, with `http`'s certificate if it has one.
pub async fn cc_token(app: &TestApp, http: &reqwest::Client, client_id: &str) -> reqwest::Response {
    http.post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ])
        .send()
        .await
        .expect("token request")
}

/// The access token of a `200` answer.
pub async fn issued(r: reqwest::Response) -> String {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A `401 invalid_client`.
pub async fn refused(r: reqwest::Response) -> Value {
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await
}
