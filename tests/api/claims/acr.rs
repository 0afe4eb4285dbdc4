//! `acr`: `pwd` for a password, `mfa` with a TOTP code; `acr_values=mfa`
//! or an essential `acr` claim forces the TOTP step, or ends in
//! `unmet_authentication_requirements` at the client.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{flow_tokens, id_claims};
use crate::flow::*;
use crate::helpers::{spawn_app, TestApp};

const UNMET: &str = "unmet_authentication_requirements";
const ESSENTIAL_MFA: &str = r#"{"id_token":{"acr":{"essential":true,"values":["mfa"]}}}"#;

/// The login page `r` sends the browser to; the `return_to` it carries.
fn to_login(r: &reqwest::Response) -> String {
    let loc = redirect(r, StatusCode::FOUND);
    assert_eq!(loc.base, "/auth/login", "{}", loc.raw);
    let back = loc.param("return_to").to_string();
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");
    back
}

/// Password, then the TOTP code (of `offset` seconds from now: a step is
/// used once), as JSON.
async fn login_with_totp_at(
    app: &TestApp,
    b: &mut Browser,
    user: &TestUser,
    secret: &str,
    offset: i64,
) {
    let r = b.login_json(&user.username, &user.password).await;
    let body: Value = r.json().await.expect("login JSON");
    assert_eq!(body["mode"], "mfa", "{body}");
    let r = b
        .post_json(
            "/auth/login/callback",
            &json!({"code": totp_code(app, secret, offset)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the TOTP step");
}

async fn login_with_totp(app: &TestApp, b: &mut Browser, user: &TestUser, secret: &str) {
    login_with_totp_at(app, b, user, secret, 0).await;
}

#[actix_web::test]
async fn discovery_advertises_claims_and_acr_values() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(doc["acr_values_supported"], json!(["pwd", "mfa"]));
    let supported = doc["claims_supported"]
        .as_array()
        .expect("claims_supported");
    for c in [
        "acr",
        "email",
        "name",
        "preferred_username",
        "email_verified",
    ] {
        assert!(supported.iter().any(|s| s == c), "{c} in {supported:?}");
    }
}

#[actix_web::test]
async fn a_password_login_is_acr_pwd_and_a_refresh_keeps_it() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let t = flow_tokens(&app, &rp, &mut b, &AuthRequest::new(&rp, "openid")).await;
    assert_eq!(id_claims(&t)["acr"], "pwd");
    let r = tokens(refresh(&app, &rp, t.refresh(), None).await).await;
    assert_eq!(id_claims(&r)["acr"], "pwd");
    // Asking for pwd, or for an unknown class voluntarily, changes nothing.
    for values in ["pwd", "gold", "gold pwd"] {
        let req = AuthRequest::new(&rp, "openid").set("acr_values", values);
        let t = flow_tokens(&app, &rp, &mut b, &req).await;
        assert_eq!(id_claims(&t)["acr"], "pwd", "{values}");
    }
}

#[actix_web::test]
async fn a_totp_login_is_acr_mfa_and_meets_an_mfa_request_at_once() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let secret = enable_totp(&app, &user).await;
    let rp = first_party_rp(&app).await;
    let mut b = Browser::new(&app);
    login_with_totp(&app, &mut b, &user, &secret).await;
    for req in [
        AuthRequest::new(&rp, "openid").set("acr_values", "mfa"),
        AuthRequest::new(&rp, "openid").set("claims", ESSENTIAL_MFA),
        AuthRequest::new(&rp, "openid").set("acr_values", "pwd"),
    ] {
        let t = flow_tokens(&app, &rp, &mut b, &req).await;
        let id = id_claims(&t);
        assert_eq!(id["acr"], "mfa", "{id}");
        assert!(id["amr"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "otp")));
        let r = tokens(refresh(&app, &rp, t.refresh(), None).await).await;
        assert_eq!(id_claims(&r)["acr"], "mfa");
    }
}

