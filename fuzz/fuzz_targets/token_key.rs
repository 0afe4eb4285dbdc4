//! Token lookup keys and secret checks over arbitrary strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_actors::secret::{b64url, b64url_decode, sha256, token_key, verify_secret};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let k = token_key(&s);
    assert_eq!(k, token_key(&s));
    let d = sha256(s.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&d[..16]);
    assert_eq!(k, u128::from_le_bytes(first));
    assert!(verify_secret(&s, &d));
    let mut other = s.clone().into_owned();
    other.push('x');
    assert!(!verify_secret(&other, &d));
    assert_ne!(token_key(&other), k);
    if let Some(bytes) = b64url_decode(&s) {
        assert_eq!(b64url_decode(&b64url(&bytes)), Some(bytes));
    }
});
