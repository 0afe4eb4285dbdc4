//! Claims a refused assertion gets wrong: times, audience, issuer and
//! subject, and its `jti` (used once, bounded, raced). `401
//! invalid_client`, and no token issued.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::keys::{sign_jwt, ClientKey};
use super::*;
use crate::helpers::spawn_app;

#[actix_web::test]
async fn times_out_of_bounds_are_refused() {
    let (app, key, id) = one_client().await;
    let now = app.now();
    let before = stored_tokens(&app);
    let bad: Vec<(&str, Value)> = vec![
        ("expired", json!({"exp": now - 60, "iat": now - 120})),
        ("expired beyond the leeway", json!({"exp": now - 6})),
        ("no exp", json!({"exp": null})),
        ("exp not a number", json!({"exp": (now + 60).to_string()})),
        ("lives 400 s", json!({"exp": now + 400})),
        (
            "lives past the lifetime and leeway",
            json!({"exp": now + 306}),
        ),
        ("lives long, no iat", json!({"exp": now + 400, "iat": null})),
        (
            "lives long, iat backdated",
            json!({"exp": now + 400, "iat": now - 200}),
        ),
        ("a year", json!({"exp": now + 365 * 86_400})),
        (
            "issued in the future",
            json!({"iat": now + 60, "exp": now + 120}),
        ),
        ("not valid yet", json!({"nbf": now + 30})),
    ];
    for (why, change) in bad {
        let a = sign_jwt(&key, &header_of(&key), &with(claims(&app, &id), change));
        let body = assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
        eprintln!("{why}: {body}");
    }
    // The bounds themselves: 300 s of life, and skew within the leeway.
    for change in [
        json!({"exp": now + 300}),
        json!({"exp": now - 4}),
        json!({"iat": now + 4, "exp": now + 60}),
        json!({"nbf": now + 4}),
    ] {
        let a = sign_jwt(
            &key,
            &header_of(&key),
            &with(claims(&app, &id), change.clone()),
        );
        let r = token_by(&app, &a, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{change}");
    }
    // A good assertion kept too long: the clock moves past its exp.
    let a = assertion(&app, &key, &id);
    app.clock.advance(61 + 5);
    let before = stored_tokens(&app);
    assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
}

/// `[client_auth]` is what bounds assertions: a shorter lifetime and no
/// leeway at all.
#[actix_web::test]
async fn the_configured_lifetime_and_leeway_bound_assertions() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.client_auth.assertion_max_lifetime = 60;
        s.client_auth.leeway = 0;
    })
    .await;
    let key = ClientKey::es256("k1");
    let id = key_client(&app, &[&key], json!({})).await;
    let now = app.now();
    let before = stored_tokens(&app);
    for change in [
        json!({"exp": now + 61}),
        json!({"exp": now}),
        json!({"exp": now + 30, "nbf": now + 1}),
        json!({"exp": now + 30, "iat": now + 1}),
    ] {
        let a = sign_jwt(&key, &header_of(&key), &with(claims(&app, &id), change));
        assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    }
    for change in [
        json!({"exp": now + 60}),
        json!({"exp": now + 1, "nbf": now}),
    ] {
        let a = sign_jwt(
            &key,
            &header_of(&key),
            &with(claims(&app, &id), change.clone()),
        );
        let r = token_by(&app, &a, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{change}");
    }
}

#[actix_web::test]
async fn who_and_for_whom_must_be_right() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = key_client(&app, &[&key], json!({})).await;
    let other_key = ClientKey::es256("k1");
    let other = key_client(&app, &[&other_key], json!({})).await;
    let before = stored_tokens(&app);
    let intro = format!("{}/oauth2/token/introspect", app.issuer);
    let cases: Vec<(&str, Value)> = vec![
        ("wrong aud", json!({"aud": "https://elsewhere.example"})),
        (
            "aud of another issuer's token endpoint",
            json!({"aud": "https://elsewhere.example/oauth2/token"}),
        ),
        (
            "aud a prefix of the issuer",
            json!({"aud": format!("{}/", app.issuer)}),
        ),
        ("aud of another endpoint", json!({"aud": intro})),
        (
            "aud an array without us",
            json!({"aud": ["https://a.example", "https://b.example"]}),
        ),
        ("empty aud array", json!({"aud": []})),
        ("no aud", json!({"aud": null})),
        ("iss is not sub", json!({"iss": other})),
        ("no iss", json!({"iss": null})),
        ("iss not a string", json!({"iss": 1})),
    ];
    for (why, change) in cases {
        let a = sign_jwt(&key, &header_of(&key), &with(claims(&app, &id), change));
        let r = token_by(&app, &a, &[]).await;
        let body = assert_refused(&app, r, before).await;
        eprintln!("{why}: {body}");
    }
    // Signed by this client, naming another as sub (and iss): the other
    // client's keys do not verify it, though the kid is the same.
    let a = sign_jwt(&key, &header_of(&key), &claims(&app, &other));
    assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    // sub = another client, iss = this one.
    let a = sign_jwt(
        &key,
        &header_of(&key),
        &with(claims(&app, &id), json!({"sub": other})),
    );
    assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
    // Signed by another registered client's key under this client's name.
    let a = sign_jwt(&other_key, &header_of(&other_key), &claims(&app, &id));
    assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    // No sub; a client nobody registered.
    let a = sign_jwt(
        &key,
        &header_of(&key),
        &with(claims(&app, &id), json!({"sub": null})),
    );
    assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
    let a = sign_jwt(&key, &header_of(&key), &claims(&app, "nobody"));
    assert_unauthorized(&app, token_by(&app, &a, &[]).await, before).await;
}

