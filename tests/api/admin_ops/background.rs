//! What runs in the background: the mail queue, back-channel logout
//! deliveries, and the cluster's nodes.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    spawn_app, spawn_app_on, spawn_app_with, suite_backend, TestApp, TestBackend,
};

async fn get(app: &TestApp, path: &str) -> Value {
    let r = app.admin(Method::GET, path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[actix_web::test]
async fn the_mail_queue_shows_what_waits_without_its_body() {
    let port = closed_port();
    let app = spawn_app_with(|s| {
        s.mail.smtp_host = Some("127.0.0.1".into());
        s.mail.smtp_port = Some(port);
        s.mail.smtp_tls = "none".into();
    })
    .await;
    assert_eq!(get(&app, "/admin/mail").await, json!([]));
    crate::flow::create_user(&app, "mailed").await;
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password"))
        .json(&json!({"email": "mailed@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = get(&app, "/admin/mail").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let m = &list[0];
    assert_eq!(m["to"], "mailed@example.com");
    assert_eq!(m["subject"], "Reset your password");
    assert_eq!(m["state"], "queued");
    assert!(m.get("text").is_none() && m.get("html").is_none(), "{m}");
    assert!(!m.to_string().contains("token="), "{m}");
}

#[actix_web::test]
async fn logout_deliveries_are_listed() {
    let app = spawn_app().await;
    assert_eq!(get(&app, "/admin/logout-deliveries").await, json!([]));
}

#[actix_web::test]
async fn a_single_node_says_it_is_alone() {
    let app = spawn_app().await;
    let c = get(&app, "/admin/cluster").await;
    assert_eq!(c["clustered"], false);
    assert_eq!(c["serving"], true);
    assert_eq!(c["nodes"], json!([]));
}

#[actix_web::test]
async fn a_cluster_node_lists_itself_with_its_lag() {
    if suite_backend() != TestBackend::Postgres {
        return;
    }
    let app = spawn_app_on(TestBackend::Postgres, |s| {
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
    })
    .await;
    let c = get(&app, "/admin/cluster").await;
    assert_eq!(c["clustered"], true, "{c}");
    assert_eq!(c["node_id"], "node-a");
    assert_eq!(c["revocation"], "eventual");
    let nodes = c["nodes"].as_array().unwrap();
    let me = nodes
        .iter()
        .find(|n| n["node_id"] == "node-a")
        .expect("this node");
    assert!(me["lag_events"].as_i64().is_some_and(|l| l >= 0), "{me}");
    assert!(me["applied_seq"].is_i64());
    // Its audit records carry its node id.
    let r = app.admin(Method::POST, "/admin/keys/rotate", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let recs = super::audit(&app).await;
    assert_eq!(recs[0]["node"], "node-a");
}

#[actix_web::test]
async fn a_dead_letter_is_retried_then_discarded() {
    let port = closed_port();
    let app = spawn_app_with(|s| {
        s.mail.smtp_host = Some("127.0.0.1".into());
        s.mail.smtp_port = Some(port);
        s.mail.smtp_tls = "none".into();
        s.mail.max_attempts = 1;
    })
    .await;
    crate::flow::create_user(&app, "bounced").await;
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password"))
        .json(&json!({"email": "bounced@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The one attempt fails: a dead letter.
    let started = std::time::Instant::now();
    let id = loop {
        let list = get(&app, "/admin/mail").await;
        if let Some(m) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["state"] == "dead")
        {
            assert!(m["last_error"].is_string(), "{m}");
            break m["id"].as_str().unwrap().to_string();
        }
        assert!(started.elapsed().as_secs() < 20, "no dead letter: {list}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // A queued mail or an unknown id is not a dead letter.
    let (r, rec) = super::one_record(&app, || {
        app.admin(
            Method::POST,
            "/admin/mail/00000000-0000-0000-0000-000000000000/retry",
            None,
        )
    })
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(rec["outcome"], "refused");
    assert_eq!(rec["action"], "mail.retry");

    let retry = format!("/admin/mail/{id}/retry");
    let (r, rec) = super::one_record(&app, || app.admin(Method::POST, &retry, None)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    super::assert_api_record(&rec, "mail.retry", Some(&id), "ok");
    // Tried again from the start (and, the server still being down, dead
    // again after its one attempt).
    let started = std::time::Instant::now();
    loop {
        let list = get(&app, "/admin/mail").await;
        let m = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id.as_str())
            .cloned()
            .expect("the mail is still there");
        if m["state"] == "dead" && m["attempts"] == 1 {
            break;
        }
        assert!(started.elapsed().as_secs() < 20, "{m}");
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let discard = format!("/admin/mail/{id}");
    let (r, rec) = super::one_record(&app, || app.admin(Method::DELETE, &discard, None)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    super::assert_api_record(&rec, "mail.discard", Some(&id), "ok");
    assert_eq!(get(&app, "/admin/mail").await, json!([]));
    let r = app
        .admin(Method::DELETE, &format!("/admin/mail/{id}"), None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
