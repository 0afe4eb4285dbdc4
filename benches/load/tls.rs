//! `--tls`: what TLS costs tessera. The in-process server speaks TLS on
//! one port and plain HTTP on another, one engine and one set of workers
//! behind both (`Application::build_with_plain_listener`), so the two are
//! measured on the same server, in the same run:
//!
//! - introspection over keep-alive connections, TLS against plain (the
//!   target: TLS at least 70% of plain), alternating in each round;
//! - the cost of a new connection: one connection after another, each
//!   opened, sent one introspection, answered and dropped, over plain
//!   TCP, over TLS with a full handshake, and over TLS resuming the
//!   previous session.
//!
//! The certificate is made here: a CA and an ECDSA P-256 leaf for
//! 127.0.0.1, as a deployment with a current certificate would have.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;

use crate::generator::{histogram, read_response, send, Connect, TlsDial};
use crate::measure::Report;
use crate::opts::Opts;
use crate::report::{ms, result_line, verdict};
use crate::REQUEST_TIMEOUT;

/// The server's certificate files and the CA that issued them.
pub(crate) struct CertFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    ca: CertificateDer<'static>,
    pub(crate) describe: String,
}

/// Make a CA and a server certificate for 127.0.0.1 into `dir`.
pub(crate) fn write_certificate(dir: &Path) -> anyhow::Result<CertFiles> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tessera load test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "tessera load test");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let files = CertFiles {
        cert: dir.join("tls-cert.pem"),
        key: dir.join("tls-key.pem"),
        ca: ca_cert.der().clone(),
        describe: "ECDSA P-256 certificate from a test CA".into(),
    };
    // The chain as a server sends it: leaf, then the issuer.
    std::fs::write(&files.cert, format!("{}{}", cert.pem(), ca_cert.pem()))
        .with_context(|| format!("writing {}", files.cert.display()))?;
    std::fs::write(&files.key, key.serialize_pem())
        .with_context(|| format!("writing {}", files.key.display()))?;
    Ok(files)
}

/// The TLS side of the server under test.
pub(crate) struct TlsTarget {
    /// Every connection a full handshake (the client keeps no sessions).
    pub(crate) full: TlsDial,
    /// Connections resume the session of an earlier one (TLS 1.3 tickets).
    pub(crate) resumed: TlsDial,
}

pub(crate) fn target(addr: SocketAddr, files: &CertFiles) -> anyhow::Result<TlsTarget> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(files.ca.clone())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut full = config.clone();
    full.resumption = Resumption::disabled();
    let name = ServerName::try_from("127.0.0.1")?.to_owned();
    let dial = |c: rustls::ClientConfig| TlsDial {
        addr,
        connector: TlsConnector::from(Arc::new(c)),
        name: name.clone(),
    };
    Ok(TlsTarget {
        full: dial(full),
        resumed: dial(config),
    })
}

/// New connections, one after another.
pub(crate) struct Handshakes {
    pub(crate) label: String,
    pub(crate) done: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    /// Connect, handshake, request and answer, per connection.
    pub(crate) latency: Histogram<u64>,
    /// TLS: what was negotiated (the first connection's).
    pub(crate) negotiated: Option<String>,
    /// TLS: connections that resumed a session.
    pub(crate) resumed: u64,
}

impl Handshakes {
    pub(crate) fn per_sec(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub(crate) fn mean_ms(&self) -> f64 {
        self.latency.mean() / 1000.0
    }
}

/// What a stream says about its TLS session, if it has one.
pub(crate) trait Session {
    /// Protocol, cipher suite and key exchange group; whether resumed.
    fn session(&self) -> Option<(String, bool)>;
}

impl Session for tokio::net::TcpStream {
    fn session(&self) -> Option<(String, bool)> {
        None
    }
}

impl Session for tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    fn session(&self) -> Option<(String, bool)> {
        let (_, c) = self.get_ref();
        let text = format!(
            "{:?}, {:?}, {:?}",
            c.protocol_version()?,
            c.negotiated_cipher_suite()?.suite(),
            c.negotiated_key_exchange_group().map(|g| g.name())
        );
        let resumed = c.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Some((text, resumed))
    }
}

