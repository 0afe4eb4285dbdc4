//! Signing in to the console: the admin token, an admin user, refusals,
//! the rate limit, sign-out and the session's limits.

use reqwest::StatusCode;
use tessera_actors::sessions::Session;

use super::*;
use crate::helpers::{header, spawn_app};

/// The audit records (`GET /admin/audit`), newest first.
pub async fn audit(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app.admin(reqwest::Method::GET, "/admin/audit", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("audit JSON");
    v.as_array()
        .cloned()
        .or_else(|| v["records"].as_array().cloned())
        .expect("a list of records")
}

#[actix_web::test]
async fn the_admin_token_opens_a_console_session_with_a_strict_cookie() {
    let app = spawn_app().await;
    let r = try_token(&app, &app.admin_token).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("tessera_console="))
        .expect("a console cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin/console"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    // Plain-HTTP development: no Secure flag (and no __Secure- prefix).
    assert!(
        !set.contains("Secure;") && !set.ends_with("Secure"),
        "{set}"
    );
    let cookie = cookie_pair(&r, CONSOLE_COOKIE).unwrap();
    let c = opened(&app, cookie).await;
    let page = get(&app, "/admin/console", Some(&c.cookie)).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("admin token"), "who is signed in is shown");
    // The console session is a registry session, marked, of no user.
    let secret = c.cookie.split_once('=').unwrap().1;
    let s: std::sync::Arc<Session> = app.engine.sessions.by_cookie(secret).expect("stored");
    assert!(s.user_id.is_nil());
    assert_eq!(s.amr.first().map(String::as_str), Some("console"));
    // It is no ordinary session: the account page does not take it.
    let acct = get(&app, "/account", Some(&format!("tessera_session={secret}"))).await;
    assert_eq!(acct.status(), StatusCode::SEE_OTHER);
    assert!(header(&acct, "location")
        .unwrap()
        .starts_with("/auth/login"));
}

#[actix_web::test]
async fn a_secure_deployment_marks_the_cookie_secure() {
    let app = crate::helpers::spawn_app_with(|s| s.sessions.insecure_cookies = Some(false)).await;
    let (csrf, _, _) = {
        let r = get(&app, "/admin/console/signin", None).await;
        let pair = cookie_pair(&r, "__Secure-tessera_console_csrf").expect("secure csrf cookie");
        let html = r.text().await.unwrap();
        (csrf_in(&html).unwrap(), pair.clone(), pair)
    };
    let r = post(
        &app,
        "/admin/console/signin",
        Some(&format!("__Secure-tessera_console_csrf={csrf}")),
        &[("token", &app.admin_token), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("__Secure-tessera_console="))
        .expect("a secure console cookie");
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/admin/console",
        "Secure",
    ] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
}

