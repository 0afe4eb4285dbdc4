//! The fuzz targets of `fuzz/` as property tests on stable: arbitrary bytes
//! and strings thrown at the same parsing and checking functions, which must
//! never panic and must keep their invariants. (`fuzz.rs` throws generated
//! input at a live server instead.)
//!
//! Case counts are fixed so the whole file runs in a few seconds:
//! `CASES` per pure target, `JWT_CASES` for the targets that verify
//! signatures through a running engine.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera::extract::body::parse_body_as;
use tessera::extract::form::{OAuthForm, MAX_BODY};
use tessera_actors::domain::{find_redirect, redirect_matches, Pkce, PkceMethod, Scope};
use tessera_actors::introspection::header_kid;
use tessera_actors::secret::{b64url, b64url_decode, sha256, token_key, verify_secret};

use crate::helpers::*;

const CASES: u32 = 2000;
const JWT_CASES: u32 = 300;

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Failures are reported with their minimal input; nothing is
        // written next to the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Every string that differs from `s` by one byte replaced, inserted or
/// removed, as (byte position, new string); replacements and insertions
/// use `with`.
fn single_byte_changes(s: &str, with: u8) -> Vec<(usize, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for i in 0..=b.len() {
        let mut ins = b.to_vec();
        ins.insert(i, with);
        out.push((i, ins));
        if i < b.len() {
            let mut del = b.to_vec();
            del.remove(i);
            out.push((i, del));
            if b[i] != with {
                let mut rep = b.to_vec();
                rep[i] = with;
                out.push((i, rep));
            }
        }
    }
    out.into_iter()
        .filter_map(|(i, v)| String::from_utf8(v).ok().map(|s| (i, s)))
        .collect()
}

// ---- token parsing and lookup keys ----------------------------------------

