//! Configuration an operator runs into: `[limits]` takes effect, and a
//! `TESSERA_*` variable that is not a key warns instead of stopping the
//! server, while an unknown key in a file still stops it.

use reqwest::StatusCode;

use crate::flow::*;
use crate::helpers::{header, http_client, spawn_app_with};
use crate::process::Server;
use tessera::configuration::Settings;

fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[actix_web::test]
async fn a_configured_account_limit_takes_effect() {
    let app = spawn_app_with(|s| {
        s.limits.account.allowance = Some(1);
        s.limits.account.base_lock = Some(7);
        s.limits.account.max_lock = Some(7);
    })
    .await;
    let user = create_user(&app, "dora").await;
    for i in 0..2 {
        let r = Browser::new(&app)
            .login_json("dora", &format!("wrong {i}"))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The default allowance (5) would still let this one through.
    let r = Browser::new(&app).login_json("dora", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=7).contains(&retry), "{retry}");
    app.clock.advance(8);
    Browser::new(&app).login(&user).await;
}

#[test]
fn limits_come_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "[limits.ip]\nallowance = 3\n").unwrap();
    let s = Settings::load_with_env(
        Some(&file),
        env(&[("TESSERA_LIMITS__TOTP__MAX_LOCK", "600")]),
    )
    .unwrap();
    assert_eq!(s.limits.ip().allowance, 3);
    assert_eq!(s.limits.ip().window, 900, "unset values keep the default");
    assert_eq!(s.limits.totp().max_lock, 600);
    assert_eq!(s.limits.account().allowance, 5);
    // A lock that could never reach its own base is refused by name.
    let e = Settings::load_with_env(
        None,
        env(&[
            ("TESSERA_LIMITS__ACCOUNT__BASE_LOCK", "60"),
            ("TESSERA_LIMITS__ACCOUNT__MAX_LOCK", "10"),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("limits.account"), "{e:#}");
}

#[test]
fn unknown_environment_variables_are_named_not_fatal() {
    let s = Settings::load_with_env(
        None,
        env(&[
            ("TESSERA_URL", "http://localhost:8080"),
            ("TESSERA_SERVER", "http://localhost:8080"),
            ("TESSERA_TEST_DATABASE_URL", "postgres://localhost/t"),
            (
                "TESSERA_ADMIN_TOKEN",
                "an-admin-token-of-at-least-32-characters",
            ),
            ("TESSERA_TOKENS__ACCESS_TOKEN_TTL", "600"),
        ]),
    )
    .unwrap();
    // `TESSERA_URL` is the CLI's `--url`: left out, without a warning.
    assert_eq!(
        s.ignored_env,
        ["TESSERA_SERVER", "TESSERA_TEST_DATABASE_URL"]
    );
    assert_eq!(s.tokens.access_token_ttl, 600);
    assert!(s.admin_token.is_some());
}

#[test]
fn unknown_keys_in_a_file_stay_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, "[tokens]\naccess_token_tl = 600\n").unwrap();
    let e = Settings::load_with_env(Some(&file), Vec::new()).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e:#}");
}

#[actix_web::test]
async fn the_server_starts_with_a_client_scripts_variable_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &log,
        &[
            ("TESSERA_URL", "http://localhost:8080"),
            ("TESSERA_SERVER", "http://localhost:8080"),
        ],
    );
    let r = http_client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("TESSERA_SERVER"), "{log}");
}
