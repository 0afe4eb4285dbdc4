//! The authorization code flow end to end with a cookie-holding browser
//! (SPEC §1-§3): login redirect, the HTML login form with its CSRF cookie,
//! the consent page, the callback, the token exchange with PKCE, the ID
//! token checked against the JWKS, userinfo, refresh rotation and reuse,
//! RP-initiated logout; consent skipping, memory, forcing and denial.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, spawn_app, INACTIVE};

/// `at_hash` (OIDC Core §3.1.3.6) for RS256: left half of SHA-256, base64url.
fn at_hash(access_token: &str) -> String {
    let h = tessera_actors::secret::sha256(access_token.as_bytes());
    tessera_actors::secret::b64url(&h[..16])
}

/// Verify an ID token against the published JWKS the way an RP would.
async fn verify_id_token(app: &crate::helpers::TestApp, token: &str, client_id: &str) -> Value {
    let jwks = app.jwks().await;
    let header = jsonwebtoken::decode_header(token).expect("ID token header");
    assert_eq!(header.typ.as_deref(), Some("JWT"), "ID tokens are typ JWT");
    let kid = header.kid.expect("kid");
    let jwk = crate::helpers::jwk(&jwks, &kid);
    let alg: jsonwebtoken::Algorithm = jwk["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[app.issuer.as_str()]);
    v.set_audience(&[client_id]);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &crate::helpers::decoding_key(jwk), &v)
        .expect("the ID token verifies against the JWKS")
        .claims
}

#[actix_web::test]
async fn the_whole_browser_flow_from_authorize_to_logout() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = public_rp(&app).await;
    let rs = introspector(&app).await;
    let mut browser = Browser::new(&app);
    let req = AuthRequest::new(&rp, SCOPE);

    // 1. No session: to the login page, carrying the request in return_to.
    let r = browser.get(&req.path()).await;
    let login = redirect(&r, StatusCode::FOUND);
    assert_eq!(login.base, "/auth/login");
    assert!(session_cookie_set(&r).is_none());
    let return_to = login.param("return_to").to_string();
    assert!(return_to.starts_with("/oauth2/authorize?"), "{return_to}");
    assert!(return_to.contains(&encode(&[("state", &req.state)])));

    // 2. The login page: a CSRF cookie and the same value in a hidden field.
    let r = browser.get(&login.raw).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    let csrf_cookie = set_cookies(&r)
        .into_iter()
        .find(|(n, _, _)| n == CSRF_COOKIE)
        .expect("the login page sets the CSRF cookie");
    assert!(csrf_cookie.2.contains("httponly"), "{csrf_cookie:?}");
    let page = r.text().await.unwrap();
    assert_eq!(
        hidden(&page, "csrf").as_deref(),
        Some(csrf_cookie.1.as_str())
    );
    assert_eq!(
        hidden(&page, "return_to").as_deref(),
        Some(return_to.as_str())
    );

    // 3. The form post: 303 back to return_to, and a session cookie.
    let mut form = hidden_inputs(&page);
    form.push(("login".into(), user.email.clone()));
    form.push(("password".into(), user.password.clone()));
    let r = browser.post_form("/auth/login", &form).await;
    let back = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(back.raw, return_to);
    let (_, session, attrs) = set_cookies(&r)
        .into_iter()
        .find(|(n, _, _)| n == SESSION_COOKIE)
        .expect("a session cookie");
    assert!(attrs.contains("httponly"), "{attrs}");
    assert!(attrs.contains("samesite=lax"), "{attrs}");
    assert!(attrs.contains("path=/"), "{attrs}");
    assert!(!attrs.contains("secure"), "plain-HTTP dev cookie: {attrs}");

    // 4. Back at authorize: the consent page of a third-party client.
    let r = browser.get(&back.raw).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-type")
        .unwrap_or_default()
        .starts_with("text/html"));
    let consent = r.text().await.unwrap();
    assert!(hidden(&consent, "csrf").is_some_and(|c| !c.is_empty()));
    assert_eq!(
        hidden(&consent, "state").as_deref(),
        Some(req.state.as_str())
    );

    // 5. Allow: 303 to the redirect URI with code, state byte for byte, iss.
    let r = browser.consent(&consent, "allow").await;
    let cb = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    assert_eq!(cb.get("iss"), Some(app.issuer.as_str()));
    let code = cb.param("code").to_string();

    // 6. The exchange with the S256 verifier.
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    assert_eq!(t.body["scope"], SCOPE);
    let rt = t.refresh().to_string();

    // 7. The ID token: signature by the JWKS, iss, aud, nonce, at_hash, sid, auth_time.
    let session_json: Value = current_session(&app, &session).await.json().await.unwrap();
    let claims = verify_id_token(&app, t.id(), rp.id()).await;
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["nonce"], req.nonce.as_str());
    assert_eq!(claims["at_hash"], at_hash(&t.access_token));
    assert_eq!(claims["sid"], session_json["id"], "{session_json}");
    assert_eq!(claims["auth_time"], json!(app.now()));
    assert_eq!(claims["azp"], rp.id());
    assert_eq!(claims["email"], user.email.as_str());
    assert_eq!(claims["preferred_username"], user.username.as_str());

    // 8. userinfo.
    let r = userinfo(&app, &t.access_token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], user.id.to_string());
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["name"], "alice Example");
    assert_eq!(info["email"], user.email.as_str());
    assert_eq!(info["email_verified"], true);

    // 9. Refresh: a public client's token rotates.
    let t2 = tokens(refresh(&app, &rp, &rt, None).await).await;
    let rt2 = t2.refresh().to_string();
    assert_ne!(rt2, rt);
    assert_ne!(t2.access_token, t.access_token);
    let c2 = verify_id_token(&app, t2.id(), rp.id()).await;
    assert_eq!(c2["sub"], user.id.to_string());
    assert_eq!(c2["at_hash"], at_hash(&t2.access_token));
    app.assert_active(&rs, &rt2).await;
    app.assert_active(&rs, &t2.access_token).await;

    // 10. The rotated token again: invalid_grant, and the family is dead.
    let r = refresh(&app, &rp, &rt, None).await;
    crate::helpers::assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    for tok in [&rt, &rt2, &t.access_token, &t2.access_token] {
        assert_eq!(app.introspect_raw(&rs, tok).await, INACTIVE);
    }
    let r = refresh(&app, &rp, &rt2, None).await;
    crate::helpers::assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, &t2.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // 11. RP-initiated logout: back to the registered URI with state.
    let path = format!(
        "/auth/logout?{}",
        encode(&[
            ("id_token_hint", t.id()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s"),
        ])
    );
    let r = browser.get(&path).await;
    let out = redirect(&r, StatusCode::FOUND);
    assert_eq!(out.raw, format!("{POST_LOGOUT}?state=s"));
    assert!(browser.session().is_none(), "the cookie is removed");

    // 12. The old cookie no longer authenticates anywhere.
    assert_eq!(
        current_session(&app, &session).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut old = Browser::with_session(&app, &session);
    let r = old.get(&AuthRequest::new(&rp, SCOPE).path()).await;
    assert_eq!(redirect(&r, StatusCode::FOUND).base, "/auth/login");
}

#[actix_web::test]
async fn json_login_answers_email_application_and_mode() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = public_rp(&app).await;
    let mut b = Browser::new(&app);
    let r = b
        .post_json(
            &format!("/auth/login?applicationId={}", rp.id()),
            &json!({"login": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let cookie = session_cookie_set(&r).expect("a session cookie");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"email": user.email, "applicationId": rp.id(), "mode": "authentication"})
    );
    let s: Value = current_session(&app, &cookie).await.json().await.unwrap();
    assert_eq!(s["user"]["id"], user.id.to_string(), "{s}");
}