proptest! {
    #![proptest_config(config(CASES))]

    /// `token_key` is the first 128 bits of SHA-256, the same every time,
    /// and moves with every byte of the token.
    #[test]
    fn token_key_is_stable_and_128_bits(s in any::<String>(), with in any::<u8>()) {
        let k = token_key(&s);
        prop_assert_eq!(k, token_key(&s.clone()));
        let d = sha256(s.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        prop_assert_eq!(k, u128::from_le_bytes(first));
        for (_, changed) in single_byte_changes(&s, with.min(0x7f)).into_iter().take(32) {
            prop_assert_ne!(token_key(&changed), k);
        }
    }

    /// Only the secret itself verifies against its hash; base64url decoding
    /// of anything never panics and round-trips what it encoded.
    #[test]
    fn secrets_verify_only_themselves(s in any::<String>(), other in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let h = sha256(s.as_bytes());
        prop_assert!(verify_secret(&s, &h));
        prop_assert_eq!(verify_secret(&other, &h), other == s);
        let _ = b64url_decode(&s);
        prop_assert_eq!(b64url_decode(&b64url(&bytes)), Some(bytes));
    }

    // ---- form and JSON bodies ---------------------------------------------

    /// Any body parses or is refused; what parses has no repeated name, and
    /// the lenient parse names a repeat exactly when the strict one fails.
    #[test]
    fn oauth_forms_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let strict = OAuthForm::parse(&body);
        let (lenient, repeated) = OAuthForm::parse_lenient(&body);
        prop_assert_eq!(strict.is_err(), repeated.is_some());
        let names: Vec<&str> = lenient.pairs().iter().map(|(n, _)| n.as_str()).collect();
        for (i, n) in names.iter().enumerate() {
            prop_assert!(!names[..i].contains(n), "{:?} twice", n);
        }
        if let Ok(f) = strict {
            prop_assert_eq!(f.pairs(), lenient.pairs());
            for (n, v) in f.pairs() {
                prop_assert_eq!(f.get(n), Some(v.as_str()).filter(|v| !v.is_empty()));
            }
        }
    }

    /// Encoded parameters come back as they were sent, camelCase names
    /// under their snake_case ones.
    #[test]
    fn oauth_forms_round_trip(
        pairs in proptest::collection::btree_map("[a-z_]{1,12}", any::<String>(), 0..8),
        camel in any::<bool>(),
        value in any::<String>(),
    ) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            if k != "grant_type" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair(if camel { "grantType" } else { "grant_type" }, &value);
        let f = OAuthForm::parse(ser.finish().as_bytes()).expect("distinct names parse");
        for (k, v) in &pairs {
            if k != "grant_type" {
                prop_assert_eq!(f.get(k), Some(v.as_str()).filter(|v| !v.is_empty()));
            }
        }
        prop_assert_eq!(f.get("grant_type"), Some(value.as_str()).filter(|v| !v.is_empty()));
        prop_assert_eq!(f.get("grantType"), None);
    }

    /// JSON-or-form bodies: any bytes under any content type give a value or
    /// a 400 `invalid_body`, never a panic; the type decides which parser.
    #[test]
    fn api_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        ct in prop_oneof![
            Just(None),
            Just(Some("application/json".to_string())),
            Just(Some("application/json; charset=utf-8".to_string())),
            Just(Some("APPLICATION/X-WWW-FORM-URLENCODED".to_string())),
            Just(Some("text/plain".to_string())),
            any::<String>().prop_map(Some),
        ],
    ) {
        let as_value = parse_body_as::<Value>(ct.as_deref(), &body);
        let as_fields = parse_body_as::<Fields>(ct.as_deref(), &body);
        for e in [as_value.as_ref().err(), as_fields.as_ref().err()].into_iter().flatten() {
            prop_assert_eq!(e.status.as_u16(), 400);
            prop_assert_eq!(e.code, "invalid_body");
        }
        let media = ct.as_deref().and_then(|c| c.split(';').next()).map(|m| m.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/json") => {
                prop_assert_eq!(as_value.is_ok(), serde_json::from_slice::<Value>(&body).is_ok());
            }
            Some("application/x-www-form-urlencoded") => {}
            _ => prop_assert!(as_value.is_err() && as_fields.is_err()),
        }
    }

    /// A body of the fields an endpoint expects parses to those fields, as
    /// JSON and as a form.
    #[test]
    fn api_bodies_round_trip(login in any::<String>(), password in any::<String>(), code in proptest::option::of(any::<String>())) {
        let want = Fields { login, password, code };
        let j = serde_json::to_vec(&json!(want)).unwrap();
        prop_assert_eq!(parse_body_as::<Fields>(Some("application/json"), &j).ok(), Some(want.clone()));
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("login", &want.login).append_pair("password", &want.password);
        if let Some(c) = &want.code {
            ser.append_pair("code", c);
        }
        let f = ser.finish();
        prop_assert_eq!(
            parse_body_as::<Fields>(Some("application/x-www-form-urlencoded"), f.as_bytes()).ok(),
            Some(want)
        );
    }

    /// Scope strings: parse or refuse; what parses prints back to itself.
    #[test]
    fn scopes_parse_or_refuse(s in any::<String>(), ascii in "[ -~]{0,80}") {
        for input in [s, ascii] {
            if let Ok(scope) = Scope::parse(&input) {
                let printed = scope.to_string();
                prop_assert_eq!(Scope::parse(&printed), Ok(scope.clone()));
                prop_assert!(printed.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
            }
        }
    }

    // ---- redirect URIs ----------------------------------------------------

    /// Matching never panics, is symmetric, and anything but equality is
    /// the loopback port exception.
    #[test]
    fn redirect_matching_never_panics(a in any::<String>(), b in any::<String>()) {
        let m = redirect_matches(&a, &b);
        prop_assert_eq!(m, redirect_matches(&b, &a));
        prop_assert!(redirect_matches(&a, &a));
        if m && a != b {
            prop_assert!(
                (a.starts_with("http://127.0.0.1") && b.starts_with("http://127.0.0.1"))
                    || (a.starts_with("http://[::1]") && b.starts_with("http://[::1]")),
                "{:?} ~ {:?}", a, b
            );
        }
        let registered = vec![a.clone()];
        prop_assert_eq!(find_redirect(&registered, &b).is_some(), m);
    }

    /// A registered URI matches itself; every single-byte change outside the
    /// port of a loopback URI matches nothing.
    #[test]
    fn redirect_uris_match_only_exactly(uri in redirect_uri(), with in prop_oneof![
        Just(b'/'), Just(b'.'), Just(b'%'), Just(b'@'), Just(b':'), Just(b'?'),
        Just(b'#'), Just(b'A'), Just(b'a'), Just(b'0'), Just(b'9'), 0x20u8..0x7f,
    ]) {
        prop_assert!(redirect_matches(&uri, &uri));
        let port = loopback_port_span(&uri);
        for (i, changed) in single_byte_changes(&uri, with) {
            if port.as_ref().is_some_and(|p| p.contains(&i)) {
                continue;
            }
            prop_assert!(!redirect_matches(&uri, &changed), "{:?} matched {:?}", changed, uri);
        }
    }

    // ---- PKCE -------------------------------------------------------------

    /// S256 of a verifier answers its challenge; nothing else does.
    #[test]
    fn pkce_s256_accepts_only_its_verifier(
        v in "[A-Za-z0-9._~-]{43,128}",
        other in "[A-Za-z0-9._~-]{43,128}",
        junk in any::<String>(),
        with in prop_oneof![Just(b'a'), Just(b'-'), Just(b'~'), Just(b'+'), Just(b'='), Just(b' ')],
    ) {
        let challenge = b64url(&sha256(v.as_bytes()));
        let p = Pkce::parse(&challenge, PkceMethod::S256).expect("an S256 challenge is well formed");
        prop_assert!(p.verify(&v));
        prop_assert_eq!(p.verify(&other), other == v);
        prop_assert_eq!(p.verify(&junk), junk == v);
        prop_assert!(!p.verify(&challenge) || challenge == v);
        for (_, changed) in single_byte_changes(&v, with) {
            prop_assert!(!p.verify(&changed), "{:?}", changed);
        }
    }

    /// Challenges are accepted exactly when they are 43-128 characters of
    /// the unreserved set; `plain` compares the verifier byte for byte.
    #[test]
    fn pkce_challenges_and_plain(c in any::<String>(), v in "[A-Za-z0-9._~-]{0,130}", m in any::<String>()) {
        for challenge in [c.as_str(), v.as_str()] {
            let well_formed = (43..=128).contains(&challenge.len())
                && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            for method in [PkceMethod::S256, PkceMethod::Plain] {
                prop_assert_eq!(Pkce::parse(challenge, method).is_ok(), well_formed);
            }
            if well_formed {
                let p = Pkce::parse(challenge, PkceMethod::Plain).unwrap();
                prop_assert!(p.verify(challenge));
                prop_assert_eq!(p.verify(&c), c == challenge);
            }
        }
        prop_assert_eq!(PkceMethod::parse(&m).is_some(), m == "S256" || m == "plain");
    }

    // ---- JWT headers ------------------------------------------------------

    /// The header check never panics on any string and never lets a
    /// key-carrying header through, whatever else the header says.
    #[test]
    fn jwt_header_check_never_panics(s in any::<String>(), dots in "[A-Za-z0-9_.-]{0,200}", h in jwt_header(), rest in "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}") {
        let access = |t: Option<&str>| t.is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
        let _ = header_kid(&s, access);
        let _ = header_kid(&dots, |_| true);
        let token = format!("{}.{rest}", b64url(h.to_string().as_bytes()));
        let r = header_kid(&token, access);
        let carries_key = ["jku", "x5u", "jwk", "x5c"].iter().any(|k| h.get(k).is_some());
        if carries_key {
            prop_assert!(r.is_err());
        }
        if let Ok(kid) = r {
            prop_assert_eq!(Some(kid.as_str()), h["kid"].as_str());
            prop_assert!(h["typ"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")));
        }
    }
}

/// A body an endpoint might expect (the shape of the login body).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
struct Fields {
    login: String,
    password: String,
    code: Option<String>,
}

/// Registered redirect URIs: https ones and loopback ones with and without
/// a port, with paths and queries.
fn redirect_uri() -> impl Strategy<Value = String> {
    let path = "(/[a-zA-Z0-9._~-]{0,10}){0,3}";
    let query = proptest::option::of("[a-z]{1,5}=[a-zA-Z0-9]{0,8}");
    let q = |q: Option<String>| q.map(|q| format!("?{q}")).unwrap_or_default();
    prop_oneof![
        ("[a-z]{1,10}(\\.[a-z]{2,8}){1,2}", path, query.clone())
            .prop_map(move |(h, p, qs)| format!("https://{h}{p}{}", q(qs))),
        (
            prop_oneof![Just("127.0.0.1"), Just("[::1]")],
            proptest::option::of(1u16..=65535),
            path,
            query,
        )
            .prop_map(move |(h, port, p, qs)| {
                let port = port.map(|n| format!(":{n}")).unwrap_or_default();
                format!("http://{h}{port}{p}{}", q(qs))
            }),
    ]
}

/// Byte positions of `:PORT` (or where it would go) in a loopback URI: the
/// only place a change may still match.
fn loopback_port_span(uri: &str) -> Option<std::ops::RangeInclusive<usize>> {
    let rest = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|h| rest.starts_with(h))?;
    let start = "http://".len() + host.len();
    let end = uri[start..]
        .find(['/', '?', '#'])
        .map_or(uri.len(), |i| start + i);
    Some(start..=end)
}

/// JWT headers: any mix of algorithms, types, kids and key-carrying members.
fn jwt_header() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        Just(json!("RS256")),
        Just(json!("ES256")),
        Just(json!("EdDSA")),
        Just(json!("HS256")),
        Just(json!("none")),
        Just(json!("None")),
        Just(json!(null)),
        Just(json!(1)),
        "[ -~]{0,8}".prop_map(Value::from),
    ];
    let typ = proptest::option::of(prop_oneof![
        Just(json!("at+jwt")),
        Just(json!("AT+JWT")),
        Just(json!("application/at+jwt")),
        Just(json!("JWT")),
        Just(json!(null)),
        Just(json!(["at+jwt"])),
        "[ -~]{0,12}".prop_map(Value::from),
    ]);
    let kid = proptest::option::of(prop_oneof![
        "[A-Za-z0-9_-]{0,44}".prop_map(Value::from),
        Just(json!(null)),
        Just(json!(7)),
    ]);
    let key_member = proptest::option::of(prop_oneof![
        Just(("jku", json!("https://evil.example/jwks"))),
        Just(("x5u", json!("https://evil.example/cert.pem"))),
        Just(("jwk", json!({"kty": "oct", "k": "AAAA"}))),
        Just(("x5c", json!(["MIIB"]))),
    ]);
    (alg, typ, kid, key_member).prop_map(|(alg, typ, kid, key_member)| {
        let mut h = json!({ "alg": alg });
        if let Some(t) = typ {
            h["typ"] = t;
        }
        if let Some(k) = kid {
            h["kid"] = k;
        }
        if let Some((name, v)) = key_member {
            h[name] = v;
        }
        h
    })
}

