//! A certificate chain and its private key, read from PEM files and
//! checked to belong together before the server uses them.

use std::path::Path;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::InconsistentKeys;

/// Read `cert_file` (the chain, leaf first) and `key_file`, and check
/// that the key is the leaf certificate's. Every error names the file.
pub(super) fn load(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert_file)
        .map_err(|e| anyhow::anyhow!("cannot read tls.cert_file {}: {e}", cert_file.display()))?;
    let key_pem = std::fs::read(key_file)
        .map_err(|e| anyhow::anyhow!("cannot read tls.key_file {}: {e}", key_file.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow::anyhow!(
                "tls.cert_file {} is not a PEM certificate chain: {e}",
                cert_file.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls.cert_file {} holds no CERTIFICATE block",
        cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => anyhow::anyhow!(
            "tls.key_file {} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM)",
            key_file.display()
        ),
        e => anyhow::anyhow!(
            "tls.key_file {} is not a PEM private key: {e}",
            key_file.display()
        ),
    })?;
    let signer = provider.key_provider.load_private_key(key).map_err(|e| {
        anyhow::anyhow!(
            "tls.key_file {}: the key cannot be used: {e}",
            key_file.display()
        )
    })?;
    let pair = CertifiedKey::new(chain, signer);
    // A pair that does not match would fail every handshake: refuse it
    // here, where the error can name the files.
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => anyhow::bail!(
            "tls.key_file {} is not the key of the certificate in tls.cert_file {}",
            key_file.display(),
            cert_file.display()
        ),
        // aws-lc-rs keys all give their public key; a key that cannot is
        // refused rather than served unchecked.
        Err(rustls::Error::InconsistentKeys(_)) => anyhow::bail!(
            "tls.key_file {}: cannot check that it is the key of tls.cert_file {}",
            key_file.display(),
            cert_file.display()
        ),
        Err(e) => anyhow::bail!(
            "tls.cert_file {}: the first certificate cannot be parsed: {e}",
            cert_file.display()
        ),
    }
}
