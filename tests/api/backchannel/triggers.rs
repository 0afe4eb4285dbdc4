//! Every way a session ends tells the clients that held it, and only
//! those.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_actors::sessions::SweepSessions;

use super::receiver::Receiver;
use super::{app, logout, rp_to, session_at, sign_in_at, stays_quiet, verified};
use crate::flow::{create_user, first_party_rp, logged_in};
use crate::helpers::TestApp;

fn assert_names(c: &Value, user: &crate::flow::TestUser, sid: &str) {
    assert_eq!(c["sub"], json!(user.id.to_string()), "{c}");
    assert_eq!(c["sid"], json!(sid), "{c}");
}

#[actix_web::test]
async fn rp_initiated_logout_reaches_every_client_of_the_session_and_no_other() {
    let app = app().await;
    let (ra, rb, rc) = (Receiver::start(), Receiver::start(), Receiver::start());
    let a = rp_to(&app, &ra, true).await;
    let b = rp_to(&app, &rb, false).await;
    let c = rp_to(&app, &rc, false).await;
    // A client without a back-channel endpoint is simply not told.
    let plain = first_party_rp(&app).await;
    let alice = create_user(&app, "bcl-alice").await;
    let bob = create_user(&app, "bcl-bob").await;
    let (mut browser, sid) = session_at(&app, &alice, &[&a, &b, &plain]).await;
    // Another session, of another user, at client c (and a).
    let (_other, other_sid) = session_at(&app, &bob, &[&c, &a]).await;
    assert_ne!(sid, other_sid);

    logout(&mut browser).await;

    let got_a = verified(&app, &ra, &a, 1).await;
    assert_names(&got_a[0], &alice, &sid);
    let got_b = verified(&app, &rb, &b, 1).await;
    assert_names(&got_b[0], &alice, &sid);
    assert_ne!(got_a[0]["jti"], got_b[0]["jti"]);
    stays_quiet(&rc).await;
    // a got exactly one: nothing about bob's session.
    assert_eq!(ra.tokens().len(), 1);
    super::drained(&app).await;
}

#[actix_web::test]
async fn the_confirmed_logout_page_tells_the_clients_too() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-page").await;
    let (mut browser, sid) = session_at(&app, &user, &[&rp]).await;
    // A browser is asked first; the page posts its answer with a CSRF token.
    let page = super::as_browser(&app, &browser, reqwest::Method::GET, "/auth/logout")
        .await
        .text()
        .await
        .expect("the confirmation page");
    let mut pairs = crate::flow::hidden_inputs(&page);
    pairs.push(("confirm".into(), "yes".into()));
    let done = browser.post_form("/auth/logout", &pairs).await;
    assert_eq!(done.status(), StatusCode::OK);
    let got = verified(&app, &r, &rp, 1).await;
    assert_names(&got[0], &user, &sid);
}

#[actix_web::test]
async fn a_session_deleted_through_the_sessions_api_is_told() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-api").await;
    let (first, sid1) = session_at(&app, &user, &[&rp]).await;
    let (mut second, sid2) = session_at(&app, &user, &[&rp]).await;
    // From the first browser, end the second one by its id (the user's
    // own session list).
    let r2 = second.get("/sessions/session").await;
    let id2 = r2.json::<Value>().await.expect("session JSON")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(id2, sid2, "the ID token's sid is the session's id");
    let del = super::as_browser(
        &app,
        &first,
        Method::DELETE,
        &format!("/sessions/session/{id2}"),
    )
    .await;
    assert_eq!(del.status(), StatusCode::OK);
    let got = verified(&app, &r, &rp, 1).await;
    assert_names(&got[0], &user, &sid2);
    // Then the first ends itself.
    let del = super::as_browser(&app, &first, Method::DELETE, "/sessions/session").await;
    assert_eq!(del.status(), StatusCode::OK);
    let got = verified(&app, &r, &rp, 2).await;
    assert_names(&got[1], &user, &sid1);
}

