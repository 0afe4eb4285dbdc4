//! A pushed request's life (RFC 9126 §4, §7): it waits a minute for a
//! browser, the first browser that brings it owns it for the login
//! window, only the client that pushed it may use it, and it is gone once
//! its answer went to the client.

use reqwest::StatusCode;
use serde_json::Value;

use super::{by_uri, code_at, error_page, par_call, push, URN};
use crate::flow::*;
use crate::helpers::{header, spawn_app, spawn_app_with};

#[actix_web::test]
async fn a_request_uri_is_refused_once_expired() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;

    // Within its minute it works.
    let req = AuthRequest::new(&rp, SCOPE);
    let fresh = push(&app, &rp, &req).await;
    app.clock.advance(59);
    code_at(&app, &mut b, &by_uri(rp.id(), &fresh), REDIRECT).await;

    let req = AuthRequest::new(&rp, SCOPE);
    let stale = push(&app, &rp, &req).await;
    app.clock.advance(61);
    error_page(b.get(&by_uri(rp.id(), &stale)).await, "invalid_request_uri").await;
}

#[actix_web::test]
async fn the_first_browser_to_open_a_request_uri_owns_it() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let mallory = create_user(&app, "mallory").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let request_uri = push(&app, &rp, &req).await;
    let path = by_uri(rp.id(), &request_uri);

    // Alice's browser opens it (and goes to the login page).
    let mut a = Browser::new(&app);
    let login = redirect(&a.get(&path).await, StatusCode::FOUND);
    assert_eq!(login.base, "/auth/login");

    // Another browser, logged in, no binding cookie: refused.
    let mut m = logged_in(&app, &mallory).await;
    let page = error_page(m.get(&path).await, "invalid_request_uri").await;
    assert!(page.contains("another browser"), "{page}");
    // Another browser with a binding cookie of its own: refused too.
    m.cookies.insert("tessera_authz".into(), "x".repeat(43));
    error_page(m.get(&path).await, "invalid_request_uri").await;

    // Alice logs in and gets her code.
    a.login(&alice).await;
    let cb = code_at(&app, &mut a, login.param("return_to"), REDIRECT).await;
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    let t = tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    let id = crate::helpers::jwt_part(t.id(), 1);
    assert_eq!(id["sub"], alice.id.to_string());
}

#[actix_web::test]
async fn a_request_uri_is_only_good_with_the_client_that_pushed_it() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let a = first_party_rp(&app).await;
    let b_rp = first_party_rp(&app).await;
    let request_uri = push(&app, &a, &AuthRequest::new(&a, SCOPE)).await;
    let mut b = logged_in(&app, &user).await;
    error_page(
        b.get(&by_uri(b_rp.id(), &request_uri)).await,
        "invalid_request_uri",
    )
    .await;
}

#[actix_web::test]
async fn made_up_request_uris_are_refused() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let made_up = [
        format!("{URN}tes_ru_{}", "A".repeat(43)),
        format!("{URN}{}", "A".repeat(43)),
        URN.to_string(),
        "urn:example:request".to_string(),
        "https://rp.example.com/request.jwt".to_string(),
    ];
    for uri in made_up {
        error_page(b.get(&by_uri(rp.id(), &uri)).await, "invalid_request_uri").await;
    }
}

#[actix_web::test]
async fn an_error_sent_to_the_client_uses_the_request_up() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&app, &rp, &req).await;
    let mut b = logged_in(&app, &user).await;
    let r = b.get(&by_uri(rp.id(), &uri)).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let page = r.text().await.unwrap();
    let r = b.consent(&page, "deny").await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::SEE_OTHER,
        REDIRECT,
        "access_denied",
        Some(&req.state),
    );
    error_page(b.get(&by_uri(rp.id(), &uri)).await, "invalid_request_uri").await;
    // The consent form posted again (a second tab) gets nothing either.
    let r = b.consent(&page, "allow").await;
    assert!(
        header(&r, "location").is_none_or(|l| !l.contains("code=")),
        "no code for a used request"
    );
}