#[actix_web::test]
async fn a_form_login_without_the_csrf_cookie_is_refused() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let mut b = Browser::new(&app);
    let page = b.get("/auth/login").await.text().await.unwrap();
    let csrf = hidden(&page, "csrf").expect("csrf field");
    // A cross-site form can send the field but not the cookie.
    b.cookies.remove(CSRF_COOKIE);
    let form = [
        ("login", user.username.as_str()),
        ("password", PASSWORD),
        ("csrf", csrf.as_str()),
        ("return_to", "/oauth2/authorize"),
    ];
    let r = b.post_form("/auth/login", &form).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(header(&r, "location").is_none());
    assert!(session_cookie_set(&r).is_none());
    // And a wrong field with the right cookie.
    let mut b = Browser::new(&app);
    let _ = b.get("/auth/login").await;
    let form = [
        ("login", user.username.as_str()),
        ("password", PASSWORD),
        ("csrf", "forged"),
    ];
    let r = b.post_form("/auth/login", &form).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_set(&r).is_none());
}

#[actix_web::test]
async fn a_form_login_never_redirects_off_site() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let mut b = Browser::new(&app);
        let page = b.get("/auth/login").await.text().await.unwrap();
        let csrf = hidden(&page, "csrf").unwrap();
        let form = [
            ("login", user.username.as_str()),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
            ("return_to", evil),
        ];
        let r = b.post_form("/auth/login", &form).await;
        assert_eq!(r.status(), StatusCode::OK, "{evil}");
        assert!(header(&r, "location").is_none(), "{evil}");
        assert!(session_cookie_set(&r).is_some());
    }
}

#[actix_web::test]
async fn a_first_party_client_skips_consent() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let r = b.get(&req.path()).await;
    let cb = redirect(&r, StatusCode::FOUND);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    assert_eq!(cb.get("iss"), Some(app.issuer.as_str()));
    let t = tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;
    assert!(t.id_token.is_some());
}