#[actix_web::test]
async fn disabling_a_user_tells_the_clients_of_every_session() {
    let app = app().await;
    let (ra, rb) = (Receiver::start(), Receiver::start());
    let a = rp_to(&app, &ra, false).await;
    let b = rp_to(&app, &rb, true).await;
    let user = create_user(&app, "bcl-disabled").await;
    let (_one, sid1) = session_at(&app, &user, &[&a]).await;
    let (_two, sid2) = session_at(&app, &user, &[&a, &b]).await;
    let r = app
        .admin(
            Method::PATCH,
            &format!("/admin/users/{}", user.id),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got = verified(&app, &ra, &a, 2).await;
    let mut sids: Vec<String> = got
        .iter()
        .map(|c| c["sid"].as_str().expect("sid").to_string())
        .collect();
    sids.sort();
    let mut want = vec![sid1, sid2.clone()];
    want.sort();
    assert_eq!(sids, want);
    let got = verified(&app, &rb, &b, 1).await;
    assert_names(&got[0], &user, &sid2);
}

#[actix_web::test]
async fn an_admin_ending_a_users_sessions_tells_their_clients() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-admin-ended").await;
    let (_one, sid1) = session_at(&app, &user, &[&rp]).await;
    let (_two, sid2) = session_at(&app, &user, &[&rp]).await;
    let listed = app
        .admin(
            Method::GET,
            &format!("/admin/users/{}/sessions", user.id),
            None,
        )
        .await
        .json::<Value>()
        .await
        .expect("sessions JSON");
    assert!(listed
        .as_array()
        .expect("a list")
        .iter()
        .all(|s| s["clients"] == json!([rp.id()])));
    let ended = app
        .admin(
            Method::DELETE,
            &format!("/admin/users/{}/sessions", user.id),
            None,
        )
        .await;
    assert_eq!(ended.status(), StatusCode::OK);
    let got = verified(&app, &r, &rp, 2).await;
    let mut sids: Vec<String> = got
        .iter()
        .map(|c| c["sid"].as_str().expect("sid").to_string())
        .collect();
    sids.sort();
    let mut want = vec![sid1, sid2];
    want.sort();
    assert_eq!(sids, want);
}

#[actix_web::test]
async fn an_admin_ending_one_session_tells_its_clients() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-admin-one").await;
    let (_one, sid) = session_at(&app, &user, &[&rp]).await;
    let listed = app
        .admin(
            Method::GET,
            &format!("/admin/users/{}/sessions", user.id),
            None,
        )
        .await
        .json::<Value>()
        .await
        .expect("sessions JSON");
    let id = listed[0]["id"].as_str().expect("session id").to_string();
    let ended = app
        .admin(Method::DELETE, &format!("/admin/sessions/{id}"), None)
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let got = verified(&app, &r, &rp, 1).await;
    assert_names(&got[0], &user, &sid);
}

#[actix_web::test]
async fn the_expiry_sweep_tells_the_clients_of_a_session_that_timed_out() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-idle").await;
    let (_browser, sid) = session_at(&app, &user, &[&rp]).await;
    // Nothing while the session lives.
    sweep(&app).await;
    stays_quiet(&r).await;
    // Past the idle timeout (30 minutes by default).
    app.clock.advance(1801);
    assert_eq!(sweep(&app).await, 1);
    let got = verified(&app, &r, &rp, 1).await;
    assert_names(&got[0], &user, &sid);
    // iat is the server's (moved) clock.
    assert!(got[0]["iat"].as_i64().expect("iat") >= app.now() - 5);
}

#[actix_web::test]
async fn a_rotated_session_keeps_the_sid_each_client_was_given() {
    let app = app().await;
    let (ra, rb) = (Receiver::start(), Receiver::start());
    let a = rp_to(&app, &ra, true).await;
    let b = rp_to(&app, &rb, true).await;
    let user = create_user(&app, "bcl-rotate").await;
    let (mut browser, old_sid) = session_at(&app, &user, &[&a]).await;
    let r = browser.get("/sessions/session/refresh").await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_sid = sign_in_at(&app, &mut browser, &b).await["sid"]
        .as_str()
        .expect("sid")
        .to_string();
    assert_ne!(old_sid, new_sid);
    logout(&mut browser).await;
    assert_eq!(verified(&app, &ra, &a, 1).await[0]["sid"], json!(old_sid));
    assert_eq!(verified(&app, &rb, &b, 1).await[0]["sid"], json!(new_sid));
}

#[actix_web::test]
async fn a_session_no_client_was_authorized_in_sends_nothing() {
    let app = app().await;
    let r = Receiver::start();
    let _rp = rp_to(&app, &r, false).await;
    let user = create_user(&app, "bcl-nobody").await;
    let mut browser = logged_in(&app, &user).await;
    logout(&mut browser).await;
    stays_quiet(&r).await;
    assert!(super::deliveries(&app).await.is_empty());
}

async fn sweep(app: &TestApp) -> usize {
    app.engine
        .session_registry
        .send(SweepSessions)
        .await
        .expect("mailbox")
        .expect("sweep")
}
