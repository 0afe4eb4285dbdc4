//! `POST /auth/login` and `/auth/login/callback` (SPEC §2, SECURITY.md
//! "Accounts" and "Sessions"): no account enumeration by answer or timing,
//! failure limits with `Retry-After` that expire, TOTP single use and skew,
//! and a new session id at every login (fixation).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};

async fn login_status_body(app: &TestApp, login: &str, password: &str) -> (StatusCode, String) {
    let r = Browser::new(app).login_json(login, password).await;
    (r.status(), r.text().await.unwrap())
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_answer_the_same() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let wrong = login_status_body(&app, &user.username, "not the password").await;
    let wrong_email = login_status_body(&app, &user.email, "not the password").await;
    let unknown = login_status_body(&app, "nobody", "not the password").await;
    let unknown_email = login_status_body(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&wrong.1).unwrap();
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    for other in [&wrong_email, &unknown, &unknown_email] {
        assert_eq!(other, &wrong);
    }
    // The form path: same status, same page apart from the echoed login.
    let mut pages = Vec::new();
    for login in ["alice", "nobody"] {
        let mut b = Browser::new(&app);
        let page = b.get("/auth/login").await.text().await.unwrap();
        let csrf = hidden(&page, "csrf").unwrap();
        let r = b
            .post_form(
                "/auth/login",
                &[("login", login), ("password", "nope"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(session_cookie_set(&r).is_none());
        let html = r.text().await.unwrap();
        let csrf = hidden(&html, "csrf").unwrap();
        // The passkey script's nonce is fresh per page.
        let nonce = html
            .split("<script nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        pages.push(
            html.replace(login, "LOGIN")
                .replace(&csrf, "CSRF")
                .replace(&nonce, "NONCE"),
        );
    }
    assert_eq!(pages[0], pages[1]);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_take_the_same_time() {
    const N: usize = 15;
    let app = spawn_app().await;
    // One account per wrong-password try, so the per-account limit never
    // cuts an attempt short; one hash for all of them.
    let hash = password_hash(&app, PASSWORD).await;
    let mut users = Vec::new();
    for i in 0..N {
        users.push(create_user_with_hash(&app, &format!("timing{i}"), &hash).await);
    }
    let time = |login: String| {
        let app = &app;
        async move {
            let start = Instant::now();
            let r = Browser::new(app).login_json(&login, "wrong password").await;
            let elapsed = start.elapsed();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{login}");
            elapsed
        }
    };
    // Warm up both paths.
    time("warmup-unknown".into()).await;
    time(users[0].username.clone()).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for (i, u) in users.iter().enumerate() {
        if i % 8 == 0 {
            // Stay under the per-IP failure allowance.
            app.clock.advance(1000);
        }
        unknown.push(time(format!("ghost{i}")).await);
        wrong.push(time(u.username.clone()).await);
    }
    let (mu, mw) = (median(unknown), median(wrong));
    let ratio = mu.as_secs_f64() / mw.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown-user {mu:?} vs wrong-password {mw:?}: ratio {ratio:.2}"
    );
}

#[actix_web::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let bystander = create_user(&app, "carol").await;
    for i in 0..6 {
        let (s, _) = login_status_body(&app, "bob", &format!("wrong {i}")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Locked: even the right password gets 429 with Retry-After.
    let r = Browser::new(&app).login_json("bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = header(&r, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(session_cookie_set(&r).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts", "{body}");
    // Changing the case of the login does not get around it.
    let r = Browser::new(&app).login_json("BOB", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account from the same address is not locked.
    logged_in(&app, &bystander).await;
    // The lock expires.
    app.clock.advance(retry + 1);
    let mut b = Browser::new(&app);
    b.login(&user).await;
}

/// Username and e-mail name one account, and share one failure counter.
#[actix_web::test]
async fn failures_by_username_and_by_email_count_against_one_account() {
    let app = spawn_app().await;
    let _user = create_user(&app, "dave").await;
    for i in 0..3 {
        let (s, _) = login_status_body(&app, "dave", &format!("wrong {i}")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    for i in 3..6 {
        let (s, _) = login_status_body(&app, "dave@example.com", &format!("wrong {i}")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let r = Browser::new(&app).login_json("dave", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn a_totp_login_needs_the_code_once() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let secret = enable_totp(&app, &user).await;

    let mut b = Browser::new(&app);
    let r = b.login_json("dave", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pending = session_cookie_set(&r).expect("a pending session cookie");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"email": user.email, "applicationId": null, "mode": "mfa"})
    );
    // A pending session authenticates nothing.
    assert_eq!(
        current_session(&app, &pending).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let rp = first_party_rp(&app).await;
    let r = b.get(&AuthRequest::new(&rp, SCOPE).path()).await;
    assert_eq!(redirect(&r, StatusCode::FOUND).base, "/auth/login");

    // A wrong code, then the right one.
    let code = totp_code(&app, &secret, 0);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = b
        .post_json("/auth/login/callback", &json!({"code": wrong}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let full = session_cookie_set(&r).expect("a new session cookie");
    assert_ne!(full, pending);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mode"], "authentication");
    assert_eq!(body["email"], user.email.as_str());
    let s: Value = current_session(&app, &full).await.json().await.unwrap();
    assert_eq!(s["user"]["id"], user.id.to_string());
    // The pending id is dead, even for a second callback.
    let mut old = Browser::with_session(&app, &pending);
    let r = old
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The ID token of a flow records both factors.
    let req = AuthRequest::new(&rp, SCOPE);
    let c = b.code(&app, &req).await;
    let t = tokens(exchange(&app, &rp, &c, Some(&req.verifier)).await).await;
    let claims = crate::helpers::jwt_part(t.id(), 1);
    assert_eq!(claims["amr"], json!(["pwd", "otp"]), "{claims}");

    // A new login with the same code: refused (replay inside its window).
    let mut b2 = Browser::new(&app);
    let r = b2.login_json("dave", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = b2
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie_set(&r).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_code", "{body}");
    // The next step's code works.
    app.clock.advance(30);
    let next = totp_code(&app, &secret, 0);
    let r = b2
        .post_json("/auth/login/callback", &json!({"code": next}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn totp_accepts_one_step_of_skew_but_not_two() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let secret = enable_totp(&app, &user).await;
    // Align to the middle of a step so offsets land exactly a step away
    // (forward: a clock set back would predate the user record).
    let now = app.now();
    app.clock.set(now - now % 30 + 45);

    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json("erin", PASSWORD).await.status(),
        StatusCode::OK
    );
    for offset in [-60, 60, -90] {
        let code = totp_code(&app, &secret, offset);
        let r = b
            .post_json("/auth/login/callback", &json!({"code": code}))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "offset {offset}");
    }
    let code = totp_code(&app, &secret, -30);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "one step back");

    // One step ahead, on a later login (a step not used yet).
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json("erin", PASSWORD).await.status(),
        StatusCode::OK
    );
    let code = totp_code(&app, &secret, 30);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "one step ahead");
    // After a later step was used, the current one is a replay.
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json("erin", PASSWORD).await.status(),
        StatusCode::OK
    );
    let code = totp_code(&app, &secret, 0);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn wrong_totp_codes_are_rate_limited() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let secret = enable_totp(&app, &user).await;
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json("frank", PASSWORD).await.status(),
        StatusCode::OK
    );
    let right = totp_code(&app, &secret, 0);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let mut limited = None;
    for _ in 0..10 {
        let r = b
            .post_json("/auth/login/callback", &json!({"code": wrong}))
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(header(&r, "retry-after").expect("Retry-After"));
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let retry: i64 = limited.expect("limited within 10 tries").parse().unwrap();
    // The right code is refused while locked...
    let r = b
        .post_json("/auth/login/callback", &json!({"code": right}))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...and works when the lock is over (a login again: the pending
    // session may have expired).
    app.clock.advance(retry + 1);
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login_json("frank", PASSWORD).await.status(),
        StatusCode::OK
    );
    let code = totp_code(&app, &secret, 0);
    let r = b
        .post_json("/auth/login/callback", &json!({"code": code}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn login_issues_a_new_session_id_and_kills_the_old_one() {
    let app = spawn_app().await;
    let user = create_user(&app, "grace").await;

    // A value planted before login is never adopted.
    let planted = "tes_s_planted_by_an_attacker_0123456789abcdef";
    let mut b = Browser::with_session(&app, planted);
    b.login(&user).await;
    let first = b.session().unwrap();
    assert_ne!(first, planted);

    // Logging in again from a browser holding a live session: a new id.
    let s1: Value = current_session(&app, &first).await.json().await.unwrap();
    b.login(&user).await;
    let second = b.session().unwrap();
    assert_ne!(second, first);
    let s2: Value = current_session(&app, &second).await.json().await.unwrap();
    assert_ne!(s1["id"], s2["id"]);
    // The pre-login session is dead, by cookie and by id.
    assert_eq!(
        current_session(&app, &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = b
        .get(&format!("/sessions/session/{}", s1["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Same through the form.
    let page = b.get("/auth/login").await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").unwrap();
    let r = b
        .post_form(
            "/auth/login",
            &[("login", "grace"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let third = b.session().unwrap();
    assert_ne!(third, second);
    assert_eq!(
        current_session(&app, &second).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(current_session(&app, &third).await.status(), StatusCode::OK);
}
