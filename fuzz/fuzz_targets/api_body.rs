//! JSON-or-form bodies of the account APIs, under every content type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;
use tessera::extract::body::parse_body_as;

/// The shape of a typical body (login: two strings and an optional one).
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Fields {
    login: String,
    password: String,
    code: Option<String>,
    scope: Option<Value>,
}

const TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let ct = TYPES[usize::from(which) % TYPES.len()];
    for e in [
        parse_body_as::<Value>(ct, body).err(),
        parse_body_as::<Fields>(ct, body).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(e.status.as_u16(), 400);
        assert_eq!(e.code, "invalid_body");
    }
    if ct.is_none() || ct == Some("text/plain") {
        assert!(parse_body_as::<Value>(ct, body).is_err());
    }
});