#[actix_web::test]
async fn acr_mfa_on_a_password_session_forces_the_totp_step() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = first_party_rp(&app).await;
    // Logged in with the password alone; TOTP is turned on afterwards.
    let mut b = logged_in(&app, &user).await;
    let secret = enable_totp(&app, &user).await;
    for (round, req) in [
        AuthRequest::new(&rp, "openid").set("acr_values", "mfa"),
        AuthRequest::new(&rp, "openid").set("claims", ESSENTIAL_MFA),
    ]
    .into_iter()
    .enumerate()
    {
        // Without asking for mfa, the password session is enough.
        let t = flow_tokens(&app, &rp, &mut b, &AuthRequest::new(&rp, "openid")).await;
        assert_eq!(id_claims(&t)["acr"], "pwd");

        let r = b.get(&req.path()).await;
        let back = to_login(&r);
        // The login asks for the code; then the request goes on.
        login_with_totp_at(&app, &mut b, &user, &secret, 30 * round as i64).await;
        let r = b.get(&back).await;
        let loc = redirect(&r, StatusCode::FOUND);
        assert!(loc.get("error").is_none(), "{}", loc.raw);
        assert_eq!(loc.get("state"), Some(req.state.as_str()));
        let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
        let id = id_claims(&t);
        assert_eq!(id["acr"], "mfa", "{id}");
        assert!(id["amr"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == "otp")));

        // The next round starts from a password-only session again.
        b = logged_in_pending_totp_off(&app, &user).await;
    }
}

/// A fresh password-only session of a user who has TOTP: made by a
/// login while TOTP is off for a moment.
async fn logged_in_pending_totp_off(app: &TestApp, user: &TestUser) -> Browser {
    use tessera_actors::directory::{UpdateUser, UserPatch};
    let current = app.engine.users.get(&user.id).expect("user");
    let totp = current.totp.clone();
    let patch = |totp| UpdateUser {
        id: user.id,
        patch: UserPatch {
            totp: Some(totp),
            ..Default::default()
        },
    };
    app.engine
        .directory
        .send(patch(None))
        .await
        .expect("mailbox")
        .expect("TOTP off");
    let b = logged_in(app, user).await;
    app.engine
        .directory
        .send(patch(totp))
        .await
        .expect("mailbox")
        .expect("TOTP back");
    b
}

#[actix_web::test]
async fn acr_mfa_with_prompt_none_on_a_password_session_is_unmet() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    enable_totp(&app, &user).await;
    for req in [
        AuthRequest::new(&rp, "openid")
            .set("acr_values", "mfa")
            .set("prompt", "none"),
        AuthRequest::new(&rp, "openid")
            .set("claims", ESSENTIAL_MFA)
            .set("prompt", "none"),
    ] {
        let r = b.get(&req.path()).await;
        let loc = assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            UNMET,
            Some(&req.state),
        );
        assert!(loc.param("error_description").contains("prompt=none"));
    }
}

/// The TOTP set-up page an `mfa` request sends a user without TOTP to;
/// its `return_to` (the request) and decline link.
async fn totp_required_page(b: &mut Browser, r: &reqwest::Response) -> (String, String, String) {
    let loc = redirect(r, StatusCode::FOUND);
    assert_eq!(loc.base, "/account/totp/required", "{}", loc.raw);
    let back = loc.param("return_to").to_string();
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");
    let page = b.get(&loc.raw).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("Two-step verification required"), "{html}");
    assert_eq!(hidden(&html, "return_to").as_deref(), Some(back.as_str()));
    let csrf = hidden(&html, "csrf").expect("csrf");
    let decline = unescape(
        html.split("href=\"")
            .filter_map(|p| p.split('"').next())
            .find(|h| h.contains("mfa_declined=1"))
            .expect("a decline link"),
    );
    (back, csrf, decline)
}

