//! `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): the
//! answer is a page that POSTs itself to the redirect URI; its one script
//! runs by a nonce fresh per page, and its policy lets the form go to the
//! client's origin only.

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::{by_uri, push, tag_attr};
use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};

/// A form post page, taken apart.
#[derive(Debug)]
struct FormPost {
    action: String,
    fields: Vec<(String, String)>,
    nonce: String,
}

impl FormPost {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Assert `r` is a form post page to `redirect_uri`; its parts.
async fn form_post(app: &TestApp, r: Response, redirect_uri: &str) -> FormPost {
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "location").is_none(), "a page, not a redirect");
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "{ct}");
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let csp = header(&r, "content-security-policy").expect("a policy");
    let html = r.text().await.unwrap();

    assert_eq!(html.matches("<form").count(), 1, "{html}");
    assert_eq!(tag_attr(&html, "form", "method").as_deref(), Some("post"));
    let action = tag_attr(&html, "form", "action").expect("a form action");
    assert_eq!(action, redirect_uri);
    assert_eq!(
        html.matches("<script").count(),
        1,
        "one script and no other: {html}"
    );
    let nonce = tag_attr(&html, "script", "nonce").expect("the script's nonce");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(
        tag_attr(&html, "script", "src").is_none(),
        "an inline script"
    );
    // The policy runs that script only, and lets the form go to the client.
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    let script_src: Vec<&&str> = directives
        .iter()
        .filter(|d| d.starts_with("script-src"))
        .collect();
    assert_eq!(
        script_src,
        vec![&format!("script-src 'nonce-{nonce}'").as_str()],
        "{csp}"
    );
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    let origin = crate::flow::Redirect::parse(redirect_uri)
        .base
        .splitn(4, '/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    let form_action = directives
        .iter()
        .find(|d| d.starts_with("form-action"))
        .expect("form-action");
    let sources: Vec<&str> = form_action.split_whitespace().skip(1).collect();
    assert!(sources.contains(&"'self'"), "{csp}");
    assert!(sources.contains(&origin.as_str()), "{origin} in {csp}");
    assert_eq!(sources.len(), 2, "nowhere else: {csp}");
    let fields = hidden_inputs(&html);
    let post = FormPost {
        action,
        fields,
        nonce,
    };
    assert_eq!(post.get("iss"), Some(app.issuer.as_str()), "{post:?}");
    post
}

#[actix_web::test]
async fn a_code_comes_back_in_a_self_posting_form() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;

    let mut nonces = Vec::new();
    for state in [r#""><script>alert(1)</script><p a=""#, "plain & <simple>"] {
        let req = AuthRequest::new(&rp, SCOPE)
            .set("response_mode", "form_post")
            .set("state", state);
        let post = form_post(&app, b.get(&req.path()).await, REDIRECT).await;
        assert_eq!(post.action, REDIRECT);
        assert_eq!(post.get("state"), Some(req.state.as_str()), "{post:?}");
        assert!(post.get("error").is_none(), "{post:?}");
        let code = post.get("code").expect("a code").to_string();
        let names: Vec<&str> = post.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 3, "code, state, iss only: {names:?}");
        let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
        assert_eq!(t.body["scope"], SCOPE);
        nonces.push(post.nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per page");
}

#[actix_web::test]
async fn errors_come_back_in_a_self_posting_form_too() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let mut b = logged_in(&app, &user).await;

    // A bad scope, found before any interaction.
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, "openid admin").set("response_mode", "form_post");
    let post = form_post(&app, b.get(&req.path()).await, REDIRECT).await;
    assert_eq!(post.get("error"), Some("invalid_scope"), "{post:?}");
    assert!(post.get("error_description").is_some());
    assert_eq!(post.get("state"), Some(req.state.as_str()));
    assert!(post.get("code").is_none());

    // The user says no on the consent page (a POST: still a page, not a 303).
    let third = rp_with(
        &app,
        json!({"redirect_uris": ["https://app.example.org/callback?x=1"]}),
    )
    .await;
    let req = AuthRequest::new(&third, SCOPE).set("response_mode", "form_post");
    let r = b.get(&req.path()).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let page = r.text().await.unwrap();
    let post = form_post(
        &app,
        b.consent(&page, "deny").await,
        "https://app.example.org/callback?x=1",
    )
    .await;
    assert_eq!(post.get("error"), Some("access_denied"), "{post:?}");
    assert_eq!(post.get("state"), Some(req.state.as_str()));
    assert!(post.get("code").is_none());

    // And yes on the next try: the code in the form, exchanged.
    let req = AuthRequest::new(&third, SCOPE).set("response_mode", "form_post");
    let page = b.get(&req.path()).await.text().await.unwrap();
    let post = form_post(
        &app,
        b.consent(&page, "allow").await,
        "https://app.example.org/callback?x=1",
    )
    .await;
    let code = post.get("code").expect("a code");
    tokens(exchange(&app, &third, code, Some(&req.verifier)).await).await;
}

#[actix_web::test]
async fn a_pushed_request_may_ask_for_form_post() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE).set("response_mode", "form_post");
    let uri = push(&app, &rp, &req).await;
    let mut b = logged_in(&app, &user).await;
    let post = form_post(&app, b.get(&by_uri(rp.id(), &uri)).await, REDIRECT).await;
    assert_eq!(post.get("state"), Some(req.state.as_str()));
    let code = post.get("code").expect("a code");
    tokens(exchange(&app, &rp, code, Some(&req.verifier)).await).await;
}

#[actix_web::test]
async fn an_unknown_response_mode_is_an_error_redirect() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    for mode in ["fragment", "query.jwt", "form_post.jwt", "jwt", "FORM_POST"] {
        let req = AuthRequest::new(&rp, SCOPE).set("response_mode", mode);
        let r = b.get(&req.path()).await;
        assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            "invalid_request",
            Some(&req.state),
        );
    }
    // response_mode=query is the default, said out loud.
    let req = AuthRequest::new(&rp, SCOPE).set("response_mode", "query");
    b.code(&app, &req).await;
}
