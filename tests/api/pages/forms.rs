//! What every form does with a bad request: a missing or forged CSRF token
//! is `403` and does nothing, a malformed body is a `400` naming the field,
//! and the registration pages answer `403` while registration is disabled.

use reqwest::StatusCode;

use super::{navigate, page};
use crate::flow::*;
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::smtp_sink::spawn_app_with_mail;

// Moved from pages.rs (was pages::forms_without_the_right_csrf_token_are_refused_and_do_nothing).
#[actix_web::test]
async fn forms_without_the_right_csrf_token_are_refused_and_do_nothing() {
    let (app, sink) = spawn_app_with_mail(|_| {}).await;
    let user = create_user(&app, "wes").await;

    // Signed-out forms: the field without the cookie, and a forged field.
    for forged in [false, true] {
        let mut b = Browser::new(&app);
        let html = b.get("/auth/register").await.text().await.unwrap();
        let csrf = if forged {
            "forged".to_string()
        } else {
            b.cookies.remove(CSRF_COOKIE);
            hidden(&html, "csrf").unwrap()
        };
        let r = b
            .post_form(
                "/auth/register",
                &[
                    ("username", "xena"),
                    ("email", "xena@example.com"),
                    ("password", PASSWORD),
                    ("csrf", csrf.as_str()),
                ],
            )
            .await;
        page(r, StatusCode::FORBIDDEN, "register csrf").await;
        assert!(
            app.engine.users.by_login("xena").is_none(),
            "no account made"
        );

        let r = b
            .post_form(
                "/auth/register/code",
                &[
                    ("email", "wes@example.com"),
                    ("code", "123456"),
                    ("csrf", csrf.as_str()),
                ],
            )
            .await;
        assert!(session_cookie_set(&r).is_none(), "nobody signed in");
        page(r, StatusCode::FORBIDDEN, "code csrf").await;

        let r = b
            .post_form(
                "/auth/reset",
                &[("email", user.email.as_str()), ("csrf", csrf.as_str())],
            )
            .await;
        page(r, StatusCode::FORBIDDEN, "reset csrf").await;
    }
    // No reset mail went out (a real request afterwards is the first mail).
    let mut b = Browser::new(&app);
    let html = b.get("/auth/reset").await.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    b.post_form(
        "/auth/reset",
        &[("email", user.email.as_str()), ("csrf", &csrf)],
    )
    .await;
    sink.mail_to(&user.email).await;
    assert_eq!(
        sink.received_to(&user.email).len(),
        1,
        "only the real request mailed"
    );

    // Signed-in forms: another session's token, or none.
    let other = logged_in(&app, &create_user(&app, "yara").await).await;
    let other_html = other_account_page(&app, &other).await;
    let foreign = hidden(&other_html, "csrf").unwrap();
    let mut b = logged_in(&app, &user).await;
    let session = b.session().unwrap();
    for csrf in [foreign.as_str(), ""] {
        let r = b.post_form("/account/totp", &[("csrf", csrf)]).await;
        page(r, StatusCode::FORBIDDEN, "totp begin csrf").await;
        assert!(
            app.engine.users.get(&user.id).unwrap().totp.is_none(),
            "nothing started"
        );
        let r = b
            .post_form(
                "/account/totp/confirm",
                &[("code", "123456"), ("csrf", csrf)],
            )
            .await;
        page(r, StatusCode::FORBIDDEN, "totp confirm csrf").await;
        let r = b
            .post_form("/auth/logout", &[("confirm", "yes"), ("csrf", csrf)])
            .await;
        page(r, StatusCode::FORBIDDEN, "logout csrf").await;
        assert_eq!(
            current_session(&app, &session).await.status(),
            StatusCode::OK,
            "still signed in"
        );
    }
    let r = b.post_form("/account/totp", &[("code", "1")]).await;
    page(r, StatusCode::FORBIDDEN, "no csrf field").await;
}

async fn other_account_page(app: &TestApp, b: &Browser) -> String {
    navigate(app, b, "/account").await.text().await.unwrap()
}

// Moved from pages.rs (was pages::registration_pages_answer_403_when_registration_is_disabled).
#[actix_web::test]
async fn registration_pages_answer_403_when_registration_is_disabled() {
    let app = spawn_app_with(|s| s.accounts.registration_enabled = false).await;
    let mut b = Browser::new(&app);
    for path in ["/auth/register", "/auth/register/code"] {
        let r = b.get(path).await;
        let html = page(r, StatusCode::FORBIDDEN, path).await;
        assert!(html.contains("registration_disabled"));
    }
}

// Moved from pages.rs (was pages::a_malformed_form_is_a_json_400_naming_the_field).
#[actix_web::test]
async fn a_malformed_form_is_a_json_400_naming_the_field() {
    let app = spawn_app().await;
    for (path, body, field) in [
        (
            "/auth/register",
            "email=a%40example.com&password=x",
            "username",
        ),
        ("/auth/register/code", "email=a%40example.com", "code"),
        ("/auth/reset", "csrf=x", "email"),
        ("/account/totp/confirm", "csrf=x", "code"),
        ("/auth/logout", "csrf=x&csrf=y", "repeated"),
    ] {
        let r = app
            .http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        if path.starts_with("/account") {
            // Signed out: to the login page before the body is read.
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
            continue;
        }
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_body", "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{path}: {v}"
        );
    }
}
