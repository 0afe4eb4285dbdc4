//! The logout pages: a browser is asked first, unless an `id_token_hint`
//! from its own session says who is asking.

use reqwest::StatusCode;

use super::{navigate, urlencode};
use crate::flow::*;
use crate::helpers::{header, spawn_app};

// Moved from pages.rs (was pages::logout_asks_a_browser_first).
#[actix_web::test]
async fn logout_asks_a_browser_first() {
    let app = spawn_app().await;
    let user = create_user(&app, "vic").await;
    let rp = public_rp(&app).await;
    let b = logged_in(&app, &user).await;
    let session = b.session().unwrap();
    let path = format!(
        "/auth/logout?client_id={}&post_logout_redirect_uri={}&state=s%201",
        rp.id(),
        urlencode(POST_LOGOUT)
    );
    let html = navigate(&app, &b, &path).await.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    // Nothing has ended yet.
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::OK
    );
    let mut pairs = hidden_inputs(&html);
    pairs.push(("confirm".into(), "no".into()));
    let mut b = Browser::with_session(&app, &session);
    let r = b.post_form("/auth/logout", &pairs).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::OK
    );
    pairs.pop();
    pairs.push(("confirm".into(), "yes".into()));
    let r = b.post_form("/auth/logout", &pairs).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").unwrap(),
        format!("{POST_LOGOUT}?state=s+1")
    );
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

// Moved from pages.rs (was pages::an_id_token_hint_from_this_session_logs_a_browser_out_at_once).
#[actix_web::test]
async fn an_id_token_hint_from_this_session_logs_a_browser_out_at_once() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let user = create_user(&app, "wes").await;
    let flow = run_flow(&app, &rp, &user, "openid").await;
    let id_token = flow.tokens.id().to_string();
    let session = flow.browser.session().unwrap();
    let path = |hint: &str| {
        format!(
            "/auth/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=s1",
            urlencode(POST_LOGOUT)
        )
    };

    // The same user's other browser session, holding this session's hint:
    // no proof that the request comes from it, so it is asked.
    let other = logged_in(&app, &user).await;
    let other_session = other.session().unwrap();
    let r = navigate(&app, &other, &path(&id_token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Sign out?"));
    assert_eq!(
        current_session(&app, &other_session).await.status(),
        StatusCode::OK
    );

    // The session the hint was issued in: out at once, back to the client.
    let r = navigate(&app, &flow.browser, &path(&id_token)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        header(&r, "location").unwrap(),
        format!("{POST_LOGOUT}?state=s1")
    );
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        current_session(&app, &other_session).await.status(),
        StatusCode::OK
    );
}
