//! `GET /auth/logout` (OIDC RP-Initiated Logout, SECURITY.md "Sessions"):
//! the browser session ends, the redirect goes only to a registered URI of
//! the client the hint names, and forged or foreign hints are refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};

fn logout_path(pairs: &[(&str, &str)]) -> String {
    format!("/auth/logout?{}", encode(pairs))
}

/// A 400 JSON answer with no redirect.
async fn assert_refused(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(header(&r, "location").is_none(), "never a redirect");
    let body: Value = r.json().await.expect("JSON error");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body["message"].is_string(), "{body}");
}

/// A logged-in browser and the ID token of a flow through `rp`.
async fn signed_in(app: &TestApp, rp: &Rp, name: &str) -> (Browser, String) {
    let user = create_user(app, name).await;
    let flow = run_flow(app, rp, &user, SCOPE).await;
    let id = flow.tokens.id().to_string();
    (flow.browser, id)
}

#[actix_web::test]
async fn logout_redirects_to_the_registered_uri_with_state_and_ends_the_session() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let (mut b, id_token) = signed_in(&app, &rp, "alice").await;
    let cookie = b.session().unwrap();
    let r = b
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s p&a=ce"),
            ("ui_locales", "de"),
            ("logout_hint", "whatever"),
        ]))
        .await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert_eq!(loc.base, POST_LOGOUT);
    assert_eq!(
        loc.params,
        vec![("state".to_string(), "s p&a=ce".to_string())]
    );
    let removal = set_cookies(&r)
        .into_iter()
        .find(|(n, _, _)| n == SESSION_COOKIE)
        .expect("the session cookie is removed");
    assert!(
        removal.1.is_empty() || removal.2.contains("max-age=0"),
        "{removal:?}"
    );
    // The old cookie is unauthenticated everywhere.
    assert_eq!(
        current_session(&app, &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut old = Browser::with_session(&app, &cookie);
    let req = AuthRequest::new(&rp, SCOPE);
    assert_eq!(
        redirect(&old.get(&req.path()).await, StatusCode::FOUND).base,
        "/auth/login"
    );
    let req = req.set("prompt", "none");
    let r = old.get(&req.path()).await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        "login_required",
        Some(&req.state),
    );
    // An expired hint is refused (every JWT is checked for expiry with zero
    // leeway); the RP can still name itself with client_id.
    app.clock.advance(7200);
    let r = Browser::new(&app)
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ]))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    let r = Browser::new(&app)
        .get(&logout_path(&[
            ("client_id", rp.id()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ]))
        .await;
    assert_eq!(redirect(&r, StatusCode::FOUND).raw, POST_LOGOUT);
}

#[actix_web::test]
async fn client_id_alone_names_the_client() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let (mut b, _) = signed_in(&app, &rp, "bob").await;
    let cookie = b.session().unwrap();
    let r = b
        .get(&logout_path(&[
            ("client_id", rp.id()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "x"),
        ]))
        .await;
    assert_eq!(
        redirect(&r, StatusCode::FOUND).raw,
        format!("{POST_LOGOUT}?state=x")
    );
    assert_eq!(
        current_session(&app, &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn without_a_redirect_logout_answers_a_message() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let (mut b, _) = signed_in(&app, &rp, "carol").await;
    let cookie = b.session().unwrap();
    let r = b.get("/auth/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "location").is_none());
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(
        current_session(&app, &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Without any session: still fine.
    let r = Browser::new(&app).get("/auth/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_unregistered_post_logout_redirect_uri_is_refused() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let (mut b, id_token) = signed_in(&app, &rp, "dave").await;
    for uri in [
        "https://evil.example/",
        "https://rp.example.com/logged-out/",
        "https://rp.example.com/logged-out?x=1",
        "https://RP.example.com/logged-out",
        "https://rp.example.com@evil.example/logged-out",
        REDIRECT, // a redirect URI is not a post-logout URI
    ] {
        let r = b
            .get(&logout_path(&[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", uri),
                ("state", "s"),
            ]))
            .await;
        assert_refused(r).await;
    }
    // Registered, but nothing names the client.
    let r = b
        .get(&logout_path(&[("post_logout_redirect_uri", POST_LOGOUT)]))
        .await;
    assert_refused(r).await;
    // Registered for another client than the one named.
    let other = rp_with(
        &app,
        json!({"post_logout_redirect_uris": ["https://other.example/bye"]}),
    )
    .await;
    let r = b
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://other.example/bye"),
        ]))
        .await;
    assert_refused(r).await;
    let r = b
        .get(&logout_path(&[
            ("client_id", other.id()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ]))
        .await;
    assert_refused(r).await;
}

#[actix_web::test]
async fn a_forged_or_foreign_id_token_hint_is_refused() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let other = first_party_rp(&app).await;
    let (mut b, id_token) = signed_in(&app, &rp, "erin").await;
    let cookie = b.session().unwrap();

    let parts: Vec<&str> = id_token.split('.').collect();
    // The claims re-encoded with another audience, signature kept.
    let mut claims = crate::helpers::jwt_part(&id_token, 1);
    claims["aud"] = json!(other.id());
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        tessera_actors::secret::b64url(claims.to_string().as_bytes()),
        parts[2]
    );
    // Signed with a key of our own making, with the server's kid.
    let header_json = crate::helpers::jwt_part(&id_token, 0);
    let hs = crate::helpers::sign_raw(
        &json!({"alg": "HS256", "typ": "JWT", "kid": header_json["kid"]}),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"attacker"),
        jsonwebtoken::Algorithm::HS256,
    );
    let none = format!(
        "{}.{}.",
        tessera_actors::secret::b64url(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // An access token is not an ID token.
    let cc = app.cc_client().await;
    let access = app.get_token(&cc).await;
    // Signed by our key but with another issuer.
    let mut wrong_iss = crate::helpers::jwt_part(&id_token, 1);
    wrong_iss["iss"] = json!("https://evil.example");
    let wrong_iss = app.sign_with_server_key(&header_json, &wrong_iss);
    let truncated = &id_token[..id_token.len() - 4];
    for hint in [
        swapped.as_str(),
        &hs,
        &none,
        &access,
        &wrong_iss,
        truncated,
        "not-a-jwt",
        "a.b.c",
    ] {
        let r = b
            .get(&logout_path(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ]))
            .await;
        assert_refused(r).await;
    }
    // A genuine hint of one client with another client's id.
    let r = b
        .get(&logout_path(&[
            ("id_token_hint", &id_token),
            ("client_id", other.id()),
        ]))
        .await;
    assert_refused(r).await;
    // None of that ended the session.
    assert_eq!(
        current_session(&app, &cookie).await.status(),
        StatusCode::OK
    );
}
