//! Pushed authorization requests in a cluster: the client pushes to one
//! node, the browser may land on another. Node a runs in this process (the
//! browser flow's helpers drive it), node b is a `tessera serve` process;
//! both over one database.

use reqwest::StatusCode;

use super::{eventually, Node, MAX_LAG_MS, NODE_TIMEOUT_MS, POLL_MS};
use crate::flow::*;
use crate::helpers::{http_client, spawn_app_on, TestApp};
use crate::par::{by_uri, by_value, claims_for, push, RequestKey};
use crate::testdb::{TestBackend, TestDb};

/// Node a in this process and node b as a process, on `db`.
async fn two(db: &TestDb) -> (TestApp, Node) {
    let url = db.url.clone();
    let ms = |v: &str| v.parse::<u64>().unwrap();
    let a = spawn_app_on(TestBackend::Postgres, move |s| {
        s.store.database_url = Some(url);
        s.issuer = Some("http://tessera.test".into());
        s.cluster.enabled = true;
        s.cluster.node_id = Some("node-a".into());
        s.cluster.poll_interval_ms = ms(POLL_MS);
        s.cluster.max_lag_ms = ms(MAX_LAG_MS);
        s.cluster.node_timeout_ms = ms(NODE_TIMEOUT_MS);
    })
    .await;
    let b = Node::start(db, "node-b", "eventual");
    b.wait_ready().await;
    (a, b)
}

/// Wait until node b knows the public client `rp`.
async fn known_on(node: &Node, rp: &Rp) {
    eventually("node b knows the client", || async {
        let r = http_client()
            .post(node.url("/oauth2/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", rp.id()),
            ])
            .send()
            .await;
        match r {
            Ok(r) => {
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                body["error"] != "invalid_client"
            }
            Err(_) => false,
        }
    })
    .await;
}

/// A browser logged in on node a whose session node b accepts too.
async fn logged_in_on_both(a: &TestApp, b: &Node, user: &TestUser) -> Browser {
    let browser = logged_in(a, user).await;
    let session = browser.session().expect("a session");
    eventually("node b knows the session", || async {
        http_client()
            .get(b.url("/sessions/session"))
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    browser
}

#[actix_web::test]
async fn pushed_on_one_node_authorized_on_another() {
    let db = TestDb::create();
    let (a, b) = two(&db).await;
    let user = create_user(&a, "alice").await;
    let rp = first_party_rp(&a).await;
    known_on(&b, &rp).await;
    let mut browser = logged_in_on_both(&a, &b, &user).await;

    let req = AuthRequest::new(&rp, "openid read");
    let uri = push(&a, &rp, &req).await;
    let r = browser.get(&b.url(&by_uri(rp.id(), &uri))).await;
    let cb = redirect(&r, StatusCode::FOUND);
    assert_eq!(cb.base, REDIRECT, "{}: {}", cb.raw, b.log());
    assert_eq!(
        cb.get("state"),
        Some(req.state.as_str()),
        "the pushed state"
    );
    let t = tokens(exchange(&a, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read");

    // Used up for every node.
    for path in [a.url(&by_uri(rp.id(), &uri)), b.url(&by_uri(rp.id(), &uri))] {
        assert_error_page(browser.get(&path).await, "invalid_request_uri").await;
    }
}

#[actix_web::test]
async fn a_request_opened_on_one_node_is_refused_to_another_browser_on_another_node() {
    let db = TestDb::create();
    let (a, b) = two(&db).await;
    let alice = create_user(&a, "alice").await;
    let mallory = create_user(&a, "mallory").await;
    let rp = first_party_rp(&a).await;
    known_on(&b, &rp).await;

    // Opened on b by alice's browser (not logged in yet).
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&a, &rp, &req).await;
    let mut first = Browser::new(&a);
    let login = redirect(
        &first.get(&b.url(&by_uri(rp.id(), &uri))).await,
        StatusCode::FOUND,
    );
    assert_eq!(login.base, "/auth/login", "{}", b.log());
    // Another browser, logged in, on a: refused.
    let mut other = logged_in_on_both(&a, &b, &mallory).await;
    let page = assert_error_page(
        other.get(&a.url(&by_uri(rp.id(), &uri))).await,
        "invalid_request_uri",
    )
    .await;
    assert!(page.contains("another browser"), "{page}");
    // The owner logs in (on a) and finishes on a.
    first.login(&alice).await;
    let r = first.get(&a.url(login.param("return_to"))).await;
    let cb = redirect(&r, StatusCode::FOUND);
    assert_eq!(cb.get("state"), Some(req.state.as_str()), "{}", cb.raw);
    tokens(exchange(&a, &rp, cb.param("code"), Some(&req.verifier)).await).await;

    // The other way round: opened on a, another browser on b.
    let req = AuthRequest::new(&rp, SCOPE);
    let uri = push(&a, &rp, &req).await;
    let mut owner = Browser::new(&a);
    let r = owner.get(&by_uri(rp.id(), &uri)).await;
    assert_eq!(redirect(&r, StatusCode::FOUND).base, "/auth/login");
    assert_error_page(
        other.get(&b.url(&by_uri(rp.id(), &uri))).await,
        "invalid_request_uri",
    )
    .await;
}

#[actix_web::test]
async fn a_request_object_brought_to_one_node_finishes_on_another() {
    let db = TestDb::create();
    let (a, b) = two(&db).await;
    let user = create_user(&a, "alice").await;
    let key = RequestKey::es256();
    let rp = rp_with(
        &a,
        serde_json::json!({"first_party": true, "jwks": key.jwks()}),
    )
    .await;
    known_on(&b, &rp).await;

    // The object at b, not logged in: to b's login page with a handle.
    let req = AuthRequest::new(&rp, "openid read");
    let jwt = key.sign(&claims_for(&a, &rp, &req));
    let mut browser = Browser::new(&a);
    let login = redirect(
        &browser.get(&b.url(&by_value(rp.id(), &jwt, &[]))).await,
        StatusCode::FOUND,
    );
    assert_eq!(login.base, "/auth/login", "{}: {}", login.raw, b.log());
    // Logged in on a, back on a: the code of the signed request.
    browser.login(&user).await;
    let r = browser.get(&a.url(login.param("return_to"))).await;
    let cb = redirect(&r, StatusCode::FOUND);
    assert_eq!(cb.base, REDIRECT, "{}", cb.raw);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    let t = tokens(exchange(&a, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], "openid read");
    // The object was used on b: refused on a.
    assert_error_page(
        browser.get(&a.url(&by_value(rp.id(), &jwt, &[]))).await,
        "invalid_request_object",
    )
    .await;
}
