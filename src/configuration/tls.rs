//! `[tls]`: serving HTTPS (HTTP/1.1 and HTTP/2) without a proxy in front.
//!
//! - `cert_file`, `key_file`: PEM files, the certificate chain (leaf
//!   first) and its private key (PKCS#8, PKCS#1 or SEC1). TLS is on when
//!   both are set; one without the other stops the start.
//! - `reload_interval`: seconds between checks of the two files; a changed
//!   pair is loaded without a restart (a bad one is refused and the old
//!   certificate stays).
//! - `health_bind`: an address for a plain-HTTP listener that answers
//!   only `/healthz` and `/readyz` (probes that do not speak TLS).
//! - `client_certificates`: ask for an optional client certificate in the
//!   handshake; any certificate whose key signs the handshake is accepted,
//!   and the application decides whose it is (RFC 8705). Needs TLS on.
//! - `client_ca_file`: PEM certificates of the CAs whose client
//!   certificates authenticate `tls_client_auth` clients (RFC 8705 §2.1).
//! - `client_cert_header`: a header in which a TLS-terminating proxy
//!   passes the client's certificate (URL-encoded PEM as nginx's
//!   `$ssl_client_escaped_cert`, plain PEM, or base64 DER).
//! - `trusted_proxies`: the addresses (IPs or CIDRs) that header is read
//!   from; from any other peer it is ignored. Required with the header.
//!
//! `health_bind` works without TLS too (a plain health port of its own),
//! and so does `client_cert_header` (the proxy did the TLS).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub reload_interval: u64,
    pub health_bind: Option<String>,
    pub client_certificates: bool,
    pub client_ca_file: Option<PathBuf>,
    pub client_cert_header: Option<String>,
    pub trusted_proxies: Vec<String>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_file: None,
            key_file: None,
            reload_interval: 10,
            health_bind: None,
            client_certificates: false,
            client_ca_file: None,
            client_cert_header: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl TlsSettings {
    /// Whether the server speaks TLS: both files are named. (Whether they
    /// are usable is [`TlsSettings::files`]'s and the loader's concern.)
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// The certificate and key files when TLS is on, `None` when it is
    /// off; an error naming the missing key when only one is set.
    pub fn files(&self) -> anyhow::Result<Option<(&Path, &Path)>> {
        match (&self.cert_file, &self.key_file) {
            (Some(c), Some(k)) => Ok(Some((c.as_path(), k.as_path()))),
            (None, None) => Ok(None),
            (Some(c), None) => anyhow::bail!(
                "tls.cert_file is set ({}) but tls.key_file is not: TLS needs both",
                c.display()
            ),
            (None, Some(k)) => anyhow::bail!(
                "tls.key_file is set ({}) but tls.cert_file is not: TLS needs both",
                k.display()
            ),
        }
    }

    /// Whether client certificates can reach the application: asked for
    /// in the handshake, or passed by a trusted proxy.
    pub fn client_certificates_usable(&self) -> bool {
        (self.enabled() && self.client_certificates) || self.client_cert_header.is_some()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.files()?;
        // A certificate header believed from anyone lets anyone be any
        // client: it is read only from proxies named here.
        if let Some(h) = &self.client_cert_header {
            anyhow::ensure!(
                actix_web::http::header::HeaderName::from_bytes(h.as_bytes()).is_ok(),
                "tls.client_cert_header {h:?} is not a header name"
            );
            anyhow::ensure!(
                !self.trusted_proxies.is_empty(),
                "tls.client_cert_header needs tls.trusted_proxies: the addresses of the proxies allowed to send it"
            );
        }
        for p in &self.trusted_proxies {
            crate::mtls::Cidr::parse(p).map_err(|e| anyhow::anyhow!("tls.trusted_proxies: {e}"))?;
        }
        // Asked for without TLS, client certificates would silently never
        // come: a deployment counting on them must not start that way.
        anyhow::ensure!(
            !self.client_certificates || self.enabled(),
            "tls.client_certificates needs TLS on: set tls.cert_file and tls.key_file"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.reload_interval),
            "tls.reload_interval must be between 1 and 86400 seconds"
        );
        if let Some(b) = &self.health_bind {
            anyhow::ensure!(
                !b.trim().is_empty(),
                "tls.health_bind must be an address (host:port) when set"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TlsSettings;

    #[test]
    fn off_by_default_and_one_file_alone_is_refused() {
        let mut t = TlsSettings::default();
        assert!(!t.enabled());
        assert!(t.validate().is_ok());
        t.cert_file = Some("cert.pem".into());
        let e = t.validate().unwrap_err().to_string();
        assert!(e.contains("tls.key_file"), "{e}");
        t.cert_file = None;
        t.key_file = Some("key.pem".into());
        let e = t.validate().unwrap_err().to_string();
        assert!(e.contains("tls.cert_file"), "{e}");
        t.cert_file = Some("cert.pem".into());
        assert!(t.enabled());
        assert!(t.validate().is_ok());
        t.reload_interval = 0;
        assert!(t.validate().is_err());
        let plain = TlsSettings {
            client_certificates: true,
            ..TlsSettings::default()
        };
        let e = plain.validate().unwrap_err().to_string();
        assert!(e.contains("tls.client_certificates"), "{e}");
    }
}
