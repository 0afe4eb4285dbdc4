//! PKCE: challenges and verifiers split at the first NUL byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_actors::domain::{Pkce, PkceMethod};
use tessera_actors::secret::{b64url, sha256};

fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (challenge, verifier) = s.split_once('\0').unwrap_or((&s, ""));
    let _ = PkceMethod::parse(challenge);
    for method in [PkceMethod::S256, PkceMethod::Plain] {
        match Pkce::parse(challenge, method) {
            Ok(p) => {
                assert!(well_formed(challenge));
                let ok = p.verify(verifier);
                assert!(!ok || well_formed(verifier));
                if method == PkceMethod::Plain {
                    assert_eq!(ok, verifier == challenge);
                }
            }
            Err(_) => assert!(!well_formed(challenge)),
        }
    }
    // S256 of a well-formed verifier answers its own challenge.
    if well_formed(verifier) {
        let p = Pkce::parse(&b64url(&sha256(verifier.as_bytes())), PkceMethod::S256)
            .expect("an S256 challenge is well formed");
        assert!(p.verify(verifier));
        assert_eq!(p.verify(challenge), challenge == verifier);
    }
});
