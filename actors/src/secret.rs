//! Opaque secrets: 32 random bytes, base64url, with a short type prefix.
//! Only their SHA-256 is ever stored; comparisons are constant-time.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// Prefixes name the kind of a secret so a leaked one is recognisable.
pub mod prefix {
    pub const CLIENT_ID: &str = "tes_cl_";
    pub const CLIENT_SECRET: &str = "tes_cs_";
    pub const ACCESS_TOKEN: &str = "tes_at_";
    pub const REFRESH_TOKEN: &str = "tes_rt_";
    /// A personal token (a non-rotating refresh token a user made).
    pub const PERSONAL_TOKEN: &str = "tes_pat_";
    pub const ADMIN_TOKEN: &str = "tes_adm_";
    pub const SESSION: &str = "tes_ses_";
    pub const AUTH_CODE: &str = "tes_ac_";
    /// An entity's API key.
    pub const API_KEY: &str = "tes_ak_";
    /// An entity authentication token.
    pub const ENTITY_TOKEN: &str = "tes_et_";
    /// The secret part of a pushed request's `request_uri`.
    pub const REQUEST_URI: &str = "tes_ru_";
    /// An RFC 8628 device code.
    pub const DEVICE_CODE: &str = "tes_dc_";
}

/// SHA-256 of a secret, the only form in which secrets are stored.
pub type SecretHash = [u8; 32];

/// Fill `N` bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source at all; the
    // process cannot issue anything safely then, so an all-zero fallback is
    // never returned: we retry until it succeeds.
    while SystemRandom::new().fill(&mut out).is_err() {
        std::thread::yield_now();
    }
    out
}

/// A new secret of 256 random bits: `prefix` + base64url(32 bytes).
pub fn new_secret(prefix: &str) -> String {
    let bytes = random_bytes::<32>();
    let mut s = String::with_capacity(prefix.len() + 43);
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut s);
    s
}

/// A new identifier (128 random bits) with a prefix, for public ids.
pub fn new_id(prefix: &str) -> String {
    let bytes = random_bytes::<16>();
    let mut s = String::with_capacity(prefix.len() + 22);
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut s);
    s
}

pub fn sha256(data: &[u8]) -> SecretHash {
    let d = digest(&SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The 128-bit key a token is indexed under: the first half of its SHA-256.
/// Indexing by a hash of the whole token (not by a claim inside it) means a
/// forged or altered JWT can never hit a live record.
pub fn token_key(token: &str) -> u128 {
    let d = digest(&SHA256, token.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(d.as_ref().get(..16).unwrap_or(&[0u8; 16]));
    u128::from_le_bytes(k)
}

/// Constant-time check of a presented secret against a stored hash.
pub fn verify_secret(presented: &str, stored: &SecretHash) -> bool {
    let h = sha256(presented.as_bytes());
    h.ct_eq(stored).into()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(data: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_prefixed_and_distinct() {
        let a = new_secret(prefix::REFRESH_TOKEN);
        let b = new_secret(prefix::REFRESH_TOKEN);
        assert!(a.starts_with("tes_rt_"));
        assert_eq!(a.len(), "tes_rt_".len() + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn verify_secret_matches_only_the_same_secret() {
        let s = new_secret(prefix::CLIENT_SECRET);
        let h = sha256(s.as_bytes());
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret(&format!("{s}x"), &h));
        assert!(!verify_secret("", &h));
    }

    #[test]
    fn token_key_depends_on_every_byte() {
        assert_ne!(token_key("abc.def.ghi"), token_key("abc.def.ghj"));
    }
}
