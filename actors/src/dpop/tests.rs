//! Unit tests of the proof checks' parts.

use super::*;

#[test]
fn thumbprint_matches_rfc7638_example() {
    // RFC 7638 §3.1.
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let tp = thumbprint(&[("e", "AQAB"), ("kty", "RSA"), ("n", n)]);
    assert_eq!(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn uris_compare_without_query_fragment_case_or_default_port() {
    let a = normalize_uri("HTTPS://Server.Example.com:443/token?x=1#f").unwrap();
    assert_eq!(a, "https://server.example.com/token");
    assert_eq!(
        normalize_uri("http://127.0.0.1:8080/oauth2/token").unwrap(),
        "http://127.0.0.1:8080/oauth2/token"
    );
    assert_ne!(
        normalize_uri("https://server.example.com/Token"),
        normalize_uri("https://server.example.com/token")
    );
    assert_eq!(normalize_uri("ftp://x/y"), None);
    assert_eq!(normalize_uri("https://user@x/y"), None);
}

#[test]
fn nonces_expire_and_are_bound_to_the_key() {
    let d = Dpop::new(DpopConfig::default());
    let n = d.nonce(1000);
    assert!(d.nonce_ok(&n, 1000));
    assert!(d.nonce_ok(&n, 1300));
    assert!(!d.nonce_ok(&n, 1301));
    assert!(!d.nonce_ok(&n, 999));
    let other = Dpop::new(DpopConfig::default());
    assert!(!other.nonce_ok(&n, 1000));
    let shared = DpopConfig {
        nonce_secret: Some("s".into()),
        ..DpopConfig::default()
    };
    let (a, b) = (Dpop::new(shared.clone()), Dpop::new(shared));
    assert!(b.nonce_ok(&a.nonce(5), 5));
    assert!(!d.nonce_ok("not a nonce", 1000));
}

#[actix_rt::test]
async fn the_replay_cache_is_bounded_and_forgets_only_dead_proofs() {
    let d = Dpop::new(DpopConfig {
        replay_cache_size: 2,
        ..DpopConfig::default()
    });
    let p = |k: u128, until: i64| Proof {
        jkt: Arc::from("x"),
        seen_key: k,
        until,
    };
    assert!(d.claim(&p(1, 100), 10).await.is_ok());
    assert!(matches!(
        d.claim(&p(1, 100), 10).await,
        Err(DpopError::Invalid(_))
    ));
    assert!(d.claim(&p(2, 100), 10).await.is_ok());
    assert_eq!(d.claim(&p(3, 100), 10).await, Err(DpopError::Unavailable));
    // Once the first two can no longer be accepted, they make room.
    assert!(d.claim(&p(3, 200), 101).await.is_ok());
    assert_eq!(d.remembered(), 1);
}
