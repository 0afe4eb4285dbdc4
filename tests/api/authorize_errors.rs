//! Every authorization-endpoint case of SECURITY.md: the redirect URI must
//! match byte for byte (loopback ports aside), unknown clients get a page,
//! and once client and redirect are trusted every other error goes back to
//! the client with `error`, `error_description`, `state` and `iss`.

use reqwest::StatusCode;
use serde_json::json;

use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};

/// An error redirect to [`REDIRECT`] for a GET.
async fn expect_redirect_error(app: &TestApp, req: &AuthRequest, error: &str) {
    let r = Browser::new(app).get(&req.path()).await;
    assert_error_redirect(
        app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        error,
        Some(&req.state),
    );
}

#[actix_web::test]
async fn redirect_uris_must_match_byte_for_byte() {
    let app = spawn_app().await;
    let user = create_user(&app, "alice").await;
    let rp = rp_with(
        &app,
        json!({
            "first_party": true,
            "redirect_uris": [REDIRECT, "https://rp.example.com/q?tenant=a"],
        }),
    )
    .await;
    let mut b = logged_in(&app, &user).await;
    let bad = [
        // added or changed port
        "https://rp.example.com:443/cb",
        "https://rp.example.com:8443/cb",
        // case
        "https://RP.example.com/cb",
        "https://rp.example.com/CB",
        "HTTPS://rp.example.com/cb",
        // scheme, host
        "http://rp.example.com/cb",
        "https://evil.example/cb",
        "https://rp.example.com.evil.example/cb",
        // extra path
        "https://rp.example.com/cb/",
        "https://rp.example.com/cb/extra",
        "https://rp.example.com/cbx",
        // extra or changed query, fragment
        "https://rp.example.com/cb?x=1",
        "https://rp.example.com/cb?",
        "https://rp.example.com/q?tenant=b",
        "https://rp.example.com/q?tenant=a&x=1",
        "https://rp.example.com/q",
        "https://rp.example.com/cb#frag",
        // dot segments, raw and percent-encoded, single and double
        "https://rp.example.com/./cb",
        "https://rp.example.com/x/../cb",
        "https://rp.example.com/cb/../cb",
        "https://rp.example.com/%2e/cb",
        "https://rp.example.com/x/%2e%2e/cb",
        "https://rp.example.com/x/%2E%2E/cb",
        "https://rp.example.com/x/.%2e/cb",
        "https://rp.example.com/x/%252e%252e/cb",
        "https://rp.example.com/%252e/cb",
        "https://rp.example.com/x%2f..%2fcb",
        // userinfo tricks
        "https://rp.example.com@evil.example/cb",
        "https://rp.example.com%25@evil.example/cb",
        "https://rp.example.com%40evil.example/cb",
        "https://user@rp.example.com/cb",
        "https://evil.example\\@rp.example.com/cb",
        // encoding of the path itself
        "https://rp.example.com/%63b",
        "https://rp.example.com/cb%00",
        " https://rp.example.com/cb",
        "https://rp.example.com/cb ",
    ];
    for uri in bad {
        let req = AuthRequest::new(&rp, SCOPE).set("redirect_uri", uri);
        let r = b.get(&req.path()).await;
        let body = assert_error_page(r, "invalid_request").await;
        assert!(!body.contains("code="), "{uri}");
        // The same by POST.
        let r = b.post_form("/oauth2/authorize", &req.pairs).await;
        assert_error_page(r, "invalid_request").await;
    }
    // The registered ones work, and a query of a registered URI is kept.
    let cb = b.authorize(&app, &AuthRequest::new(&rp, SCOPE)).await;
    assert_eq!(cb.base, REDIRECT);
    let req = AuthRequest::new(&rp, SCOPE).set("redirect_uri", "https://rp.example.com/q?tenant=a");
    let cb = b.authorize(&app, &req).await;
    assert!(
        cb.raw.starts_with("https://rp.example.com/q?tenant=a&"),
        "{}",
        cb.raw
    );
    assert!(cb.get("code").is_some());
}

#[actix_web::test]
async fn loopback_redirects_may_change_only_the_port() {
    let app = spawn_app().await;
    let user = create_user(&app, "bob").await;
    let rp = rp_with(
        &app,
        json!({"first_party": true, "redirect_uris": ["http://127.0.0.1/cb", "http://[::1]/cb"]}),
    )
    .await;
    let mut b = logged_in(&app, &user).await;
    for uri in [
        "http://127.0.0.1:51234/cb",
        "http://127.0.0.1:8080/cb",
        "http://127.0.0.1/cb",
        "http://[::1]:4000/cb",
    ] {
        let req = AuthRequest::new(&rp, SCOPE).set("redirect_uri", uri);
        let cb = b.authorize(&app, &req).await;
        assert_eq!(cb.base, uri);
        // The code is bound to the URI used, port included.
        let mut other = rp.clone();
        other.redirect_uri = uri.to_string();
        tokens(exchange(&app, &other, cb.param("code"), Some(&req.verifier)).await).await;
    }
    for uri in [
        "http://127.0.0.1:51234/cb2",
        "http://127.0.0.1:51234/cb?x=1",
        "http://localhost:51234/cb",
        "http://127.0.0.2:51234/cb",
        "https://127.0.0.1:51234/cb",
        "http://127.0.0.1.evil.example:51234/cb",
        "http://127.0.0.1:80@evil.example/cb",
        "http://127.0.0.1:51234@evil.example/cb",
    ] {
        let req = AuthRequest::new(&rp, SCOPE).set("redirect_uri", uri);
        assert_error_page(b.get(&req.path()).await, "invalid_request").await;
    }
}

