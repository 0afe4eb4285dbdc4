//! Upstream OpenID login (`GET /auth/openid`, `GET /auth/oidc/login`).
//!
//! Two tessera servers on loopback: `up` is a plain tessera with a
//! confidential client for `down`, and `down` has `up` configured as
//! provider `up`. Each side gets its own cookie jar (as two host names
//! would). The JWT attacks run against a small fake provider that hands out
//! ID tokens the test forges (`forged`).

mod forged;
mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_actors::directory::{UpdateUser, UserPatch, UserStatus};

use crate::flow::{
    assert_error_page, create_user, enable_totp, encode, exchange, first_party_rp, public_rp,
    redirect, session_cookie_set, tokens, totp_code, userinfo, AuthRequest, Browser,
};
use crate::helpers::{header, spawn_app, spawn_app_with, TestClient};
use support::{
    at_provider, current_user, federated_login, pair, provider, session_user_id, start, PROVIDER,
};

#[actix_web::test]
async fn the_redirect_to_the_provider_is_a_pkce_code_request() {
    let p = pair().await;
    let mut down = Browser::new(&p.down);
    let to = start(&mut down, None).await;
    assert_eq!(to.base, p.up.url("/oauth2/authorize"));
    assert_eq!(to.get("response_type"), Some("code"));
    assert_eq!(to.get("code_challenge_method"), Some("S256"));
    assert_eq!(to.param("code_challenge").len(), 43);
    assert_eq!(to.get("scope"), Some("openid email profile"));
    assert_eq!(
        to.get("redirect_uri"),
        Some(p.down.url("/auth/oidc/login").as_str()),
        "the callback comes from the configured URL"
    );
    assert!(to.param("state").len() >= 43 && to.param("nonce").len() >= 43);
    assert!(
        down.cookies.contains_key("tessera_federation"),
        "the login is bound to this browser"
    );
    // Each login has its own state and nonce.
    let again = start(&mut down, None).await;
    assert_ne!(again.param("state"), to.param("state"));
    assert_ne!(again.param("nonce"), to.param("nonce"));
}

