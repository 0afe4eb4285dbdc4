//! Form bodies of the OAuth endpoints (`/oauth2/token`, introspection,
//! revocation, the authorization endpoint's POST).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::extract::form::OAuthForm;

fuzz_target!(|data: &[u8]| {
    let strict = OAuthForm::parse(data);
    let (lenient, repeated) = OAuthForm::parse_lenient(data);
    // Only a repeated parameter makes a form unparseable.
    assert_eq!(strict.is_err(), repeated.is_some());
    let pairs = lenient.pairs();
    for (i, (n, v)) in pairs.iter().enumerate() {
        assert!(pairs[..i].iter().all(|(m, _)| m != n), "{n:?} twice");
        assert_eq!(lenient.get(n), Some(v.as_str()).filter(|v| !v.is_empty()));
    }
    if let Ok(f) = strict {
        assert_eq!(f.pairs(), pairs);
        for name in ["grant_type", "scope", "audience", "token", "redirect_uri"] {
            let _ = f.require(name);
            let _ = f.list(name);
        }
    }
});
