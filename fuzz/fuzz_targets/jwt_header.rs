//! The header check every JWT we accept passes (access tokens and ID token
//! hints): arbitrary strings, and arbitrary bytes as a header in front of
//! a compact JWS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_actors::introspection::header_kid;
use tessera_actors::secret::b64url;

fn access(t: Option<&str>) -> bool {
    t.is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    })
}

fn id_token(t: Option<&str>) -> bool {
    t.is_none_or(|t| t.eq_ignore_ascii_case("JWT"))
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = header_kid(&s, access);
    let _ = header_kid(&s, id_token);
    let token = format!("{}.e30.c2ln", b64url(data));
    for typ_ok in [access as fn(Option<&str>) -> bool, id_token] {
        if let Ok(kid) = header_kid(&token, typ_ok) {
            let h: Value = serde_json::from_slice(data).expect("an accepted header is JSON");
            for k in ["jku", "x5u", "jwk", "x5c"] {
                assert!(h.get(k).is_none_or(Value::is_null), "{k} let through");
            }
            assert_eq!(h["kid"].as_str(), Some(kid.as_str()));
            assert!(typ_ok(h["typ"].as_str()));
        }
    }
});
