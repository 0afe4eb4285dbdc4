//! A client that registered itself runs the whole code flow: the MCP
//! pattern of a loopback public client with PKCE; and the consent page it
//! gets every time.

use reqwest::StatusCode;
use serde_json::json;

use super::*;
use crate::flow::{create_user, exchange, logged_in, refresh, tokens, AuthRequest, Rp};
use crate::helpers::TestClient;

/// Register the loopback client on `port`; the relying party.
async fn loopback_rp(app: &TestApp, port: u16) -> Rp {
    let mut m = loopback_metadata();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    m["redirect_uris"] = json!([redirect]);
    let body = register(app, &m).await;
    Rp {
        client: TestClient {
            id: body["client_id"].as_str().unwrap().to_string(),
            secret: String::new(),
        },
        redirect_uri: redirect,
    }
}

#[actix_web::test]
async fn a_registered_loopback_client_runs_the_code_flow_with_pkce() {
    let app = open_app().await;
    let rp = loopback_rp(&app, 33418).await;
    let user = create_user(&app, "mcp-user").await;
    let mut browser = logged_in(&app, &user).await;
    // The registered port, and (RFC 8252 §7.3) any other loopback port.
    for port in [33418u16, 51999] {
        let mut rp = rp.clone();
        rp.redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let req = AuthRequest::new(&rp, "openid profile offline_access");
        let code = browser.code(&app, &req).await;
        let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
        let claims = crate::helpers::jwt_part(t.id(), 1);
        assert_eq!(claims["aud"], json!(rp.id()));
        let intro = app
            .introspect(&crate::flow::introspector(&app).await, &t.access_token)
            .await;
        assert_eq!(intro["active"], true, "{intro}");
        assert_eq!(intro["client_id"], rp.id());
        // Refresh works too.
        let t2 = tokens(refresh(&app, &rp, t.refresh(), None).await).await;
        assert_ne!(t2.access_token, t.access_token);
    }
}

#[actix_web::test]
async fn pkce_is_required_of_a_registered_public_client() {
    let app = open_app().await;
    let rp = loopback_rp(&app, 33418).await;
    let user = create_user(&app, "mcp-user").await;
    let mut browser = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid")
        .without("code_challenge")
        .without("code_challenge_method");
    let loc = browser.authorize(&app, &req).await;
    assert_eq!(loc.get("error"), Some("invalid_request"), "{}", loc.raw);
}

#[actix_web::test]
async fn a_registered_client_gets_the_consent_page_every_time() {
    let app = open_app().await;
    let rp = loopback_rp(&app, 33418).await;
    let user = create_user(&app, "mcp-user").await;
    let mut browser = logged_in(&app, &user).await;
    for _ in 0..2 {
        let req = AuthRequest::new(&rp, "openid profile");
        let r = browser.get(&req.path()).await;
        assert_eq!(r.status(), StatusCode::OK, "the consent page");
        let html = r.text().await.unwrap();
        assert!(html.contains("Desktop Assistant"), "its name is shown");
        assert!(
            html.contains("registered itself"),
            "and that nobody checked it"
        );
        assert!(
            html.contains(&format!("<code>{}</code>", rp.redirect_uri)),
            "and where the answer goes"
        );
        let r = browser.consent(&html, "allow").await;
        assert!(r.status().is_redirection());
    }
    // So prompt=none can never skip it.
    let req = AuthRequest::new(&rp, "openid profile").set("prompt", "none");
    let loc = browser.authorize(&app, &req).await;
    assert_eq!(loc.get("error"), Some("consent_required"), "{}", loc.raw);
    // An admin-made third-party client, once consented, is not asked again.
    let admin_rp = crate::flow::public_rp(&app).await;
    let req = AuthRequest::new(&admin_rp, "openid");
    let html = browser.get(&req.path()).await.text().await.unwrap();
    assert!(
        !html.contains("registered itself"),
        "an admin's client is vouched for"
    );
    browser.code(&app, &req).await;
    let r = browser
        .get(&AuthRequest::new(&admin_rp, "openid").path())
        .await;
    assert!(r.status().is_redirection(), "remembered consent");
}