/// `auth_after` is the server's own mark on the way back from the login
/// page; a browser adding it must not undo a pushed `prompt=login` or
/// `max_age` (RFC 9126 §4: the pushed parameters are the request).
#[actix_web::test]
async fn a_browser_cannot_skip_the_login_a_pushed_request_asks_for() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    app.clock.advance(120);
    let mut skipped = Vec::new();
    for (k, v) in [("prompt", "login"), ("max_age", "60")] {
        let req = AuthRequest::new(&rp, SCOPE).set(k, v);
        let uri = push(&app, &rp, &req).await;
        // Without the forged mark: to the login page, as pushed.
        let mut fresh = Browser::new(&app);
        fresh.cookies = b.cookies.clone();
        let honest = AuthRequest::new(&rp, SCOPE).set(k, v);
        let honest_uri = push(&app, &rp, &honest).await;
        let r = fresh.get(&by_uri(rp.id(), &honest_uri)).await;
        assert_eq!(
            redirect(&r, StatusCode::FOUND).base,
            "/auth/login",
            "{k}={v}"
        );
        // With it.
        let path = format!(
            "{}&{}",
            by_uri(rp.id(), &uri),
            encode(&[("auth_after", "0")])
        );
        let loc = redirect(&b.get(&path).await, StatusCode::FOUND);
        if loc.base != "/auth/login" {
            skipped.push(format!("{k}={v}: {}", loc.raw));
        }
    }
    assert!(
        skipped.is_empty(),
        "pushed login requirements skipped with auth_after=0: {skipped:#?}"
    );
}

#[actix_web::test]
async fn an_opened_request_lives_through_a_long_login_but_not_forever() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;

    // Opened, then a login that takes ten minutes: still good.
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&app, &rp, &req).await;
    let mut b = Browser::new(&app);
    let login = redirect(&b.get(&by_uri(rp.id(), &uri)).await, StatusCode::FOUND);
    app.clock.advance(600);
    b.login(&user).await;
    let cb = code_at(&app, &mut b, login.param("return_to"), REDIRECT).await;
    assert_eq!(cb.get("state"), Some(req.state.as_str()));

    // Opened, then left past the login window (30 minutes).
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&app, &rp, &req).await;
    let mut b = Browser::new(&app);
    let login = redirect(&b.get(&by_uri(rp.id(), &uri)).await, StatusCode::FOUND);
    app.clock.advance(1801);
    b.login(&user).await;
    error_page(b.get(login.param("return_to")).await, "invalid_request_uri").await;
}

#[actix_web::test]
async fn the_lifetime_of_a_pushed_request_is_configured() {
    let app = spawn_app_with(|s| s.par.lifetime = 10).await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let r = par_call(&app, &rp, &AuthRequest::new(&rp, SCOPE).pairs).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 10, "{body}");
    let uri = body["request_uri"].as_str().unwrap();
    app.clock.advance(11);
    let mut b = logged_in(&app, &user).await;
    error_page(b.get(&by_uri(rp.id(), uri)).await, "invalid_request_uri").await;
}

#[actix_web::test]
async fn two_tabs_finishing_one_pushed_request_get_one_code() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&app, &rp, &req).await;
    let mut b = logged_in(&app, &user).await;
    let r = b.get(&by_uri(rp.id(), &uri)).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let page = r.text().await.unwrap();
    // The same browser (same cookies) submits the consent from two tabs.
    let mut tab = Browser::new(&app);
    tab.cookies = b.cookies.clone();
    let (x, y) = tokio::join!(b.consent(&page, "allow"), tab.consent(&page, "allow"));
    let codes: Vec<String> = [x, y]
        .iter()
        .filter_map(|r| header(r, "location"))
        .filter_map(|l| Redirect::parse(&l).get("code").map(str::to_string))
        .collect();
    assert_eq!(codes.len(), 1, "one code: {codes:?}");
}