#[actix_web::test]
async fn acr_mfa_for_a_user_without_totp_offers_enrolment_then_the_totp_login() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid").set("acr_values", "mfa");
    let r = b.get(&req.path()).await;
    let (back, csrf, _) = totp_required_page(&mut b, &r).await;
    // Set it up, the request riding along.
    let r = b
        .post_form(
            "/account/totp",
            &[("csrf", csrf.as_str()), ("return_to", back.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(hidden(&html, "return_to").as_deref(), Some(back.as_str()));
    let secret = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the key")
        .to_string();
    let code = totp_code(&app, &secret, 0);
    let r = b
        .post_form(
            "/account/totp/confirm",
            &[
                ("csrf", csrf.as_str()),
                ("code", code.as_str()),
                ("return_to", back.as_str()),
            ],
        )
        .await;
    let loc = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(loc.raw, back, "back to the request");
    assert!(app.engine.users.get(&user.id).unwrap().totp_enabled());
    // The request now asks for a login with the new second step.
    let r = b.get(&back).await;
    let back = to_login(&r);
    login_with_totp_at(&app, &mut b, &user, &secret, 30).await;
    let r = b.get(&back).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert!(loc.get("error").is_none(), "{}", loc.raw);
    let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(id_claims(&t)["acr"], "mfa");
}

#[actix_web::test]
async fn acr_mfa_declined_by_a_user_without_totp_is_unmet() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    for req in [
        AuthRequest::new(&rp, "openid").set("acr_values", "mfa"),
        AuthRequest::new(&rp, "openid").set("claims", ESSENTIAL_MFA),
    ] {
        let r = b.get(&req.path()).await;
        let (_, _, decline) = totp_required_page(&mut b, &r).await;
        let r = b.get(&decline).await;
        let loc = assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            UNMET,
            Some(&req.state),
        );
        assert!(loc.param("error_description").contains("not set up"));
    }
    // The set-up page only ever returns to an authorization request.
    for bad in ["https://evil.example/", "//evil.example/x", "/account?x=1"] {
        let q = crate::flow::encode(&[("return_to", bad)]);
        let r = b.get(&format!("/account/totp/required?{q}")).await;
        let loc = redirect(&r, StatusCode::SEE_OTHER);
        assert_eq!(loc.raw, "/account", "{bad}");
    }
}

#[actix_web::test]
async fn an_essential_acr_the_server_does_not_know_is_unmet() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let secret = enable_totp(&app, &user).await;
    let rp = first_party_rp(&app).await;
    let mut b = Browser::new(&app);
    login_with_totp(&app, &mut b, &user, &secret).await;
    let req = AuthRequest::new(&rp, "openid").set(
        "claims",
        r#"{"id_token":{"acr":{"essential":true,"value":"gold"}}}"#,
    );
    let r = b.get(&req.path()).await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        UNMET,
        Some(&req.state),
    );
    // Voluntary, the same is ignored.
    let req = AuthRequest::new(&rp, "openid")
        .set("claims", r#"{"id_token":{"acr":{"values":["gold"]}}}"#);
    let t = flow_tokens(&app, &rp, &mut b, &req).await;
    assert_eq!(id_claims(&t)["acr"], "mfa");
}

#[actix_web::test]
async fn a_pushed_request_for_mfa_forces_the_totp_step_too() {
    let app = spawn_app().await;
    let user = create_user(&app, "grace").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let secret = enable_totp(&app, &user).await;
    let req = AuthRequest::new(&rp, "openid").set("acr_values", "mfa");
    let uri = crate::par::push(&app, &rp, &req).await;
    let r = b.get(&crate::par::by_uri(rp.id(), &uri)).await;
    let back = to_login(&r);
    login_with_totp(&app, &mut b, &user, &secret).await;
    let loc = redirect(&b.get(&back).await, StatusCode::FOUND);
    assert!(loc.get("error").is_none(), "{}", loc.raw);
    let t = tokens(exchange(&app, &rp, loc.param("code"), Some(&req.verifier)).await).await;
    assert_eq!(id_claims(&t)["acr"], "mfa");
}
