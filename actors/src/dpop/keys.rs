//! Proof keys: the algorithms a proof may use, and a proof's `jwk`
//! checked against its algorithm (by [`crate::jose`]) and kept parsed per
//! client key.

use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;

use super::{Dpop, DpopError};
use crate::jose::{key_bytes, Alg, JwkError};

/// Most proof keys kept parsed at once.
const MAX_KEYS: usize = 10_000;

pub(super) fn proof_alg(alg: &str) -> Result<Alg, DpopError> {
    Alg::parse(alg).ok_or(DpopError::Invalid(
        "the DPoP proof's alg is not an accepted asymmetric algorithm",
    ))
}

/// The reason of a refused proof key.
fn refused(e: JwkError) -> DpopError {
    DpopError::Invalid(match e {
        JwkError::Private => "the DPoP proof's jwk must be a public key",
        JwkError::Missing => "the DPoP proof's jwk lacks a member its key type needs",
        JwkError::Malformed => "the DPoP proof's jwk has a malformed coordinate",
        JwkError::Mismatch => "the DPoP proof's jwk does not fit its alg",
        JwkError::WeakRsa => "the DPoP proof's RSA key is shorter than 2048 bits or malformed",
        JwkError::Invalid => "the DPoP proof's jwk is not a valid public key",
    })
}

impl Dpop {
    /// The parsed key of a proof's `jwk` for `alg`, from the cache when a
    /// proof of that key was checked before, and its thumbprint.
    pub(super) fn public_key(
        &self,
        jwk: &serde_json::Map<String, serde_json::Value>,
        alg: Alg,
    ) -> Result<(Arc<ParsedPublicKey>, String), DpopError> {
        let (bytes, jkt) = key_bytes(jwk, alg).map_err(refused)?;
        let id = (alg, Arc::from(jkt.as_str()));
        if let Some(k) = self.keys.get(&id) {
            return Ok((k.value().clone(), jkt));
        }
        let parsed = Arc::new(bytes.parse().map_err(refused)?);
        if self.keys.len() >= MAX_KEYS {
            self.keys.clear();
        }
        self.keys.insert(id, parsed.clone());
        Ok((parsed, jkt))
    }
}