#[actix_web::test]
async fn a_wrong_token_is_refused_audited_and_rate_limited() {
    let app = spawn_app().await;
    let r = try_token(&app, "tes_admin_not-the-token").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_pair(&r, CONSOLE_COOKIE).is_none(), "no session");
    assert!(r.text().await.unwrap().contains("not the admin token"));
    assert_eq!(app.engine.sessions.len(), 0);
    let refused: Vec<_> = audit(&app)
        .await
        .into_iter()
        .filter(|a| a["action"] == "console.signin" && a["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["via"], "console");

    // Wrong tokens from one address are limited; then even the right
    // token waits.
    let mut limited = false;
    for _ in 0..12 {
        let r = try_token(&app, "still-wrong").await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(header(&r, "retry-after").is_some());
            limited = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(limited, "wrong tokens are rate-limited");
    let r = try_token(&app, &app.admin_token).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(cookie_pair(&r, CONSOLE_COOKIE).is_none());
    // The lock passes.
    app.clock.advance(3600);
    sign_in(&app).await;
}

#[actix_web::test]
async fn the_sign_in_form_needs_its_token() {
    let app = spawn_app().await;
    let (_, pair, _) = signin_form(&app, None).await;
    for form in [
        vec![("token", app.admin_token.as_str())],
        vec![("token", app.admin_token.as_str()), ("csrf", "forged")],
    ] {
        let r = post(&app, "/admin/console/signin", Some(&pair), &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(cookie_pair(&r, CONSOLE_COOKIE).is_none());
    }
    assert_eq!(app.engine.sessions.len(), 0);
}

#[actix_web::test]
async fn a_signed_out_visitor_is_sent_to_sign_in_and_offered_the_login() {
    let app = spawn_app().await;
    for path in [
        "/admin/console",
        "/admin/console/clients",
        "/admin/console/keys",
    ] {
        let r = get(&app, path, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            header(&r, "location").as_deref(),
            Some("/admin/console/signin")
        );
    }
    let (_, _, html) = signin_form(&app, None).await;
    assert!(html.contains("/auth/login?return_to=%2Fadmin%2Fconsole%2Fsignin"));
}

#[actix_web::test]
async fn an_admin_user_continues_into_the_console() {
    let app = spawn_app().await;
    let (id, session) = logged_in_user(&app, "root").await;
    make_admin(&app, id).await;
    let (_, pair, html) = signin_form(&app, Some(&session)).await;
    assert!(html.contains("Continue as root"), "{html}");
    // The continue form carries the user's session token.
    let at = html
        .find("/admin/console/signin/user")
        .expect("continue form");
    let user_csrf = csrf_in(&html[at..]).unwrap();
    let cookies = format!("{session}; {pair}");
    let bad = post(
        &app,
        "/admin/console/signin/user",
        Some(&cookies),
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    assert!(cookie_pair(&bad, CONSOLE_COOKIE).is_none());
    let r = post(
        &app,
        "/admin/console/signin/user",
        Some(&cookies),
        &[("csrf", &user_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let c = opened(&app, cookie_pair(&r, CONSOLE_COOKIE).unwrap()).await;
    let html = get(&app, "/admin/console", Some(&c.cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("root"));
    let ok: Vec<_> = audit(&app)
        .await
        .into_iter()
        .filter(|a| a["action"] == "console.signin" && a["outcome"] == "ok")
        .collect();
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["actor"], "user:root");

    // Revoking the role closes the console to that session at once.
    app.engine
        .directory
        .send(tessera_actors::directory::SetRoles { id, roles: vec![] })
        .await
        .unwrap()
        .unwrap();
    let r = get(&app, "/admin/console", Some(&c.cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_plain_user_cannot_reach_the_console() {
    let app = spawn_app().await;
    let (_, session) = logged_in_user(&app, "plain").await;
    let (_, pair, html) = signin_form(&app, Some(&session)).await;
    assert!(html.contains("does not hold the admin role"), "{html}");
    assert!(!html.contains("/admin/console/signin/user"));
    // Forging the continue form with the user's own session token.
    let acct = get(&app, "/account", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    let user_csrf = csrf_in(&acct).unwrap();
    let cookies = format!("{session}; {pair}");
    let r = post(
        &app,
        "/admin/console/signin/user",
        Some(&cookies),
        &[("csrf", &user_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(cookie_pair(&r, CONSOLE_COOKIE).is_none());
    let refused = audit(&app)
        .await
        .into_iter()
        .filter(|a| a["action"] == "console.signin" && a["outcome"] == "refused")
        .count();
    assert_eq!(refused, 1);
    // Its session cookie opens no page and no action.
    for path in [
        "/admin/console",
        "/admin/console/clients",
        "/admin/console/users",
    ] {
        let r = get(&app, path, Some(&session)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
    let before = app.jwks_kids().await;
    let r = post(
        &app,
        "/admin/console/keys/rotate",
        Some(&session),
        &[("csrf", &user_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.jwks_kids().await, before);
}

#[actix_web::test]
async fn sign_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    let copied = c.cookie.clone();
    let r = post(
        &app,
        "/admin/console/signout",
        Some(&c.cookie),
        &[("csrf", &c.csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/admin/console/signin")
    );
    let removal = set_cookies(&r)
        .into_iter()
        .find(|s| s.starts_with("tessera_console="))
        .expect("the cookie is cleared");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // The copied cookie no longer works, on this node or any other.
    let r = get(&app, "/admin/console", Some(&copied)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app
        .engine
        .sessions
        .by_cookie(copied.split_once('=').unwrap().1)
        .is_none());
}

#[actix_web::test]
async fn the_console_session_has_an_idle_and_an_absolute_limit() {
    let app = spawn_app().await;
    let c = sign_in(&app).await;
    app.clock.advance(899);
    assert_eq!(
        get(&app, "/admin/console", Some(&c.cookie)).await.status(),
        StatusCode::OK
    );
    // Activity moved the idle limit (it is recorded within a minute).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.clock.advance(600);
    assert_eq!(
        get(&app, "/admin/console", Some(&c.cookie)).await.status(),
        StatusCode::OK
    );
    // Idle past 15 minutes: gone. (The touch is recorded by the clock of
    // its handling: let it land first.)
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.clock.advance(901);
    assert_eq!(
        get(&app, "/admin/console", Some(&c.cookie)).await.status(),
        StatusCode::SEE_OTHER
    );

    // Configured limits: an absolute lifetime ends a busy session.
    let app = crate::helpers::spawn_app_with(|s| {
        s.console.idle_timeout = 600;
        s.console.absolute_lifetime = 1200;
        s.sessions.idle_timeout = 30_000;
    })
    .await;
    let c = sign_in(&app).await;
    for _ in 0..3 {
        app.clock.advance(300);
        assert_eq!(
            get(&app, "/admin/console", Some(&c.cookie)).await.status(),
            StatusCode::OK
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.clock.advance(301);
    assert_eq!(
        get(&app, "/admin/console", Some(&c.cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// A console session's secret signs nobody in to the other pages, even
/// when it arrives in the login session's cookie: the same registry keeps
/// both, the console mark keeps them apart.
#[actix_web::test]
async fn a_console_secret_is_no_login_session() {
    let app = spawn_app().await;
    let (id, session) = logged_in_user(&app, "root").await;
    make_admin(&app, id).await;
    let (_, pair, html) = signin_form(&app, Some(&session)).await;
    let at = html
        .find("/admin/console/signin/user")
        .expect("continue form");
    let user_csrf = csrf_in(&html[at..]).unwrap();
    let r = post(
        &app,
        "/admin/console/signin/user",
        Some(&format!("{session}; {pair}")),
        &[("csrf", &user_csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let console = cookie_pair(&r, CONSOLE_COOKIE).unwrap();
    let secret = console.split_once('=').unwrap().1;
    let as_login = format!("tessera_session={secret}");
    // The user's own login session reaches the session API; the console
    // secret in its place does not.
    let own = get(&app, "/sessions", Some(&session)).await;
    assert_eq!(own.status(), StatusCode::OK);
    let r = get(&app, "/sessions", Some(&as_login)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get(&app, "/account", Some(&as_login)).await;
    assert_ne!(r.status(), StatusCode::OK);
    // The console itself still takes it.
    let r = get(&app, "/admin/console", Some(&console)).await;
    assert_eq!(r.status(), StatusCode::OK);
}