#[actix_web::test]
async fn consent_is_remembered_for_the_scopes_given() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let rp = public_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let first = AuthRequest::new(&rp, "openid email");
    let r = b.get(&first.path()).await;
    assert_eq!(r.status(), StatusCode::OK, "first time: the consent page");
    let html = r.text().await.unwrap();
    let cb = redirect(&b.consent(&html, "allow").await, StatusCode::SEE_OTHER);
    assert!(cb.get("code").is_some());

    // The same scope, or part of it: straight to the code.
    for scope in ["openid email", "openid"] {
        let again = AuthRequest::new(&rp, scope);
        let r = b.get(&again.path()).await;
        let cb = redirect(&r, StatusCode::FOUND);
        assert_eq!(cb.get("state"), Some(again.state.as_str()));
        let code = cb.param("code");
        tokens(exchange(&app, &rp, code, Some(&again.verifier)).await).await;
    }
    // More than was consented to: asked again.
    let wider = AuthRequest::new(&rp, "openid email profile");
    assert_eq!(b.get(&wider.path()).await.status(), StatusCode::OK);

    // Another user of the same browser profile has not consented.
    let other = create_user(&app, "frank2").await;
    let mut b2 = logged_in(&app, &other).await;
    assert_eq!(b2.get(&first.path()).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn prompt_consent_forces_the_page_and_prompt_none_needs_consent() {
    let app = spawn_app().await;
    let user = create_user(&app, "grace").await;
    let rp = public_rp(&app).await;
    let mut b = logged_in(&app, &user).await;

    // prompt=none before any consent: consent_required.
    let req = AuthRequest::new(&rp, SCOPE).set("prompt", "none");
    let r = b.get(&req.path()).await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        "consent_required",
        Some(&req.state),
    );

    let _ = b.code(&app, &AuthRequest::new(&rp, SCOPE)).await;

    // Remembered, but prompt=consent shows the page anyway.
    let req = AuthRequest::new(&rp, SCOPE).set("prompt", "consent");
    let r = b.get(&req.path()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(hidden(&html, "csrf").is_some());
    let cb = redirect(&b.consent(&html, "allow").await, StatusCode::SEE_OTHER);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    tokens(exchange(&app, &rp, cb.param("code"), Some(&req.verifier)).await).await;

    // And prompt=none with a session and consent: a code, silently.
    let req = AuthRequest::new(&rp, SCOPE).set("prompt", "none");
    let cb = redirect(&b.get(&req.path()).await, StatusCode::FOUND);
    assert!(cb.get("code").is_some(), "{}", cb.raw);
}

#[actix_web::test]
async fn deny_redirects_with_access_denied_and_remembers_nothing() {
    let app = spawn_app().await;
    let user = create_user(&app, "heidi").await;
    let rp = public_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let html = b.get(&req.path()).await.text().await.unwrap();
    let r = b.consent(&html, "deny").await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::SEE_OTHER,
        REDIRECT,
        "access_denied",
        Some(&req.state),
    );
    // Nothing was remembered: the page again.
    assert_eq!(b.get(&req.path()).await.status(), StatusCode::OK);
}

/// A consent post with a wrong CSRF token: a `403` page, never a redirect.
async fn assert_csrf_refused(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(header(&r, "location").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("invalid_request"), "{body}");
}

#[actix_web::test]
async fn a_consent_post_with_a_wrong_csrf_is_an_error_page() {
    let app = spawn_app().await;
    let user = create_user(&app, "ivan").await;
    let rp = public_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let html = b.get(&req.path()).await.text().await.unwrap();
    let mut pairs: Vec<(String, String)> = hidden_inputs(&html)
        .into_iter()
        .filter(|(n, _)| n != "csrf")
        .collect();
    pairs.push(("csrf".into(), "forged".into()));
    pairs.push(("consent".into(), "allow".into()));
    let r = b.post_form("/oauth2/authorize", &pairs).await;
    assert_csrf_refused(r).await;

    // Another session's csrf does not work either.
    let other = create_user(&app, "ivan2").await;
    let mut b2 = logged_in(&app, &other).await;
    let other_html = b2.get(&req.path()).await.text().await.unwrap();
    let mut pairs = hidden_inputs(&other_html);
    pairs.push(("consent".into(), "allow".into()));
    let r = b.post_form("/oauth2/authorize", &pairs).await;
    assert_csrf_refused(r).await;
    // The first user still has not consented.
    assert_eq!(b.get(&req.path()).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_post_authorization_request_answers_303() {
    let app = spawn_app().await;
    let user = create_user(&app, "judy").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    // No session: to the login page, with 303 after a POST.
    let mut anon = Browser::new(&app);
    let r = anon.post_form("/oauth2/authorize", &req.pairs).await;
    assert_eq!(redirect(&r, StatusCode::SEE_OTHER).base, "/auth/login");
    // Logged in: the code, with 303.
    let mut b = logged_in(&app, &user).await;
    let r = b.post_form("/oauth2/authorize", &req.pairs).await;
    let cb = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(cb.base, REDIRECT);
    assert_eq!(cb.get("state"), Some(req.state.as_str()));
    assert!(cb.get("code").is_some());
}