#[actix_web::test]
async fn missing_or_unknown_client_id_is_a_page_never_a_redirect() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let mut b = Browser::new(&app);
    assert_error_page(
        b.get(&req.clone().without("client_id").path()).await,
        "invalid_request",
    )
    .await;
    assert_error_page(
        b.get(&req.clone().set("client_id", "").path()).await,
        "invalid_request",
    )
    .await;
    for unknown in ["tes_cl_nope", "x"] {
        let r = b.get(&req.clone().set("client_id", unknown).path()).await;
        assert_error_page(r, "invalid_client").await;
    }
    // Even without response_type, and by POST.
    let bare = req
        .clone()
        .set("client_id", "nope")
        .without("response_type");
    assert_error_page(b.get(&bare.path()).await, "invalid_client").await;
    let r = b.post_form("/oauth2/authorize", &bare.pairs).await;
    assert_error_page(r, "invalid_client").await;
}

#[actix_web::test]
async fn response_type_other_than_code_is_unsupported() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    expect_redirect_error(
        &app,
        &req.clone().without("response_type"),
        "unsupported_response_type",
    )
    .await;
    for rt in ["token", "id_token", "code id_token", "CODE", "code "] {
        expect_redirect_error(
            &app,
            &req.clone().set("response_type", rt),
            "unsupported_response_type",
        )
        .await;
    }
}

#[actix_web::test]
async fn a_missing_redirect_uri_uses_the_only_registered_one() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE)
        .without("redirect_uri")
        .without("response_type");
    expect_redirect_error(&app, &req, "unsupported_response_type").await;
    // With two registered, it must be named: a page.
    let two = rp_with(
        &app,
        json!({"redirect_uris": [REDIRECT, "https://rp.example.com/other"]}),
    )
    .await;
    let req = AuthRequest::new(&two, SCOPE).without("redirect_uri");
    assert_error_page(Browser::new(&app).get(&req.path()).await, "invalid_request").await;
}

#[actix_web::test]
async fn a_bad_scope_is_invalid_scope() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    for scope in [
        "openid admin",
        "write",
        "openid\u{7f}",
        "openid \"x\"",
        "a\\b",
    ] {
        let req = AuthRequest::new(&rp, scope);
        expect_redirect_error(&app, &req, "invalid_scope").await;
    }
}

#[actix_web::test]
async fn a_repeated_parameter_is_invalid_request() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let base = AuthRequest::new(&rp, SCOPE);
    let state = base.state.clone();
    for (k, v) in [
        ("scope", "openid"),
        ("response_type", "code"),
        ("code_challenge", "x"),
        ("nonce", "other"),
        ("redirect_uri", "https://evil.example/cb"),
        ("client_id", "other"),
    ] {
        let req = base.clone().push(k, v);
        let r = Browser::new(&app).get(&req.path()).await;
        assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            "invalid_request",
            Some(&state),
        );
    }
    // A repeated state: still an error, and the state returned is one of them.
    let req = base.clone().push("state", "second");
    let r = Browser::new(&app).get(&req.path()).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert_eq!(loc.get("error"), Some("invalid_request"));
    assert!(loc.get("code").is_none());
}

#[actix_web::test]
async fn unknown_parameters_are_ignored() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE)
        .push("foo", "bar")
        .push("ui_locales", "de")
        .push("x-extra", "");
    let r = Browser::new(&app).get(&req.path()).await;
    assert_eq!(redirect(&r, StatusCode::FOUND).base, "/auth/login");
    let mut b = logged_in(&app, &user).await;
    let code = b.code(&app, &req).await;
    tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
}

