//! Mutual-TLS client authentication and certificate-bound access tokens
//! (RFC 8705): which certificate a request came with, whether it chains to
//! the configured client CAs, and its thumbprint.
//!
//! - `mod.rs` — [`Mtls`]: the certificate of a request, from the TLS
//!   connection or from a trusted proxy's header; chain validation.
//! - `header.rs` — decoding the header and matching the proxy's address.
//! - `names.rs` — whether a certificate carries a client's registered
//!   subject DN or SAN.
//!
//! The TLS layer (`crate::tls`) accepts any certificate whose key signs
//! the handshake; whose it is is decided here, per request.

mod header;
pub mod names;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

use crate::configuration::TlsSettings;

pub use header::Cidr;

/// The certificate chain a client presented, leaf first.
#[derive(Debug, Clone)]
pub struct Presented(Arc<[CertificateDer<'static>]>);

impl Presented {
    /// The DER of the client's own certificate.
    pub fn leaf(&self) -> &[u8] {
        self.0.first().map_or(&[], |c| c.as_ref())
    }

    /// RFC 8705 §3.1: `x5t#S256`, base64url SHA-256 of the leaf's DER.
    pub fn thumbprint(&self) -> Arc<str> {
        Arc::from(tessera_actors::secret::b64url(&Sha256::digest(self.leaf())))
    }
}

/// Where client certificates come from, and the CAs `tls_client_auth`
/// certificates must chain to.
pub struct Mtls {
    header: Option<HeaderName>,
    proxies: Vec<Cidr>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl Mtls {
    /// From `[tls]` (validated). A CA file that cannot be read or holds no
    /// usable certificate stops the start.
    pub fn new(settings: &TlsSettings) -> anyhow::Result<Mtls> {
        let header = match &settings.client_cert_header {
            Some(h) => Some(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                anyhow::anyhow!("tls.client_cert_header {h:?} is not a header name")
            })?),
            None => None,
        };
        let proxies = settings
            .trusted_proxies
            .iter()
            .map(|p| Cidr::parse(p).map_err(|e| anyhow::anyhow!("tls.trusted_proxies: {e}")))
            .collect::<anyhow::Result<_>>()?;
        let verifier = match &settings.client_ca_file {
            Some(path) => Some(verifier(path)?),
            None => None,
        };
        Ok(Mtls {
            header,
            proxies,
            verifier,
        })
    }

    /// The client certificate of `req`: a trusted proxy's header, else the
    /// TLS connection's. A header from any other peer is ignored (and
    /// counted): it would let anyone claim any certificate.
    pub fn presented(&self, req: &HttpRequest) -> Option<Presented> {
        if let Some(name) = &self.header {
            if let Some(value) = req.headers().get(name) {
                let peer = req.peer_addr().map(|a| a.ip());
                if peer.is_some_and(|ip| self.proxies.iter().any(|c| c.contains(ip))) {
                    return match value.to_str().ok().and_then(header::decode) {
                        Some(chain) => Some(Presented(chain.into())),
                        None => {
                            tracing::debug!(header = %name, "the client certificate header could not be decoded");
                            None
                        }
                    };
                }
                metrics::counter!("tessera_client_cert_header_ignored_total").increment(1);
                tracing::debug!(
                    header = %name,
                    peer = ?peer,
                    "a client certificate header from an address not in tls.trusted_proxies is ignored"
                );
            }
        }
        crate::tls::peer_certificate_chain(req).map(Presented)
    }

    /// Whether `cert` chains to `tls.client_ca_file` at `now` (Unix
    /// seconds), with the client-authentication usage.
    pub fn verify_chain(&self, cert: &Presented, now: i64) -> Result<(), String> {
        let verifier = self
            .verifier
            .as_ref()
            .ok_or("no client CA is configured (tls.client_ca_file)")?;
        let (leaf, intermediates) = cert.0.split_first().ok_or("no certificate")?;
        let now = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
        verifier
            .verify_client_cert(leaf, intermediates, now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A verifier of client certificates issued by the CAs in `path`.
fn verifier(path: &std::path::Path) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let what = || format!("tls.client_ca_file {}", path.display());
    let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", what()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| anyhow::anyhow!("{} is not PEM: {e}", what()))?;
        roots
            .add(cert)
            .map_err(|e| anyhow::anyhow!("{} holds an unusable CA certificate: {e}", what()))?;
    }
    anyhow::ensure!(!roots.is_empty(), "{} holds no CERTIFICATE block", what());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", what()))
}