#[actix_web::test]
async fn a_first_login_creates_the_user_and_later_ones_find_it() {
    let p = pair().await;
    let alice = create_user(&p.up, "alice").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &alice, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = session_cookie_set(&r).expect("a downstream session cookie");
    let me = current_user(&p.down, &session).await;
    let local = p
        .down
        .engine
        .users
        .by_login(&alice.email)
        .expect("a local user was made");
    assert_eq!(session_user_id(&me), local.id.to_string(), "{me}");
    assert_eq!(local.username, "alice");
    assert!(local.email_verified);
    assert_eq!(local.name.as_deref(), Some("alice Example"));
    // No password works for it.
    let r = Browser::new(&p.down)
        .login_json("alice", &alice.password)
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The upstream e-mail changes: the link by subject still finds her.
    p.up.engine
        .directory
        .send(UpdateUser {
            id: alice.id,
            patch: UserPatch {
                email: Some("alice.new@example.com".into()),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut down2 = Browser::new(&p.down);
    let r = federated_login(&p, &mut down2, &mut up, &alice, Some("/sessions/session")).await;
    let loc = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(loc.raw, "/sessions/session");
    let session2 = session_cookie_set(&r).expect("a session cookie");
    assert_ne!(session2, session, "every login gets a new session");
    let me2 = current_user(&p.down, &session2).await;
    assert_eq!(session_user_id(&me2), local.id.to_string());
    assert_eq!(p.down.engine.users.len(), 1, "no second account");

    let metrics = p
        .down
        .http
        .get(p.down.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for result in ["created", "success"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("tessera_federation_logins_total")
                    && l.contains("provider=\"up\"")
                    && l.contains(&format!("result=\"{result}\""))),
            "{result} counted"
        );
    }
}

#[actix_web::test]
async fn a_verified_email_links_to_the_existing_account() {
    let p = pair().await;
    let upstream = create_user(&p.up, "bob").await;
    // A local account with the same address (bob@example.com), verified.
    let local = create_user(&p.down, "bob-local").await;
    p.down
        .engine
        .directory
        .send(UpdateUser {
            id: local.id,
            patch: UserPatch {
                email: Some(upstream.email.clone()),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &upstream, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = session_cookie_set(&r).expect("a session cookie");
    let me = current_user(&p.down, &session).await;
    assert_eq!(session_user_id(&me), local.id.to_string());
    assert_eq!(
        p.down
            .engine
            .federation_links
            .get(PROVIDER, &upstream.id.to_string()),
        Some(local.id),
        "the upstream subject is now linked"
    );
}

#[actix_web::test]
async fn an_unverified_email_never_links() {
    let p = pair().await;
    let carol = create_user(&p.up, "carol").await;
    p.up.engine
        .directory
        .send(UpdateUser {
            id: carol.id,
            patch: UserPatch {
                email_verified: Some(false),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let local = create_user(&p.down, "carol").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &carol, None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(session_cookie_set(&r).is_none(), "no session");
    assert!(r.text().await.unwrap().contains("email_unverified"));
    assert_eq!(
        p.down
            .engine
            .federation_links
            .get(PROVIDER, &carol.id.to_string()),
        None
    );
    assert_eq!(p.down.engine.users.len(), 1);
    assert_eq!(
        p.down.engine.users.by_login(&carol.email).unwrap().id,
        local.id
    );

    // With no local account of that address, the account is made, and it
    // keeps the address unverified.
    let dave = create_user(&p.up, "dave").await;
    p.up.engine
        .directory
        .send(UpdateUser {
            id: dave.id,
            patch: UserPatch {
                email_verified: Some(false),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let mut up = Browser::new(&p.up);
    let r = federated_login(&p, &mut Browser::new(&p.down), &mut up, &dave, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !p.down
            .engine
            .users
            .by_login(&dave.email)
            .unwrap()
            .email_verified
    );
}

#[actix_web::test]
async fn a_pending_authorization_request_continues_to_the_client() {
    let p = pair().await;
    let erin = create_user(&p.up, "erin").await;
    let rp = public_rp(&p.down).await;
    let req = AuthRequest::new(&rp, "openid profile email");
    let mut down = Browser::new(&p.down);
    // No downstream session: authorize sends the browser to the login page.
    let r = down.get(&req.path()).await;
    let login = redirect(&r, StatusCode::FOUND);
    let return_to = login.param("return_to").to_string();
    assert!(return_to.starts_with("/oauth2/authorize?"), "{return_to}");
    // The login page's "sign in with up" path.
    let mut up = Browser::new(&p.up);
    let r = federated_login(&p, &mut down, &mut up, &erin, Some(&return_to)).await;
    let loc = redirect(&r, StatusCode::SEE_OTHER);
    assert_eq!(loc.raw, return_to);
    // The authorization request goes on, now with a session.
    let code = down.code(&p.down, &req).await;
    let t = tokens(exchange(&p.down, &rp, &code, Some(&req.verifier)).await).await;
    let info: Value = userinfo(&p.down, &t.access_token)
        .await
        .json()
        .await
        .unwrap();
    let local = p.down.engine.users.by_login(&erin.email).unwrap();
    assert_eq!(info["sub"], local.id.to_string(), "{info}");
    assert_eq!(info["email"], erin.email, "{info}");
}

#[actix_web::test]
async fn the_state_is_single_use_bound_and_expiring() {
    let p = pair().await;
    let frank = create_user(&p.up, "frank").await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);

    // Another browser (no binding cookie) presenting a good state: refused,
    // and the rightful browser can still finish.
    let to = start(&mut down, None).await;
    let back = at_provider(&p, &mut up, &frank, &to).await;
    let r = Browser::new(&p.down).get(&back.raw).await;
    assert_error_page(r, "invalid_state").await;
    let r = down.get(&back.raw).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(session_cookie_set(&r).is_some());

    // Replayed.
    let mut down = Browser::new(&p.down);
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    assert_error_page(r, "invalid_state").await;

    // Unknown, and absent.
    let r = down
        .get("/auth/oidc/login?code=abc&state=never-issued")
        .await;
    assert_error_page(r, "invalid_state").await;
    let r = down.get("/auth/oidc/login?code=abc").await;
    assert_error_page(r, "invalid_state").await;

    // Expired: ten minutes at the provider is too long.
    let to = start(&mut down, None).await;
    let back = at_provider(&p, &mut up, &frank, &to).await;
    p.down.clock.advance(601);
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    assert_error_page(r, "invalid_state").await;
}

#[actix_web::test]
async fn an_upstream_error_is_shown_and_ends_the_login() {
    let p = pair().await;
    let gina = create_user(&p.up, "gina").await;
    let mut up = Browser::new(&p.up);
    up.login(&gina).await;
    let mut down = Browser::new(&p.down);
    let to = start(&mut down, None).await;
    let r = up.get(&to.raw).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let html = r.text().await.unwrap();
    let r = up.consent(&html, "deny").await;
    let back = redirect(&r, r.status());
    assert_eq!(back.get("error"), Some("access_denied"));
    let r = down.get(&back.raw).await;
    assert!(session_cookie_set(&r).is_none());
    let page = assert_error_page(r, "upstream_error").await;
    assert!(page.contains("cancelled or refused"), "{page}");
    // The state is used up.
    let r = down
        .get(&format!(
            "/auth/oidc/login?{}",
            encode(&[("code", "x"), ("state", to.param("state"))])
        ))
        .await;
    assert_error_page(r, "invalid_state").await;
}

#[actix_web::test]
async fn unknown_providers_and_foreign_return_urls_are_refused() {
    let p = pair().await;
    let mut down = Browser::new(&p.down);
    for q in [
        "client_id=nope".to_string(),
        String::new(),
        format!("client_id={PROVIDER}&redirect_uri=https%3A%2F%2Fevil.example.com%2F"),
        format!("client_id={PROVIDER}&redirect_uri=%2F%2Fevil.example.com"),
        format!("client_id={PROVIDER}&redirect_uri=%2F%5Cevil.example.com"),
        format!("client_id={PROVIDER}&redirect_uri=javascript%3Aalert(1)"),
    ] {
        let r = down.get(&format!("/auth/openid?{q}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
        assert!(header(&r, "location").is_none(), "{q}");
    }
    // A URL on this server, and a registered redirect URI, are fine.
    let rp = first_party_rp(&p.down).await;
    for ok in [p.down.url("/sessions/session"), rp.redirect_uri.clone()] {
        let r = down
            .get(&format!(
                "/auth/openid?{}",
                encode(&[("client_id", PROVIDER), ("redirect_uri", ok.as_str())])
            ))
            .await;
        assert_eq!(r.status(), StatusCode::FOUND, "{ok}");
    }
}

#[actix_web::test]
async fn an_unusable_provider_is_a_502_page() {
    // The discovery document must name exactly the configured issuer.
    let up = spawn_app().await;
    let client = TestClient {
        id: "c".into(),
        secret: "s".into(),
    };
    let settings = provider(&format!("{}/", up.issuer), &client);
    let down = spawn_app_with(|s| {
        s.federation.providers.insert(PROVIDER.into(), settings);
    })
    .await;
    let r = Browser::new(&down)
        .get(&format!("/auth/openid?client_id={PROVIDER}"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&r, "location").is_none());

    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = TestClient {
        id: "c".into(),
        secret: "s".into(),
    };
    let settings = provider(&format!("http://127.0.0.1:{port}"), &client);
    let down = spawn_app_with(|s| {
        s.federation.providers.insert(PROVIDER.into(), settings);
    })
    .await;
    let r = Browser::new(&down)
        .get(&format!("/auth/openid?client_id={PROVIDER}"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&r, "location").is_none());
}

#[actix_web::test]
async fn local_second_factor_and_account_status_still_apply() {
    let p = pair().await;
    let upstream = create_user(&p.up, "hank").await;
    let local = create_user(&p.down, "hank").await;
    let secret = enable_totp(&p.down, &local).await;
    let mut up = Browser::new(&p.up);
    let mut down = Browser::new(&p.down);
    let r = federated_login(&p, &mut down, &mut up, &upstream, Some("/sessions/session")).await;
    assert_eq!(r.status(), StatusCode::OK, "the code page");
    let pending = session_cookie_set(&r).expect("a pending session");
    let html = r.text().await.unwrap();
    assert!(html.contains("/auth/login/callback"), "{html}");
    let r = Browser::with_session(&p.down, &pending)
        .get("/sessions/session")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "not logged in yet");
    let r = down
        .post_json(
            "/auth/login/callback",
            &json!({"code": totp_code(&p.down, &secret, 0)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = down.session().expect("a full session");
    let me = current_user(&p.down, &session).await;
    assert_eq!(session_user_id(&me), local.id.to_string());

    // A disabled local account cannot come in through the provider either.
    p.down
        .engine
        .directory
        .send(UpdateUser {
            id: local.id,
            patch: UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        })
        .await
        .unwrap()
        .unwrap();
    let r = federated_login(&p, &mut Browser::new(&p.down), &mut up, &upstream, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie_set(&r).is_none());
}
