//! Generated input against a live server: no random token is ever active,
//! no random form ever gets a 5xx or a non-JSON answer.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn sample<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("value").current())
        .collect()
}

#[actix_web::test]
async fn random_tokens_are_never_active() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let real = app.get_token(&c).await;
    let parts: Vec<String> = real.split('.').map(str::to_string).collect();
    let jwtish = (
        "[A-Za-z0-9_-]{0,60}",
        "[A-Za-z0-9_-]{0,200}",
        "[A-Za-z0-9_-]{0,400}",
    )
        .prop_map(|(a, b, c)| format!("{a}.{b}.{c}"));
    // Real segments recombined with random ones.
    let spliced = (0..3usize, "[A-Za-z0-9_-]{1,80}").prop_map(move |(i, s)| {
        let mut p = parts.clone();
        p[i] = s;
        p.join(".")
    });
    let mut tokens = sample(any::<String>(), 40);
    tokens.extend(sample(jwtish, 40));
    tokens.extend(sample(spliced, 40));
    tokens.extend(sample("tes_at_[A-Za-z0-9_-]{43}", 20));
    for t in tokens {
        if t.is_empty() {
            continue;
        }
        let r = app.introspect_with(&c, &[("token", &t)]).await;
        assert_eq!(r.status(), StatusCode::OK, "{t:?}");
        assert_eq!(r.text().await.unwrap(), INACTIVE, "{t:?}");
    }
    app.assert_active(&c, &real).await;
}

#[actix_web::test]
async fn random_form_bodies_never_break_the_oauth_endpoints() {
    let app = spawn_app().await;
    let c = app.cc_client().await;
    let pair = (
        prop_oneof![
            Just("grant_type".to_string()),
            Just("grantType".to_string()),
            Just("scope".to_string()),
            Just("audience".to_string()),
            Just("client_id".to_string()),
            Just("client_secret".to_string()),
            Just("token".to_string()),
            Just("token_type_hint".to_string()),
            "[a-z_%0-9A-F]{0,12}",
        ],
        prop_oneof![
            Just("client_credentials".to_string()),
            Just(c.id.clone()),
            "[ -~]{0,40}",
            any::<String>(),
        ],
    );
    let bodies = sample(proptest::collection::vec(pair, 0..6), 60);
    let raw = sample(proptest::collection::vec(any::<u8>(), 0..200), 30);
    let known = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "invalid_scope",
        "invalid_target",
        "unsupported_grant_type",
        "unauthorized_client",
    ];
    let paths = [
        "/oauth2/token",
        "/oauth2/token/introspect",
        "/oauth2/token/revoke",
    ];
    let check = |status: StatusCode, body: &[u8], what: String| {
        assert!(!status.is_server_error(), "{what}: {status}");
        if status.is_success() {
            return;
        }
        let v: Value =
            serde_json::from_slice(body).unwrap_or_else(|_| panic!("{what}: non-JSON {status}"));
        let code = v["error"].as_str().unwrap_or_default();
        assert!(known.contains(&code), "{what}: {v}");
        assert_description_charset(v["error_description"].as_str().unwrap_or_default());
    };
    for (i, pairs) in bodies.iter().enumerate() {
        let path = paths[i % 3];
        let r = app
            .http
            .post(app.url(path))
            .basic_auth(&c.id, Some(&c.secret))
            .form(pairs)
            .send()
            .await
            .unwrap();
        let status = r.status();
        check(
            status,
            &r.bytes().await.unwrap(),
            format!("{path} {pairs:?}"),
        );
    }
    for (i, body) in raw.iter().enumerate() {
        let path = paths[i % 3];
        let r = app
            .http
            .post(app.url(path))
            .basic_auth(&c.id, Some(&c.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status();
        check(
            status,
            &r.bytes().await.unwrap(),
            format!("{path} {body:?}"),
        );
    }
    // Still serving.
    let t = app.get_token(&c).await;
    app.assert_active(&c, &t).await;
}
