//! TLS in the server: HTTPS with HTTP/2 and HTTP/1.1 by ALPN, the
//! certificate reloaded from its files without a restart, the plain-HTTP
//! health listener, start-up errors that name the file, and the client
//! certificate of a connection reaching a handler.
//!
//! Certificates are made by the tests (`certs`); the reload runs on real
//! time (`tls.reload_interval` 1 s), so those tests poll, bounded.

mod certs;
mod client_certs;
mod reload;
mod serving;
mod start;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tessera::configuration::Settings;

use crate::helpers::{spawn_app_with, TestApp};
pub use certs::{Ca, Pair};

/// How long a test waits for a reload (checks run every second).
pub const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// The certificate and key files of a server, in a directory of their own.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsFiles {
    pub fn new(pair: &Pair) -> TlsFiles {
        let dir = tempfile::tempdir().expect("certificate dir");
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            _dir: dir,
        };
        files.write(pair);
        files
    }

    /// Replace both files in place (key first, as an operator would).
    pub fn write(&self, pair: &Pair) {
        std::fs::write(&self.key, &pair.key_pem).expect("write the key");
        std::fs::write(&self.cert, &pair.cert_pem).expect("write the certificate");
    }

    pub fn set(&self, settings: &mut Settings) {
        settings.tls.cert_file = Some(self.cert.clone());
        settings.tls.key_file = Some(self.key.clone());
    }
}

/// A client over HTTPS only, trusting `ca` alone, reporting the served
/// certificate (`TlsInfo`).
pub fn client(ca: &Ca) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .https_only(true)
        .tls_certs_only([ca.root()])
        .tls_info(true)
        .timeout(Duration::from_secs(10))
}

/// The server with TLS over `files` (a certificate of `ca`), and its
/// `http` client trusting `ca`.
pub async fn spawn_tls_app(
    files: &TlsFiles,
    ca: &Ca,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut app = spawn_app_with(|s| {
        files.set(s);
        configure(s);
    })
    .await;
    assert!(app.address.starts_with("https://"), "{}", app.address);
    app.http = client(ca).build().expect("TLS client");
    app
}

/// The leaf certificate a new connection trusting only `ca` is served,
/// or why the connection failed.
pub async fn served_leaf(app: &TestApp, ca: &Ca) -> Result<Vec<u8>, reqwest::Error> {
    let r = client(ca)
        .build()
        .expect("TLS client")
        .get(app.url("/healthz"))
        .send()
        .await?;
    assert!(r.status().is_success(), "{}", r.status());
    Ok(r.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
        .unwrap_or_default())
}

/// `tessera_tls_reloads_total{outcome}` from `/metrics` (the recorder is
/// the process's: compare before and after).
pub async fn reloads(app: &TestApp, outcome: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let series = format!("tessera_tls_reloads_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

/// Poll `check` every 100 ms until it holds, for at most [`RELOAD_WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + RELOAD_WAIT;
    while !check().await {
        assert!(Instant::now() < until, "{what}: not within {RELOAD_WAIT:?}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
