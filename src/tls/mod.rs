//! TLS in the server itself (rustls 0.23 over aws-lc-rs, through
//! actix-web): HTTP/1.1 and HTTP/2 by ALPN.
//!
//! - `mod.rs` — [`server_config`], and the client certificate of a
//!   connection: [`on_connect`] stores it, [`peer_certificate`] reads it.
//! - `pair.rs` — reading and checking a certificate chain and its key.
//! - `reload.rs` — the [`Reloader`]: the certificate handed to each
//!   handshake, swapped when the files change, without a restart.
//! - `client_cert.rs` — the verifier behind `tls.client_certificates`.
//!
//! A client certificate is only captured here. Whose it is (a client's
//! registered certificate or key, RFC 8705) is the application's to
//! decide, so the TLS layer accepts any certificate, self-signed included,
//! provided its key signs the handshake.

mod client_cert;
mod pair;
mod reload;

use std::any::Any;
use std::sync::Arc;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::HttpRequest;
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;

use crate::configuration::TlsSettings;

pub use reload::{Reload, Reloader};

/// The DER of the leaf certificate the client presented in the TLS
/// handshake, kept in the connection's data (every request on that
/// connection, HTTP/2 streams included, sees the same one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate(pub Arc<[u8]>);

/// The client certificate of the connection `req` came on, if it
/// presented one (only with `tls.client_certificates`).
pub fn peer_certificate(req: &HttpRequest) -> Option<Arc<[u8]>> {
    req.conn_data::<PeerCertificate>().map(|p| p.0.clone())
}

/// The whole chain the client presented (leaf first, then the
/// intermediates it sent), for validation against the client CAs.
#[derive(Debug, Clone)]
pub struct PeerCertificateChain(pub Arc<[CertificateDer<'static>]>);

/// The client certificate chain of the connection `req` came on, if any.
pub fn peer_certificate_chain(req: &HttpRequest) -> Option<Arc<[CertificateDer<'static>]>> {
    req.conn_data::<PeerCertificateChain>().map(|p| p.0.clone())
}

/// `HttpServer::on_connect`: put the client's leaf certificate (and its
/// chain) into the connection's data. Plain TCP connections carry none.
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some(chain) = session.peer_certificates() {
        if let Some(leaf) = chain.first() {
            data.insert(PeerCertificate(Arc::from(leaf.as_ref())));
            let owned: Vec<CertificateDer<'static>> =
                chain.iter().map(|c| c.clone().into_owned()).collect();
            data.insert(PeerCertificateChain(owned.into()));
        }
    }
}

/// The rustls configuration for `settings` (TLS must be on), and the
/// [`Reloader`] that keeps its certificate current. A file that cannot be
/// read or parsed, or a key that is not the certificate's, is an error
/// naming the file.
///
/// ALPN is left empty: actix-web offers `h2` and `http/1.1` on the
/// configuration it is given.
pub fn server_config(settings: &TlsSettings) -> anyhow::Result<(ServerConfig, Reloader)> {
    settings.validate()?;
    let Some((cert_file, key_file)) = settings.files()? else {
        anyhow::bail!("TLS is off: set tls.cert_file and tls.key_file");
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let reloader = Reloader::start(
        cert_file,
        key_file,
        std::time::Duration::from_secs(settings.reload_interval),
        provider.clone(),
    )?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("the TLS protocol versions: {e}"))?;
    let builder = if settings.client_certificates {
        builder
            .with_client_cert_verifier(Arc::new(client_cert::AnyClientCertificate::new(&provider)))
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_cert_resolver(reloader.resolver());
    Ok((config, reloader))
}