#[actix_web::test]
async fn a_jti_is_used_once_and_is_required() {
    let (app, key, id) = one_client().await;
    let a = assertion(&app, &key, &id);
    access_token(token_by(&app, &a, &[]).await).await;
    let before = stored_tokens(&app);
    let body = assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("jti was already used"),
        "{body}"
    );
    // Replayed at another endpoint: still used.
    let token = access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;
    let a = assertion(&app, &key, &id);
    access_token(token_by(&app, &a, &[]).await).await;
    let r = post(
        &app,
        "/oauth2/token/introspect",
        &[
            ("token", &token),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // The same jti in a new assertion (new exp) is a replay too.
    let jti = uuid::Uuid::new_v4().to_string();
    let first = with(claims(&app, &id), json!({"jti": jti}));
    access_token(token_by(&app, &sign_jwt(&key, &header_of(&key), &first), &[]).await).await;
    app.clock.advance(2);
    let second = with(claims(&app, &id), json!({"jti": jti}));
    let before = stored_tokens(&app);
    let r = token_by(&app, &sign_jwt(&key, &header_of(&key), &second), &[]).await;
    assert_refused(&app, r, before).await;

    for change in [
        json!({"jti": null}),
        json!({"jti": ""}),
        json!({"jti": 42}),
        json!({"jti": "j".repeat(257)}),
    ] {
        let a = sign_jwt(
            &key,
            &header_of(&key),
            &with(claims(&app, &id), change.clone()),
        );
        assert_refused(&app, token_by(&app, &a, &[]).await, before).await;
    }
}

/// The contract: a `jti` of 1 to 256 characters.
#[actix_web::test]
async fn a_jti_of_up_to_256_characters_is_accepted() {
    let (app, key, id) = one_client().await;
    for jti in [
        "j".to_string(),
        "j".repeat(256),
        // 256 characters, 512 bytes of UTF-8.
        "\u{e9}".repeat(256),
    ] {
        let a = sign_jwt(
            &key,
            &header_of(&key),
            &with(claims(&app, &id), json!({"jti": jti})),
        );
        let r = token_by(&app, &a, &[]).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "a jti of {} characters ({} bytes): {body}",
            jti.chars().count(),
            jti.len()
        );
    }
}

/// A forged assertion refused for its signature does not use up the jti
/// of the genuine one.
#[actix_web::test]
async fn a_refused_assertion_does_not_use_up_its_jti() {
    let (app, key, id) = one_client().await;
    let c = claims(&app, &id);
    let forger = ClientKey::es256("k1");
    let before = stored_tokens(&app);
    let forged = sign_jwt(&forger, &header_of(&forger), &c);
    assert_refused(&app, token_by(&app, &forged, &[]).await, before).await;
    access_token(token_by(&app, &sign_jwt(&key, &header_of(&key), &c), &[]).await).await;
}

/// One assertion sent many times at once: exactly one is accepted.
#[actix_web::test]
async fn one_assertion_raced_is_accepted_once() {
    let (app, key, id) = one_client().await;
    for round in 0..3 {
        let a = assertion(&app, &key, &id);
        let before = stored_tokens(&app);
        let answers = futures_util::future::join_all((0..8).map(|_| token_by(&app, &a, &[]))).await;
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(ok, 1, "round {round}: {statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
            "round {round}: {statuses:?}"
        );
        assert_eq!(stored_tokens(&app), before + 1, "round {round}");
    }
}

/// The single-use set is bounded: at `replay_cache_size` remembered
/// `jti`s new assertions get `503` (nothing is forgotten that could
/// still be replayed), until the old ones' windows pass.
#[actix_web::test]
async fn a_full_replay_cache_refuses_with_503_until_old_jtis_expire() {
    const SIZE: usize = 1000;
    let app = crate::helpers::spawn_app_with(|s| s.client_auth.replay_cache_size = SIZE).await;
    let key = ClientKey::es256("k1");
    let id = key_client(&app, &[&key], json!({})).await;
    let mut accepted = 0;
    for _ in 0..SIZE / 25 {
        let batch: Vec<String> = (0..25).map(|_| assertion(&app, &key, &id)).collect();
        let answers =
            futures_util::future::join_all(batch.iter().map(|a| token_by(&app, a, &[]))).await;
        accepted += answers
            .iter()
            .filter(|r| r.status() == StatusCode::OK)
            .count();
    }
    assert_eq!(accepted, SIZE);
    let before = stored_tokens(&app);
    let r = token_by(&app, &assertion(&app, &key, &id), &[]).await;
    let body = assert_oauth_error(
        r,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    assert_eq!(stored_tokens(&app), before, "nothing was issued: {body}");
    // The remembered ones expire (exp + leeway): room again.
    app.clock.advance(60 + 5 + 1);
    access_token(token_by(&app, &assertion(&app, &key, &id), &[]).await).await;
}
