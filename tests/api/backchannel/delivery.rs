//! The delivery queue: retried with backoff until the receiver answers,
//! never in the way of the logout itself, dead letters kept, one client's
//! tokens in order.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tessera_actors::logout::DeliveryState;

use super::receiver::{Mode, Receiver};
use super::{app, deliveries, logout, quick, rp_to, session_at, verified};
use crate::flow::create_user;
use crate::helpers::spawn_app_with;

/// Move the server's clock past every backoff and let the queue look.
async fn next_round(app: &crate::helpers::TestApp) {
    app.clock.advance(5);
    app.engine.logouts.do_send(tessera_actors::logout::Tick);
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
}

#[actix_web::test]
async fn a_receiver_that_is_down_gets_its_token_once_it_is_up() {
    let app = app().await;
    let mut r = Receiver::down();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-down").await;
    let (mut browser, sid) = session_at(&app, &user, &[&rp]).await;
    let took = logout(&mut browser).await;
    assert!(took < Duration::from_secs(1), "logout took {took:?}");
    // Attempts fail (connection refused) and are kept for another try.
    let start = Instant::now();
    loop {
        let ds = deliveries(&app).await;
        assert_eq!(ds.len(), 1, "{ds:?}");
        if ds[0].attempts >= 2 {
            assert_eq!(ds[0].state, DeliveryState::Queued);
            assert!(ds[0].last_error.is_some());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{ds:?}");
        next_round(&app).await;
    }
    r.up();
    next_round(&app).await;
    let got = verified(&app, &r, &rp, 1).await;
    assert_eq!(got[0]["sid"], json!(sid));
    super::drained(&app).await;
    assert!(deliveries(&app).await.is_empty());
    // Delivered once: later rounds send nothing more.
    next_round(&app).await;
    next_round(&app).await;
    assert_eq!(r.tokens().len(), 1);
    let metrics = metrics(&app).await;
    assert!(metric(&metrics, "tessera_backchannel_logout_sent_total") >= 1.0);
    assert!(metric(&metrics, "tessera_backchannel_logout_failed_total") >= 2.0);
    assert!(metric(&metrics, "tessera_backchannel_logout_retried_total") >= 2.0);
}

#[actix_web::test]
async fn a_slow_receiver_does_not_delay_the_logout() {
    let app = spawn_app_with(|s| {
        quick(s);
        s.backchannel_logout.timeout_ms = 10_000;
    })
    .await;
    let slow = Receiver::with_mode(Mode::Delay(Duration::from_secs(3)));
    let fast = Receiver::start();
    let a = rp_to(&app, &slow, false).await;
    let b = rp_to(&app, &fast, false).await;
    let user = create_user(&app, "bcl-slow").await;
    let (mut browser, _) = session_at(&app, &user, &[&a, &b]).await;
    let started = Instant::now();
    let took = logout(&mut browser).await;
    assert!(took < Duration::from_secs(1), "logout took {took:?}");
    // The fast client is not held up by the slow one either.
    verified(&app, &fast, &b, 1).await;
    assert!(fast.arrived(0) - started < Duration::from_secs(2));
    verified(&app, &slow, &a, 1).await;
    assert!(slow.arrived(0) - started >= Duration::from_secs(3));
}

#[actix_web::test]
async fn a_receiver_that_never_answers_well_becomes_a_dead_letter() {
    let app = spawn_app_with(|s| {
        quick(s);
        s.backchannel_logout.max_attempts = 3;
    })
    .await;
    let r = Receiver::with_mode(Mode::Status(500));
    let rp = rp_to(&app, &r, false).await;
    let user = create_user(&app, "bcl-dead").await;
    let (mut browser, _) = session_at(&app, &user, &[&rp]).await;
    logout(&mut browser).await;
    let start = Instant::now();
    loop {
        let ds = deliveries(&app).await;
        assert_eq!(ds.len(), 1, "{ds:?}");
        if ds[0].state == DeliveryState::Dead {
            assert_eq!(ds[0].attempts, 3);
            assert!(ds[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("500")));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{ds:?}");
        next_round(&app).await;
    }
    // Never tried again, even once the receiver is fine.
    r.set_mode(Mode::Ok);
    next_round(&app).await;
    next_round(&app).await;
    assert!(r.tokens().is_empty());
    // The metrics are the process's (every test's servers share them):
    // the families are there, the counters moved.
    let metrics = metrics(&app).await;
    metric(&metrics, "tessera_backchannel_logout_dead");
    metric(&metrics, "tessera_backchannel_logout_queued");
    assert!(metric(&metrics, "tessera_backchannel_logout_failed_total") >= 3.0);
}

#[actix_web::test]
async fn one_clients_tokens_arrive_in_the_order_the_sessions_ended() {
    let app = app().await;
    let mut r = Receiver::down();
    let rp = rp_to(&app, &r, true).await;
    let user = create_user(&app, "bcl-order").await;
    let mut sids = Vec::new();
    for _ in 0..4 {
        let (mut browser, sid) = session_at(&app, &user, &[&rp]).await;
        logout(&mut browser).await;
        sids.push(sid);
    }
    // A few failed rounds while down, then up.
    next_round(&app).await;
    next_round(&app).await;
    r.up();
    for _ in 0..20 {
        if r.tokens().len() == 4 {
            break;
        }
        next_round(&app).await;
    }
    let got = verified(&app, &r, &rp, 4).await;
    let order: Vec<String> = got
        .iter()
        .map(|c| c["sid"].as_str().expect("sid").to_string())
        .collect();
    assert_eq!(order, sids);
}

#[actix_web::test]
async fn a_client_that_drops_its_endpoint_is_not_sent_anything() {
    let app = app().await;
    let mut r = Receiver::down();
    let rp = rp_to(&app, &r, false).await;
    let user = create_user(&app, "bcl-dropped").await;
    let (mut browser, _) = session_at(&app, &user, &[&rp]).await;
    logout(&mut browser).await;
    assert_eq!(deliveries(&app).await.len(), 1);
    let gone = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{}", rp.id()),
            None,
        )
        .await;
    assert!(gone.status().is_success());
    r.up();
    next_round(&app).await;
    super::drained(&app).await;
    assert!(deliveries(&app).await.is_empty());
    assert!(r.tokens().is_empty());
}

#[actix_web::test]
async fn discovery_advertises_back_channel_logout() {
    let app = app().await;
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(doc["backchannel_logout_supported"], json!(true));
    assert_eq!(doc["backchannel_logout_session_supported"], json!(true));
}

#[actix_web::test]
async fn the_admin_api_shows_a_clients_back_channel_settings() {
    let app = app().await;
    let r = Receiver::start();
    let rp = rp_to(&app, &r, true).await;
    let got = app
        .admin(
            reqwest::Method::GET,
            &format!("/admin/clients/{}", rp.id()),
            None,
        )
        .await;
    assert_eq!(got.status(), StatusCode::OK);
    let v: serde_json::Value = got.json().await.expect("JSON");
    assert_eq!(v["backchannel_logout_uri"], json!(r.uri()));
    assert_eq!(v["backchannel_logout_session_required"], json!(true));
    // Required sid without an endpoint is refused, naming the field.
    let bad = app
        .admin(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({"backchannel_logout_session_required": true})),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body = bad.text().await.expect("body");
    assert!(
        body.contains("backchannel_logout_session_required"),
        "{body}"
    );
}

async fn metrics(app: &crate::helpers::TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("{name} is not in the metrics"))
}