#[actix_web::test]
async fn pkce_rules_for_the_authorization_request() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE);
    // A public client must send a challenge.
    for r in [
        req.clone().without("code_challenge"),
        req.clone()
            .without("code_challenge")
            .without("code_challenge_method"),
        req.clone().set("code_challenge", ""),
    ] {
        expect_redirect_error(&app, &r, "invalid_request").await;
    }
    // Unknown methods.
    for m in ["S512", "s256", "sha256", "none", "PLAIN"] {
        expect_redirect_error(
            &app,
            &req.clone().set("code_challenge_method", m),
            "invalid_request",
        )
        .await;
    }
    // Outside 43-128 characters of [A-Za-z0-9-._~].
    let ok43 = "a".repeat(43);
    let ok128 = "A-._~1".repeat(21) + "zz";
    assert_eq!(ok128.len(), 128);
    for c in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(42)),
        format!("{}/", "a".repeat(42)),
        format!("{}=", "a".repeat(42)),
        format!("{} ", "a".repeat(42)),
        format!("{}é", "a".repeat(41)),
        format!("{}%", "a".repeat(42)),
    ] {
        expect_redirect_error(
            &app,
            &req.clone().set("code_challenge", &c),
            "invalid_request",
        )
        .await;
    }
    // A method without a challenge.
    expect_redirect_error(
        &app,
        &req.clone().without("code_challenge"),
        "invalid_request",
    )
    .await;
    // plain is refused for a client not configured for it.
    expect_redirect_error(
        &app,
        &req.clone().set("code_challenge_method", "plain"),
        "invalid_request",
    )
    .await;
    // The boundaries are fine (verifier == challenge under plain is not
    // allowed here, so only the authorization step is checked).
    let mut b = logged_in(&app, &user).await;
    for c in [&ok43, &ok128] {
        let loc = b
            .authorize(&app, &req.clone().set("code_challenge", c))
            .await;
        assert!(loc.get("code").is_some(), "{}", loc.raw);
    }
    // No method means S256: the S256 verifier redeems it.
    let r = req.clone().without("code_challenge_method");
    let code = b.code(&app, &r).await;
    tokens(exchange(&app, &rp, &code, Some(&r.verifier)).await).await;
}

#[actix_web::test]
async fn plain_pkce_only_for_clients_allowed_to_use_it() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let rp = rp_with(&app, json!({"first_party": true, "allow_plain_pkce": true})).await;
    let verifier = "plain-verifier-".to_string() + &"x".repeat(40);
    let req = AuthRequest::new(&rp, SCOPE)
        .set("code_challenge", &verifier)
        .set("code_challenge_method", "plain");
    let mut b = logged_in(&app, &user).await;
    let code = b.code(&app, &req).await;
    let r = exchange(&app, &rp, &code, Some("plain-verifier-wrong")).await;
    crate::helpers::assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let code = b.code(&app, &req).await;
    tokens(exchange(&app, &rp, &code, Some(&verifier)).await).await;
}

#[actix_web::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = spawn_app().await;
    let rp = first_party_rp(&app).await;
    let req = AuthRequest::new(&rp, SCOPE).set("prompt", "none");
    expect_redirect_error(&app, &req, "login_required").await;
    // With a dead cookie too.
    let mut b = Browser::with_session(&app, "tes_s_forged");
    let r = b.get(&req.path()).await;
    assert_error_redirect(
        &app,
        &r,
        StatusCode::FOUND,
        REDIRECT,
        "login_required",
        Some(&req.state),
    );
    // prompt=none combined with another value is invalid.
    let req = AuthRequest::new(&rp, SCOPE).set("prompt", "none login");
    expect_redirect_error(&app, &req, "invalid_request").await;
}

#[actix_web::test]
async fn errors_after_a_post_are_303_and_carry_everything() {
    let app = spawn_app().await;
    let rp = public_rp(&app).await;
    let req = AuthRequest::new(&rp, "openid admin");
    let r = Browser::new(&app)
        .post_form("/oauth2/authorize", &req.pairs)
        .await;
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    assert_error_redirect(
        &app,
        &r,
        StatusCode::SEE_OTHER,
        REDIRECT,
        "invalid_scope",
        Some(&req.state),
    );
}

#[actix_web::test]
async fn state_comes_back_byte_for_byte_and_absent_state_stays_absent() {
    let app = spawn_app().await;
    let user = create_user(&app, "frank").await;
    let rp = first_party_rp(&app).await;
    let mut b = logged_in(&app, &user).await;
    for state in [
        "plain",
        "with space",
        "a+b=c&d",
        "%41%",
        "ünïcødé ✓",
        "<script>\"'",
        "~!*()';:@$,/?#[]",
    ] {
        let req = AuthRequest::new(&rp, SCOPE).set("state", state);
        let cb = b.authorize(&app, &req).await;
        assert_eq!(cb.get("state"), Some(state));
        // The error path too.
        let req = req.set("scope", "nope");
        let r = b.get(&req.path()).await;
        assert_error_redirect(
            &app,
            &r,
            StatusCode::FOUND,
            REDIRECT,
            "invalid_scope",
            Some(state),
        );
    }
    let req = AuthRequest::new(&rp, SCOPE).without("state");
    let r = b.get(&req.path()).await;
    let cb = redirect(&r, StatusCode::FOUND);
    assert!(cb.get("state").is_none(), "{}", cb.raw);
    assert!(cb.get("code").is_some());
}
