//! Client certificates (`tls.client_certificates`): optional, any
//! certificate taken (self-signed too), the handshake signature checked,
//! and the leaf's DER handed to handlers through the connection's data.
//!
//! No production route reads it yet, so a tiny app in this binary serves
//! what `tessera::tls::peer_certificate` returns, built with the server's
//! own `tessera::tls::server_config` and `tessera::tls::on_connect`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::{StatusCode, Version};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use tessera::configuration::TlsSettings;
use tessera_actors::secret::b64url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::certs::self_signed_client;
use super::{client, spawn_tls_app, Ca, Pair, TlsFiles};

/// The DER of the connection's client certificate (base64url), or `204`.
async fn peer(req: HttpRequest) -> HttpResponse {
    match tessera::tls::peer_certificate(&req) {
        Some(der) => HttpResponse::Ok().body(b64url(&der)),
        None => HttpResponse::NoContent().finish(),
    }
}

/// The tiny app over TLS; its port (the server dies with the test).
fn serve_peer(files: &TlsFiles, client_certificates: bool) -> u16 {
    let settings = TlsSettings {
        cert_file: Some(files.cert.clone()),
        key_file: Some(files.key.clone()),
        client_certificates,
        ..TlsSettings::default()
    };
    let (config, _reloader) = tessera::tls::server_config(&settings).expect("TLS config");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| App::new().route("/peer", web::get().to(peer)))
        .workers(1)
        .on_connect(tessera::tls::on_connect)
        .listen_rustls_0_23(listener, config)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);
    port
}

/// `GET /peer` with `identity` over HTTP/2 and HTTP/1.1 (two requests on
/// each connection); the body each time, or `None` for a `204`.
async fn peer_seen(ca: &Ca, port: u16, identity: Option<&Pair>) -> Option<String> {
    let mut seen = Vec::new();
    for http1 in [false, true] {
        let mut b = client(ca);
        if http1 {
            b = b.http1_only();
        }
        if let Some(p) = identity {
            b = b.identity(p.identity());
        }
        let http = b.build().unwrap();
        for _ in 0..2 {
            let r = http
                .get(format!("https://127.0.0.1:{port}/peer"))
                .send()
                .await
                .unwrap();
            let want = if http1 {
                Version::HTTP_11
            } else {
                Version::HTTP_2
            };
            assert_eq!(r.version(), want);
            seen.push(match r.status() {
                StatusCode::OK => Some(r.text().await.unwrap()),
                StatusCode::NO_CONTENT => None,
                other => panic!("GET /peer: {other}"),
            });
        }
    }
    let first = seen.first().cloned().flatten();
    assert!(seen.iter().all(|s| *s == first), "{seen:?}");
    first
}

#[actix_web::test]
async fn a_client_certificate_reaches_the_handler() {
    let ca = Ca::new("peer CA");
    let files = TlsFiles::new(&ca.server());
    let port = serve_peer(&files, true);
    // One issued by a CA the server knows nothing of.
    let issued = Ca::new("a client's own CA").client("client one");
    assert_eq!(
        peer_seen(&ca, port, Some(&issued)).await,
        Some(b64url(&issued.der))
    );
    // A self-signed one (RFC 8705 self_signed_tls_client_auth).
    let own = self_signed_client("client two");
    assert_eq!(
        peer_seen(&ca, port, Some(&own)).await,
        Some(b64url(&own.der))
    );
    // The certificate is optional.
    assert_eq!(peer_seen(&ca, port, None).await, None);
}

#[actix_web::test]
async fn without_client_certificates_none_is_asked_for() {
    let ca = Ca::new("no-mtls CA");
    let files = TlsFiles::new(&ca.server());
    let port = serve_peer(&files, false);
    let own = self_signed_client("client");
    assert_eq!(peer_seen(&ca, port, Some(&own)).await, None);
}

#[actix_web::test]
async fn the_server_with_client_certificates_on_serves_clients_with_and_without() {
    let ca = Ca::new("mtls server CA");
    let files = TlsFiles::new(&ca.server());
    let app = spawn_tls_app(&files, &ca, |s| s.tls.client_certificates = true).await;
    let own = self_signed_client("client");
    let with = client(&ca).identity(own.identity()).build().unwrap();
    for http in [&app.http, &with] {
        let r = http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// A client certificate offered with a key that is not its own: the
/// handshake signature does not verify, and nothing is served.
#[actix_web::test]
async fn a_certificate_without_its_key_fails_the_handshake() {
    let ca = Ca::new("impostor CA");
    let files = TlsFiles::new(&ca.server());
    let port = serve_peer(&files, true);
    let victim = self_signed_client("victim");
    let impostor = self_signed_client("impostor");
    // The control: the honest pair is served.
    let honest = raw_get_peer(&ca, port, &victim, &victim).await;
    assert!(honest.starts_with("HTTP/1.1 200"), "{honest}");
    assert!(honest.contains(&b64url(&victim.der)), "{honest}");
    // The victim's certificate signed for with the impostor's key.
    let answer = raw_get_peer(&ca, port, &victim, &impostor).await;
    assert!(!answer.contains("HTTP/1.1"), "answered: {answer}");
}

/// `GET /peer` over a rustls connection presenting `cert`'s certificate
/// with `key`'s private key (not checked to match, unlike a normal
/// client); whatever came back before the connection ended.
async fn raw_get_peer(ca: &Ca, port: u16, cert: &Pair, key: &Pair) -> String {
    #[derive(Debug)]
    struct Present(Arc<CertifiedKey>);
    impl ResolvesClientCert for Present {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signer = provider
        .key_provider
        .load_private_key(PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).unwrap())
        .unwrap();
    let presented = CertifiedKey::new(vec![CertificateDer::from(cert.der.clone())], signer);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Present(Arc::new(presented))));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("127.0.0.1").unwrap();
    // TLS 1.3: the client's side of the handshake ends before the server
    // has checked its certificate; the refusal comes as an alert after.
    let Ok(mut tls) = connector.connect(name, tcp).await else {
        return String::new();
    };
    let request = "GET /peer HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if tls.write_all(request.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}