/// Open `dial` connections one at a time for `secs` (at most `max`),
/// each sending `req` once and reading its answer (a 200) before it is
/// dropped.
pub(crate) fn handshakes<C>(
    rt: &tokio::runtime::Runtime,
    label: &str,
    dial: &C,
    req: &[u8],
    secs: f64,
    max: u64,
) -> Handshakes
where
    C: Connect,
    C::Stream: Session,
{
    rt.block_on(async {
        let mut out = Handshakes {
            label: label.to_string(),
            done: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
            negotiated: None,
            resumed: 0,
        };
        let mut buf = Vec::with_capacity(4096);
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(secs);
        while Instant::now() < deadline && out.done < max {
            let t = Instant::now();
            let one = async {
                let mut s = dial.open().await?;
                send(&mut s, req).await?;
                let r = read_response(&mut s, &mut buf).await?;
                Ok::<_, std::io::Error>((r.status, s.session()))
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, one).await {
                Ok(Ok((200, session))) => {
                    let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                    out.latency.saturating_record(micros.max(1));
                    out.done += 1;
                    if let Some((text, resumed)) = session {
                        out.resumed += u64::from(resumed);
                        out.negotiated.get_or_insert(text);
                    }
                }
                _ => out.errors += 1,
            }
        }
        out.elapsed = started.elapsed();
        out
    })
}

pub(crate) fn print_handshakes(h: &Handshakes) {
    println!();
    println!("--- {}", h.label);
    println!(
        "new connections, one at a time: {} in {:.2} s = {:.0}/s, mean {:.3} ms (p50 {}, p99 {}), errors {}",
        h.done,
        h.elapsed.as_secs_f64(),
        h.per_sec(),
        h.mean_ms(),
        ms(h.latency.value_at_quantile(0.5)),
        ms(h.latency.value_at_quantile(0.99)),
        h.errors
    );
    if let Some(n) = &h.negotiated {
        println!(
            "negotiated: {n}; resumed sessions: {} of {}",
            h.resumed, h.done
        );
    }
}

/// TLS against plain: the keep-alive ratio and its target, the cost of a
/// new connection.
pub(crate) fn summarize_tls(
    opts: &Opts,
    plain: &Report,
    tls: &Report,
    new_plain: &Handshakes,
    new_full: &Handshakes,
    new_resumed: &Handshakes,
) {
    let ratio = tls.rps() / plain.rps().max(1e-9);
    println!();
    println!(
        "=== TLS ({} keep-alive connections; the same server, a second listener)",
        opts.connections
    );
    println!(
        "ratio TLS / plain keep-alive introspection: {:.0} / {:.0} req/s = {:.1}%  (target >= 70%: {})",
        tls.rps(),
        plain.rps(),
        ratio * 100.0,
        verdict(ratio >= 0.70)
    );
    println!(
        "p99 keep-alive: TLS {}, plain {}",
        ms(tls.stats.all.value_at_quantile(0.99)),
        ms(plain.stats.all.value_at_quantile(0.99))
    );
    for h in [new_full, new_resumed] {
        println!(
            "{}: {:.0}/s, mean {:.3} ms against plain TCP {:.0}/s, mean {:.3} ms: {:.3} ms more per new connection ({:.1}% of the plain rate)",
            h.label,
            h.per_sec(),
            h.mean_ms(),
            new_plain.per_sec(),
            new_plain.mean_ms(),
            h.mean_ms() - new_plain.mean_ms(),
            100.0 * h.per_sec() / new_plain.per_sec().max(1e-9)
        );
    }
    result_line(serde_json::json!({
        "name": opts.name,
        "scenario": "Introspect/tls",
        "connections": opts.connections,
        "tls_rps": tls.rps(),
        "plain_rps": plain.rps(),
        "tls_ratio": ratio,
        "tls_p99_ms": tls.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
        "plain_p99_ms": plain.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
        "tls_errors": tls.errors(),
        "new_conn_plain_per_s": new_plain.per_sec(),
        "new_conn_plain_mean_ms": new_plain.mean_ms(),
        "handshake_full_per_s": new_full.per_sec(),
        "handshake_full_mean_ms": new_full.mean_ms(),
        "handshake_resumed_per_s": new_resumed.per_sec(),
        "handshake_resumed_mean_ms": new_resumed.mean_ms(),
        "handshake_errors": new_plain.errors + new_full.errors + new_resumed.errors,
    }));
}
