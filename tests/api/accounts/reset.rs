//! Password reset by a mailed link: the JSON API and the page the link
//! opens, expiry, newer links voiding older ones, no enumeration; and the
//! rate limits on asking for mail and on presenting codes and links.

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::{
    api_register, app, callback, follow, json_of, login_status, post, refresh_status, NEW_PASSWORD,
    PUBLIC,
};
use crate::flow::{create_user, current_session, introspector, logged_in, Browser, PASSWORD};
use crate::helpers::{assert_api_error, header, TestApp};

async fn ask_reset(app: &TestApp, email: &str) -> Response {
    app.http
        .post(app.url("/api/oauth/reset_password"))
        .header("host", "attacker.example")
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap()
}

fn reset_token(link: &str) -> String {
    link.split("token=")
        .nth(1)
        .expect("token= in the link")
        .to_string()
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> Response {
    post(
        app,
        "/api/oauth/reset_password/confirm",
        json!({"token": token, "password": password}),
    )
    .await
}

// Moved from accounts.rs (was accounts::a_reset_link_sets_a_new_password_and_ends_every_session_and_token).
#[actix_web::test]
async fn a_reset_link_sets_a_new_password_and_ends_every_session_and_token() {
    let (app, sink) = app().await;
    let body = api_register(&app, "forgetful", "forgetful@example.com").await;
    let old_access = body["access_token"].as_str().unwrap().to_string();
    let old_refresh = body["refresh_token"].as_str().unwrap().to_string();
    let user = crate::flow::TestUser {
        id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
        username: "forgetful".into(),
        email: "forgetful@example.com".into(),
        password: PASSWORD.into(),
    };
    let browser = logged_in(&app, &user).await;
    let session = browser.session().unwrap();
    // The verification mail of the registration comes first.
    sink.mail_to("forgetful@example.com").await;

    let r = ask_reset(&app, "forgetful@example.com").await;
    json_of(r, StatusCode::OK).await;
    let m = sink.mail_to("forgetful@example.com").await;
    assert_eq!(m.subject(), "Reset your password");
    let link = m.link("https://");
    assert!(
        link.starts_with(&format!(
            "{PUBLIC}/api/oauth/reset_password/confirm?token=tes_pr_"
        )),
        "built from configuration, not from the Host header: {link}"
    );
    // The link opens the form (spending nothing).
    let page = follow(&app, &link).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        header(&page, "referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let html = page.text().await.unwrap();
    let token = reset_token(&link);
    assert!(html.contains(&token) && html.contains("action=\"/api/oauth/reset_password/confirm\""));

    let r = confirm(&app, &token, "short").await;
    assert_api_error(r, StatusCode::BAD_REQUEST, "invalid_field").await;
    json_of(confirm(&app, &token, NEW_PASSWORD).await, StatusCode::OK).await;

    assert_eq!(
        login_status(&app, "forgetful", PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&app, "forgetful", NEW_PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    let rs = introspector(&app).await;
    app.assert_inactive(&rs, &old_access).await;
    app.assert_inactive(&rs, &old_refresh).await;
    assert_eq!(
        refresh_status(&app, &old_refresh).await,
        StatusCode::BAD_REQUEST
    );
    let notice = sink.mail_to("forgetful@example.com").await;
    assert_eq!(notice.subject(), "Your password was changed");

    // Single use.
    let r = confirm(&app, &token, "yet another password").await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    assert_eq!(
        login_status(&app, "forgetful", NEW_PASSWORD).await,
        StatusCode::OK
    );
}

// Moved from accounts.rs (was accounts::reset_links_expire_and_a_newer_one_voids_the_older).
#[actix_web::test]
async fn reset_links_expire_and_a_newer_one_voids_the_older() {
    let (app, sink) = app().await;
    let user = create_user(&app, "resetter").await;
    json_of(ask_reset(&app, &user.email).await, StatusCode::OK).await;
    let first = reset_token(&sink.mail_to(&user.email).await.link("https://"));
    json_of(ask_reset(&app, &user.email).await, StatusCode::OK).await;
    let second = reset_token(&sink.mail_to(&user.email).await.link("https://"));
    let r = confirm(&app, &first, NEW_PASSWORD).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    app.clock.advance(600);
    let r = confirm(&app, &second, NEW_PASSWORD).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    let r = confirm(&app, "tes_pr_not-a-real-token", NEW_PASSWORD).await;
    assert_api_error(r, StatusCode::NOT_FOUND, "invalid_token").await;
    assert_eq!(
        login_status(&app, &user.username, PASSWORD).await,
        StatusCode::OK,
        "the password is unchanged"
    );
}

// Moved from accounts.rs (was accounts::a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing).
#[actix_web::test]
async fn a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing() {
    let (app, sink) = app().await;
    let user = create_user(&app, "known").await;
    let unknown = ask_reset(&app, "nobody@example.com").await;
    let (us, ub) = (unknown.status(), unknown.text().await.unwrap());
    let known = ask_reset(&app, &user.email).await;
    let (ks, kb) = (known.status(), known.text().await.unwrap());
    assert_eq!(us, StatusCode::OK);
    assert_eq!((us, ub), (ks, kb));
    sink.mail_to(&user.email).await;
    let queued = app
        .engine
        .mailer
        .send(tessera_actors::mailer::ListMail)
        .await
        .unwrap()
        .unwrap();
    assert!(queued.iter().all(|m| m.mail.to != "nobody@example.com"));
    assert!(sink.received_to("nobody@example.com").is_empty());
}

// Moved from accounts.rs (was accounts::the_reset_form_works_from_a_browser).
#[actix_web::test]
async fn the_reset_form_works_from_a_browser() {
    let (app, sink) = app().await;
    let user = create_user(&app, "browseruser").await;
    json_of(ask_reset(&app, &user.email).await, StatusCode::OK).await;
    let token = reset_token(&sink.mail_to(&user.email).await.link("https://"));
    let mut b = Browser::new(&app);
    let r = b
        .post_form(
            "/api/oauth/reset_password/confirm",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The two passwords differ."));
    let r = b
        .post_form(
            "/api/oauth/reset_password/confirm",
            &[
                ("token", token.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Password changed"));
    assert_eq!(
        login_status(&app, &user.username, NEW_PASSWORD).await,
        StatusCode::OK
    );
    let r = b
        .post_form(
            "/api/oauth/reset_password/confirm",
            &[("token", token.as_str()), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

// Moved from accounts.rs (was accounts::mail_requests_are_rate_limited_per_address).
#[actix_web::test]
async fn mail_requests_are_rate_limited_per_address() {
    let (app, _sink) = app().await;
    let mut last = None;
    for _ in 0..5 {
        let r = ask_reset(&app, "victim@example.com").await;
        assert_eq!(r.status(), StatusCode::OK);
        last = Some(r);
    }
    drop(last);
    let r = ask_reset(&app, "victim@example.com").await;
    let retry: i64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!(retry > 0);
    assert_api_error(r, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another address is not held up, and the lock ends.
    let r = ask_reset(&app, "someone-else@example.com").await;
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance(retry);
    let r = ask_reset(&app, "victim@example.com").await;
    assert_eq!(r.status(), StatusCode::OK);
}

// Moved from accounts.rs (was accounts::wrong_codes_and_links_are_rate_limited_per_client).
#[actix_web::test]
async fn wrong_codes_and_links_are_rate_limited_per_client() {
    let (app, _sink) = app().await;
    let mut limited = None;
    for i in 0..40 {
        let r = app
            .http
            .get(app.url(&format!("/api/oauth/valid_email/tes_ve_guess{i}")))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = limited.expect("guessing is limited");
    assert!(header(&r, "retry-after").is_some());
    let r = callback(&app, "x@example.com", "123456").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}
