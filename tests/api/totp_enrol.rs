//! TOTP enrolment (`/api/users/otp`), account recovery with the
//! authenticator (`/accountrecovery`), and changing the password
//! (`PUT /api/users/password`): SPEC §2 and §4, SECURITY.md "Accounts".

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::flow::{create_user, totp_code, Browser, TestUser, PASSWORD};
use crate::helpers::{assert_api_error, header, spawn_app, TestApp};
use crate::sessions::{call, Auth};

/// Log in with the password; the session cookie's value.
async fn login(app: &TestApp, user: &TestUser, password: &str) -> String {
    let mut b = Browser::new(app);
    let r = b.login_json(&user.username, password).await;
    assert_eq!(r.status(), StatusCode::OK);
    b.session().expect("a session cookie")
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Value,
) -> reqwest::Response {
    call(app, method, path, auth, Some(&body.to_string())).await
}

/// `PUT /api/users/otp`: starts (or restarts) an enrolment.
async fn start_enrolment(app: &TestApp, cookie: &str) -> reqwest::Response {
    call(
        app,
        Method::PUT,
        "/api/users/otp",
        Auth::Cookie(cookie),
        None,
    )
    .await
}

/// Starts an enrolment; the secret it hands out.
async fn new_secret(app: &TestApp, cookie: &str) -> String {
    let r = start_enrolment(app, cookie).await;
    r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `POST /api/users/otp/confirm` with `code`.
async fn confirm(app: &TestApp, cookie: &str, code: impl AsRef<str>) -> reqwest::Response {
    send(
        app,
        Method::POST,
        "/api/users/otp/confirm",
        Auth::Cookie(cookie),
        json!({"code": code.as_ref()}),
    )
    .await
}

/// `DELETE /api/users/otp` with `code`.
async fn disable(app: &TestApp, cookie: &str, code: impl AsRef<str>) -> reqwest::Response {
    send(
        app,
        Method::DELETE,
        "/api/users/otp",
        Auth::Cookie(cookie),
        json!({"code": code.as_ref()}),
    )
    .await
}

/// `POST /accountrecovery/callback` with an address and a code.
async fn recover(app: &TestApp, email: &str, code: impl AsRef<str>) -> reqwest::Response {
    send(
        app,
        Method::POST,
        "/accountrecovery/callback",
        Auth::None,
        json!({"email": email, "code": code.as_ref()}),
    )
    .await
}

/// `PUT /api/users/password` with `body`.
async fn set_password(app: &TestApp, auth: Auth<'_>, body: Value) -> reqwest::Response {
    send(app, Method::PUT, "/api/users/password", auth, body).await
}

/// `GET /sessions/session` with a session cookie.
async fn session_of(app: &TestApp, cookie: &str) -> reqwest::Response {
    call(
        app,
        Method::GET,
        "/sessions/session",
        Auth::Cookie(cookie),
        None,
    )
    .await
}

/// Enrol and confirm TOTP through the API; the secret.
async fn enrol(app: &TestApp, cookie: &str) -> String {
    let r = start_enrolment(app, cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    let code = totp_code(app, &secret, 0);
    let r = confirm(app, cookie, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    secret
}

#[actix_web::test]
async fn enrolment_gives_a_scannable_secret_and_turns_mfa_on_after_a_code() {
    let app = spawn_app().await;
    let user = create_user(&app, "otpuser").await;
    let cookie = login(&app, &user, PASSWORD).await;

    // Not logged in: 401.
    let r = call(&app, Method::PUT, "/api/users/otp", Auth::None, None).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let r = start_enrolment(&app, &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 26, "≥ 128 bits of base32: {secret}");
    let url = e["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={secret}")), "{url}");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(e["qr_png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");

    // Not yet on: a login is still password-only.
    let mut b = Browser::new(&app);
    let r = b.login_json(&user.username, PASSWORD).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["mode"], "authentication");

    // A wrong code does not turn it on; the right one does.
    let wrong = if totp_code(&app, &secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = confirm(&app, &cookie, wrong).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!app.engine.users.get(&user.id).unwrap().totp_enabled());
    let code = totp_code(&app, &secret, 0);
    let r = confirm(&app, &cookie, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], true);

    // Enabled: a second enrolment is 409, a second confirm too.
    let r = start_enrolment(&app, &cookie).await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;

    // Login now asks for the code; the code used to confirm is spent.
    let mut b = Browser::new(&app);
    let r = b.login_json(&user.username, PASSWORD).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["mode"], "mfa");
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the confirm code was used"
    );
    app.clock.advance(30);
    let next = totp_code(&app, &secret, 0);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": next}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_wrong_code_does_not_confirm_and_skew_is_one_step() {
    let app = spawn_app().await;
    let user = create_user(&app, "skewer").await;
    let cookie = login(&app, &user, PASSWORD).await;
    let secret = new_secret(&app, &cookie).await;
    let right = totp_code(&app, &secret, 0);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let r = confirm(&app, &cookie, wrong).await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // Two steps off: refused.
    let r = confirm(&app, &cookie, totp_code(&app, &secret, -60)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Malformed bodies are 400, not a panic.
    let r = call(
        &app,
        Method::POST,
        "/api/users/otp/confirm",
        Auth::Cookie(&cookie),
        Some("{"),
    )
    .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_body").await;
    // One step behind: accepted.
    let r = confirm(&app, &cookie, totp_code(&app, &secret, -30)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let u = app.engine.users.get(&user.id).unwrap();
    assert!(u.totp_enabled());
}

#[actix_web::test]
async fn confirming_a_restarted_enrolment_needs_the_new_secret() {
    let app = spawn_app().await;
    let user = create_user(&app, "restarter").await;
    let cookie = login(&app, &user, PASSWORD).await;
    let first = new_secret(&app, &cookie).await;
    let second = new_secret(&app, &cookie).await;
    assert_ne!(first, second);
    let old = totp_code(&app, &first, 0);
    if old != totp_code(&app, &second, 0) {
        let r = confirm(&app, &cookie, old).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "the voided secret's code"
        );
    }
    let r = confirm(&app, &cookie, totp_code(&app, &second, 0)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn wrong_codes_are_rate_limited_with_retry_after() {
    let app = spawn_app().await;
    let user = create_user(&app, "guesser").await;
    let cookie = login(&app, &user, PASSWORD).await;
    let secret = new_secret(&app, &cookie).await;
    let right = totp_code(&app, &secret, 0);
    let wrong = if right == "000001" {
        "000002"
    } else {
        "000001"
    };
    let mut limited = None;
    for _ in 0..10 {
        let r = confirm(&app, &cookie, wrong).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = limited.expect("wrong codes end in 429");
    let secs: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!(secs >= 1);
    // Even the right code waits out the lock...
    let r = confirm(&app, &cookie, right).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...and works after it.
    app.clock.advance(secs);
    let r = confirm(&app, &cookie, totp_code(&app, &secret, 0)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn disabling_needs_a_fresh_code() {
    let app = spawn_app().await;
    let user = create_user(&app, "disabler").await;
    let cookie = login(&app, &user, PASSWORD).await;
    // Not enabled yet: 409.
    let r = disable(&app, &cookie, "123456").await;
    assert_api_error(r, StatusCode::CONFLICT, "conflict").await;
    let secret = enrol(&app, &cookie).await;
    // The confirming code is spent.
    let r = disable(&app, &cookie, totp_code(&app, &secret, 0)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(app.engine.users.get(&user.id).unwrap().totp_enabled());
    app.clock.advance(30);
    let r = disable(&app, &cookie, totp_code(&app, &secret, 0)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["enabled"], false);
    let mut b = Browser::new(&app);
    let v: Value = b
        .login_json(&user.username, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["mode"], "authentication");
}

#[actix_web::test]
async fn recovery_with_the_authenticator_allows_a_new_password_and_nothing_else() {
    let app = spawn_app().await;
    let user = create_user(&app, "forgetful").await;
    let cookie = login(&app, &user, PASSWORD).await;
    let secret = enrol(&app, &cookie).await;
    app.clock.advance(30);

    // Starting recovery answers the same for any address.
    let known = send(
        &app,
        Method::POST,
        "/accountrecovery",
        Auth::None,
        json!({"email": user.email}),
    )
    .await;
    let unknown = send(
        &app,
        Method::POST,
        "/accountrecovery",
        Auth::None,
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(unknown.status(), StatusCode::OK);
    let k: Value = known.json().await.unwrap();
    let u: Value = unknown.json().await.unwrap();
    assert_eq!(k["data"]["mode"], "accountRecovery");
    assert_eq!(k["message"], u["message"]);

    // Wrong code, unknown address, account without TOTP: one answer.
    let plain = create_user(&app, "nototp").await;
    let code = totp_code(&app, &secret, 0);
    let mut bodies = Vec::new();
    for (email, c) in [
        (
            user.email.as_str(),
            if code == "999999" { "999998" } else { "999999" },
        ),
        ("nobody@example.com", code.as_str()),
        (plain.email.as_str(), code.as_str()),
    ] {
        let r = recover(&app, email, c).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{email}");
        bodies.push(r.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    // The right code: a token that may only change the password.
    let r = recover(&app, &user.email, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["mode"], "accountRecovery");
    assert_eq!(v["scope"], "account:recovery");
    assert!(v.get("refresh_token").is_none(), "no refresh token");
    let token = v["access_token"].as_str().unwrap().to_string();

    // The code is spent.
    let r = recover(&app, &user.email, &code).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Anything else with the token: 403.
    for (m, p) in [
        (Method::GET, "/sessions"),
        (Method::GET, "/sessions/session"),
        (Method::PUT, "/api/users/otp"),
    ] {
        let r = call(&app, m, p, Auth::Bearer(&token), None).await;
        assert_api_error(r, StatusCode::FORBIDDEN, "insufficient_scope").await;
    }
    let r = app
        .http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A new password, without the old one.
    let r = set_password(
        &app,
        Auth::Bearer(&token),
        json!({"password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // The old password and the old session are dead; the token is spent.
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json(&user.username, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = session_of(&app, &cookie).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = set_password(
        &app,
        Auth::Bearer(&token),
        json!({"password": "yet another passphrase"}),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the recovery token died with the change"
    );
    let mut b = Browser::new(&app);
    let v: Value = b
        .login_json(&user.username, "a brand new passphrase")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["mode"], "mfa", "TOTP stays on");
}

#[actix_web::test]
async fn recovery_failures_are_rate_limited() {
    let app = spawn_app().await;
    let user = create_user(&app, "targeted").await;
    let mut last = StatusCode::OK;
    for i in 0..10 {
        let r = send(
            &app,
            Method::POST,
            "/accountrecovery/callback",
            Auth::None,
            json!({"email": user.email, "code": format!("{:06}", 100000 + i)}),
        )
        .await;
        last = r.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert!(header(&r, "retry-after").is_some());
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn changing_the_password_needs_the_current_one_and_ends_every_session() {
    let (app, sink) = crate::smtp_sink::spawn_app_with_mail(|_| {}).await;
    let user = create_user(&app, "changer").await;
    let cookie = login(&app, &user, PASSWORD).await;
    let other = login(&app, &user, PASSWORD).await;
    let r = set_password(
        &app,
        Auth::Cookie(&cookie),
        json!({"password": "new passphrase here"}),
    )
    .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    let r = set_password(
        &app,
        Auth::Cookie(&cookie),
        json!({"password": "new passphrase here", "current_password": "wrong"}),
    )
    .await;
    assert_api_error(r, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let r = set_password(
        &app,
        Auth::Cookie(&cookie),
        json!({"password": "short", "current_password": PASSWORD}),
    )
    .await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    let r = set_password(
        &app,
        Auth::Cookie(&cookie),
        json!({"password": "new passphrase here", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sessions_closed"], 2);
    for c in [&cookie, &other] {
        let r = session_of(&app, c).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let u = app.engine.users.get(&user.id).unwrap();
    assert!(u.password_hash.starts_with("$argon2id$"));
    login(&app, &user, "new passphrase here").await;
    // The owner is told.
    let notice = sink.mail_to(&user.email).await;
    assert!(
        notice.subject().to_lowercase().contains("password"),
        "{}",
        notice.subject()
    );
    assert!(notice.text().contains(&user.username), "{}", notice.text());
}