fn run<S: Strategy>(cases: u32, strategy: S, mut check: impl FnMut(S::Value)) {
    let mut runner = TestRunner::new(config(cases));
    for _ in 0..cases {
        check(strategy.new_tree(&mut runner).expect("value").current());
    }
}

/// Access-token verification through a running engine: a genuine token
/// verifies; any header the generator makes, signed with the server's own
/// key, verifies only when it is exactly what the server would write; and
/// every single-byte change to a genuine token is refused.
#[actix_web::test]
async fn access_jwt_verification_accepts_only_what_we_signed() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let (header, claims) = app.genuine_parts(&c);
    let genuine = app.sign_with_server_key(&header, &claims);
    app.engine
        .verify_access_jwt(&genuine)
        .expect("a genuine token verifies");
    let our_alg = header["alg"].clone();
    let our_kid = header["kid"].clone();

    let (mut accepted, mut refused) = (0, 0);
    let headers = (jwt_header(), any::<bool>(), any::<bool>());
    run(JWT_CASES, headers, |(mut h, ours_kid, ours_alg)| {
        // Half of them name our key, half our algorithm, so that every
        // member is the deciding one some of the time.
        if ours_kid {
            h["kid"] = our_kid.clone();
        }
        if ours_alg {
            h["alg"] = our_alg.clone();
        }
        let token = app.sign_with_server_key(&h, &claims);
        let typ_ok = h["typ"].as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        let clean = ["jku", "x5u", "jwk", "x5c"]
            .iter()
            .all(|k| h.get(k).is_none());
        let expect = h["alg"] == our_alg && h["kid"] == our_kid && typ_ok && clean;
        let got = app.engine.verify_access_jwt(&token);
        assert_eq!(got.is_ok(), expect, "{h} -> {got:?}");
        if expect {
            accepted += 1;
        } else {
            refused += 1;
        }
        // The header of a token that did not verify names nothing the
        // token index could know.
        if !expect {
            assert!(app.engine.lookup(&token).is_none(), "{h}");
        }
    });

    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );

    // A kid we never published, with a genuine signature: refused.
    let mut h = header.clone();
    h["kid"] = json!("not-a-kid-of-ours");
    assert!(app
        .engine
        .verify_access_jwt(&app.sign_with_server_key(&h, &claims))
        .is_err());

    let mut changed = 0;
    for with in [b'A', b'-', b'_', b'.', b'0'] {
        for (_, t) in single_byte_changes(&genuine, with) {
            assert!(
                app.engine.verify_access_jwt(&t).is_err(),
                "a changed token verified: {t}"
            );
            changed += 1;
        }
    }
    assert!(changed > 1000, "{changed}");

    run(
        JWT_CASES,
        (any::<String>(), "[A-Za-z0-9_.-]{0,600}"),
        |(a, b)| {
            assert!(app.engine.verify_access_jwt(&a).is_err());
            assert!(app.engine.verify_access_jwt(&b).is_err());
            assert!(app.engine.verify_id_token_hint(&a).is_err());
            assert!(app.engine.lookup(&b).is_none());
        },
    );
}

/// Oversized bodies are refused before they are parsed.
#[test]
fn oversized_api_bodies_are_413() {
    let body = vec![b'a'; MAX_BODY + 1];
    let e = parse_body_as::<Value>(Some("application/json"), &body).unwrap_err();
    assert_eq!(e.status.as_u16(), 413);
    let ok = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY - 16));
    assert!(parse_body_as::<Value>(Some("application/json"), ok.as_bytes()).is_ok());
}
