//! Redirect URI matching: registered and requested URIs split at the first
//! NUL byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_actors::domain::{find_redirect, redirect_matches};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let (registered, requested) = s.split_once('\0').unwrap_or((&s, ""));
    let m = redirect_matches(registered, requested);
    assert!(redirect_matches(registered, registered));
    assert_eq!(m, redirect_matches(requested, registered));
    if m && registered != requested {
        // Only the port of a loopback IP literal may differ.
        let loopback = |u: &str| u.starts_with("http://127.0.0.1") || u.starts_with("http://[::1]");
        assert!(loopback(registered) && loopback(requested));
        let path = |u: &str| {
            let rest = &u["http://".len()..];
            rest.find(['/', '?', '#'])
                .map_or("", |i| &rest[i..])
                .to_string()
        };
        assert_eq!(path(registered), path(requested));
    }
    let list = vec![
        registered.to_string(),
        "https://app.example.com/cb".to_string(),
    ];
    if let Some(found) = find_redirect(&list, requested) {
        assert!(redirect_matches(found, requested));
    }
});
