//! Concurrency: a revocation races introspections, and parallel issuance.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Once the revocation's `200` has arrived, no introspection that started
/// after that instant may answer `active:true`. Zero exceptions.
#[actix_web::test]
async fn no_introspection_started_after_the_revocation_answers_active() {
    let app = spawn_app_with(|s| s.workers = Some(4)).await;
    let c = app.cc_client().await;
    let rs = app
        .create_client(json!({"grant_types": [], "introspect_any": true}))
        .await;
    for round in 0..3 {
        let token = app.get_token(&c).await;
        // (start instant, active?) of every introspection.
        let results: Rc<RefCell<Vec<(Instant, bool)>>> = Rc::default();
        let revoked_at: Rc<RefCell<Option<Instant>>> = Rc::default();
        let mut tasks = Vec::new();
        for i in 0..32 {
            let http = app.http.clone();
            let url = app.url("/oauth2/token/introspect");
            let caller = if i % 2 == 0 { c.clone() } else { rs.clone() };
            let token = token.clone();
            let results = results.clone();
            let revoked_at = revoked_at.clone();
            tasks.push(actix_web::rt::spawn(async move {
                // Keep going until well after the revocation landed.
                let mut after = 0;
                while after < 20 {
                    let started = Instant::now();
                    let r = http
                        .post(&url)
                        .basic_auth(&caller.id, Some(&caller.secret))
                        .form(&[("token", &token)])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    let body = r.text().await.unwrap();
                    let active = body != INACTIVE;
                    if active {
                        assert!(body.contains(r#""active":true"#), "{body}");
                    }
                    results.borrow_mut().push((started, active));
                    if revoked_at.borrow().is_some() {
                        after += 1;
                    }
                }
            }));
        }
        // Let the introspections get going, then revoke.
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(app.revoke(&c, &token).await, StatusCode::OK);
        let at = Instant::now();
        *revoked_at.borrow_mut() = Some(at);
        for t in tasks {
            t.await.unwrap();
        }
        let results = results.borrow();
        let late: Vec<_> = results.iter().filter(|(s, _)| *s > at).collect();
        assert!(
            late.len() >= 32 * 20 - 32,
            "round {round}: enough introspections after the revocation"
        );
        let bad = late.iter().filter(|(_, active)| *active).count();
        assert_eq!(
            bad, 0,
            "round {round}: {bad} introspections started after the 200 answered active"
        );
        assert!(
            results.iter().any(|(s, active)| *s < at && *active),
            "round {round}: the race was real (some introspections saw it active before)"
        );
    }
}

#[actix_web::test]
async fn parallel_client_credentials_requests_all_succeed_with_distinct_tokens() {
    let app = spawn_app_with(|s| s.workers = Some(4)).await;
    let c = app.cc_client().await;
    let opaque = app
        .create_client(json!({"access_token_format": "opaque"}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let http = app.http.clone();
        let url = app.url("/oauth2/token");
        let client = if i % 4 == 0 {
            opaque.clone()
        } else {
            c.clone()
        };
        tasks.push(actix_web::rt::spawn(async move {
            let r = http
                .post(&url)
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: serde_json::Value = r.json().await.unwrap();
            (client, v["access_token"].as_str().unwrap().to_string())
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    let distinct: HashSet<&String> = tokens.iter().map(|(_, t)| t).collect();
    assert_eq!(distinct.len(), 64, "every token is distinct");
    let jtis: HashSet<String> = tokens
        .iter()
        .filter(|(_, t)| t.contains('.'))
        .map(|(_, t)| jwt_part(t, 1)["jti"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(jtis.len(), 48, "every jti is distinct");
    for (client, t) in &tokens {
        app.assert_active(client, t).await;
    }
}

#[actix_web::test]
async fn parallel_client_creation_with_one_id_has_exactly_one_winner() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let http = app.http.clone();
        let url = app.url("/admin/clients");
        let token = app.admin_token.clone();
        tasks.push(actix_web::rt::spawn(async move {
            http.post(&url)
                .bearer_auth(token)
                .json(&json!({"client_id": "contested"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
}
