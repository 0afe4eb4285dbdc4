//! The server certificate, reloaded without a restart.
//!
//! Each handshake takes the current pair from an [`ArcSwap`]; a task
//! looks at the two files every `tls.reload_interval` seconds and, when
//! either changed (modification time, length or inode: a rename counts),
//! loads and checks the new pair before swapping it in. A pair that fails
//! the checks is refused once per change, logged and counted, and the old
//! certificate keeps serving; the next change of either file is tried
//! again (a certificate replaced before its key is refused, then taken
//! when the key follows).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Hands every handshake the current certificate.
#[derive(Debug)]
pub(super) struct CurrentCertificate(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// What one file looked like at a check; `None` when it could not be
/// looked at (missing, mid-rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m: Metadata| FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        })
    }
}

type Stamps = (Option<FileStamp>, Option<FileStamp>);

/// What a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Neither file changed since the last check (or they changed while
    /// being read: the next check reads them again).
    Unchanged,
    /// A new pair serves from the next handshake on.
    Loaded,
    /// The new pair was refused (the message says why); the old one serves.
    Refused(String),
}

/// Watches the certificate and key files and swaps in a changed pair.
pub struct Reloader {
    current: Arc<CurrentCertificate>,
    provider: Arc<CryptoProvider>,
    cert_file: PathBuf,
    key_file: PathBuf,
    interval: Duration,
    /// The files as they were at the last load or refusal.
    seen: Stamps,
}

impl Reloader {
    /// Load the first pair; an error (naming the file) when it is unusable.
    pub(super) fn start(
        cert_file: &Path,
        key_file: &Path,
        interval: Duration,
        provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<Reloader> {
        let seen = (FileStamp::of(cert_file), FileStamp::of(key_file));
        let pair = super::pair::load(cert_file, key_file, &provider)?;
        Ok(Reloader {
            current: Arc::new(CurrentCertificate(ArcSwap::from_pointee(pair))),
            provider,
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            interval,
            seen,
        })
    }

    pub(super) fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.current.clone()
    }

    /// How often [`Reloader::spawn`]'s task checks the files.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The DER of the leaf certificate handshakes get now.
    pub fn current_leaf(&self) -> Option<Vec<u8>> {
        self.current
            .0
            .load()
            .cert
            .first()
            .map(|c| c.as_ref().to_vec())
    }

    /// Look at the files once; load, check and swap in a changed pair.
    pub fn check(&mut self) -> Reload {
        let now = self.stamps();
        if now == self.seen {
            return Reload::Unchanged;
        }
        match super::pair::load(&self.cert_file, &self.key_file, &self.provider) {
            Ok(pair) => {
                if self.stamps() != now {
                    // Written to while read: what was read may be half of
                    // the change. The next check reads it whole.
                    return Reload::Unchanged;
                }
                self.current.0.store(Arc::new(pair));
                self.seen = now;
                metrics::counter!("tessera_tls_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!(
                    cert_file = %self.cert_file.display(),
                    key_file = %self.key_file.display(),
                    "reloaded the TLS certificate"
                );
                Reload::Loaded
            }
            Err(e) => {
                self.seen = now;
                metrics::counter!("tessera_tls_reloads_total", "outcome" => "error").increment(1);
                tracing::error!(
                    error = %e,
                    "the changed TLS certificate was refused; the previous one stays in use: {e}"
                );
                Reload::Refused(e.to_string())
            }
        }
    }

    fn stamps(&self) -> Stamps {
        (
            FileStamp::of(&self.cert_file),
            FileStamp::of(&self.key_file),
        )
    }

    /// Check every [`Reloader::interval`] on the current actix runtime,
    /// until the task is aborted. The file reads run on the blocking pool,
    /// never on an event loop.
    pub fn spawn(self) -> actix_web::rt::task::JoinHandle<()> {
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(self.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate, and the pair was loaded just now.
            every.tick().await;
            let mut reloader = self;
            loop {
                every.tick().await;
                let checked = actix_web::rt::task::spawn_blocking(move || {
                    reloader.check();
                    reloader
                })
                .await;
                reloader = match checked {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "the TLS certificate reload task failed; certificates are no longer reloaded");
                        return;
                    }
                };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Reload, Reloader};

    /// A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM, DER).
    fn pair() -> (String, String, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    /// Write `content` with modification time `at` seconds past the epoch:
    /// back-to-back writes may share a coarse file time stamp and length,
    /// and the test must not wait for the clock to tick.
    fn write(path: &std::path::Path, content: &str, at: u64) {
        std::fs::write(path, content).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(at))
            .unwrap();
    }

    #[test]
    fn a_change_is_loaded_once_and_a_bad_one_refused_once() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let (c1, k1, d1) = pair();
        write(&cert, &c1, 1);
        write(&key, &k1, 1);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut r = Reloader::start(&cert, &key, Duration::from_secs(1), provider).unwrap();
        assert_eq!(r.check(), Reload::Unchanged);
        assert_eq!(r.current_leaf(), Some(d1.clone()));

        // A certificate whose key is not in the key file: refused once,
        // then left alone until a file changes again.
        let (c2, k2, d2) = pair();
        write(&cert, &c2, 2);
        let Reload::Refused(why) = r.check() else {
            panic!("a mismatched pair was not refused");
        };
        assert!(why.contains("is not the key"), "{why}");
        assert_eq!(r.check(), Reload::Unchanged);
        assert_eq!(r.current_leaf(), Some(d1));

        // Its key follows: the pair is whole and taken.
        write(&key, &k2, 2);
        assert_eq!(r.check(), Reload::Loaded);
        assert_eq!(r.current_leaf(), Some(d2.clone()));
        assert_eq!(r.check(), Reload::Unchanged);

        // A file gone (mid-rename) is refused; the pair keeps serving.
        std::fs::remove_file(&key).unwrap();
        assert!(matches!(r.check(), Reload::Refused(_)));
        assert_eq!(r.current_leaf(), Some(d2));
    }
}
