//! SECURITY.md cases no other module pins down: the JWT attacks at every
//! place other than introspection that accepts one of our JWTs (the userinfo
//! and session bearers, `id_token_hint` at `/auth/logout`), the audience
//! check at introspection, consumed codes at introspection, RFC 7009
//! revocation of a refresh token's grant, argon2 work for unknown logins,
//! the per-IP failure limit, and the cookie flags.
//!
//! Every forgery comes with a control: the same header and claims signed by
//! the server's own key, which the index never saw and which *is* accepted,
//! so each refusal is down to the one thing the forgery changed.

mod forgery;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{header, spawn_app, spawn_app_with, TestApp, INACTIVE};

/// `claims` with the members of `patch` set (`null` removes one).
fn patched(claims: &Value, patch: Value) -> Value {
    let mut c = claims.clone();
    for (k, v) in patch.as_object().expect("patch object") {
        match c.as_object_mut() {
            Some(m) if v.is_null() => {
                m.remove(k);
            }
            _ => c[k] = v.clone(),
        }
    }
    c
}

#[actix_web::test]
async fn introspection_refuses_a_jwt_for_another_audience() {
    let app = spawn_app().await;
    let c = app
        .create_client(json!({"scope": "read", "audiences": ["https://orders.example", "https://billing.example"]}))
        .await;
    let orders = app
        .create_client(
            json!({"grant_types": [], "introspect_audiences": ["https://orders.example"]}),
        )
        .await;
    let (h, claims) = app.genuine_parts(&c);
    let for_orders = patched(&claims, json!({"aud": "https://orders.example"}));
    let for_billing = patched(&claims, json!({"aud": "https://billing.example"}));
    // Control: addressed to it, the resource server sees it.
    let t = app.sign_with_server_key(&h, &for_orders);
    let v = app.assert_active(&orders, &t).await;
    assert_eq!(v["aud"], json!(["https://orders.example"]));
    // Addressed to another API: inactive for this one, active for its client.
    let t = app.sign_with_server_key(&h, &for_billing);
    assert_eq!(app.introspect_raw(&orders, &t).await, INACTIVE);
    app.assert_active(&c, &t).await;
    // An audience the client was never granted, or a mix with one: even
    // under our signature it is no token of ours, for anybody.
    for aud in [
        json!("https://evil.example"),
        json!(["https://orders.example", "https://evil.example"]),
        json!([]),
    ] {
        let t = app.sign_with_server_key(&h, &patched(&claims, json!({"aud": aud})));
        assert_eq!(app.introspect_raw(&orders, &t).await, INACTIVE, "{aud}");
        assert_eq!(app.introspect_raw(&c, &t).await, INACTIVE, "{aud}");
    }
    // A client_id that is no client of ours.
    let t = app.sign_with_server_key(
        &h,
        &patched(
            &claims,
            json!({"client_id": "tes_cl_nobody", "aud": "tes_cl_nobody"}),
        ),
    );
    assert_eq!(app.introspect_raw(&c, &t).await, INACTIVE);
}

#[actix_web::test]
async fn authorization_codes_introspect_inactive_before_and_after_use() {
    let app = spawn_app().await;
    let user = create_user(&app, "carol").await;
    let rp = confidential_rp(&app).await;
    let rs = crate::flow::introspector(&app).await;
    let mut b = logged_in(&app, &user).await;
    let req = AuthRequest::new(&rp, SCOPE);
    let code = b.code(&app, &req).await;
    for caller in [&rp.client, &rs] {
        assert_eq!(app.introspect_raw(caller, &code).await, INACTIVE);
        for hint in ["access_token", "refresh_token", "authorization_code"] {
            let r = app
                .introspect_with(caller, &[("token", &code), ("token_type_hint", hint)])
                .await;
            assert_eq!(r.text().await.unwrap(), INACTIVE, "hint {hint}");
        }
    }
    // Introspecting it did not consume it; the exchange does.
    let t = tokens(exchange(&app, &rp, &code, Some(&req.verifier)).await).await;
    app.assert_active(&rs, &t.access_token).await;
    for caller in [&rp.client, &rs] {
        assert_eq!(app.introspect_raw(caller, &code).await, INACTIVE);
    }
}

#[actix_web::test]
async fn revoking_a_refresh_token_revokes_every_token_of_its_grant() {
    let app = spawn_app().await;
    let user = create_user(&app, "dave").await;
    let rp = confidential_rp(&app).await;
    let rs = crate::flow::introspector(&app).await;
    let t0 = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    let t1 = tokens(refresh(&app, &rp, t0.refresh(), None).await).await;
    let other = run_flow(&app, &rp, &user, SCOPE).await.tokens;
    for tok in [&t0.access_token, &t1.access_token, t1.refresh()] {
        app.assert_active(&rs, tok).await;
    }
    let r = app
        .revoke_with(
            &rp.client,
            &[
                ("token", t1.refresh()),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for tok in [&t0.access_token, &t1.access_token, t1.refresh()] {
        assert_eq!(app.introspect_raw(&rs, tok).await, INACTIVE);
    }
    assert_eq!(
        userinfo(&app, &t1.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = refresh(&app, &rp, t1.refresh(), None).await;
    crate::helpers::assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // Another grant of the same user and client is untouched.
    app.assert_active(&rs, &other.access_token).await;
    app.assert_active(&rs, other.refresh()).await;
}

#[actix_web::test]
async fn unknown_users_and_wrong_passwords_both_cost_one_argon2_verification() {
    let app = spawn_app().await;
    let user = create_user(&app, "erin").await;
    let pool = app.engine.passwords.clone();
    let mut answers = Vec::new();
    for (login, password) in [
        (user.username.as_str(), "not the password"),
        ("nobody", "not the password"),
        (user.email.as_str(), "not the password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let before = pool.verifications();
        let r = Browser::new(&app).login_json(login, password).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(
            pool.verifications(),
            before + 1,
            "{login}: exactly one full argon2 verification"
        );
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    for a in &answers[1..] {
        assert_eq!(a, &answers[0], "the same status and body");
    }
    // A disabled account answers the same way and costs the same too.
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/users/{}", user.id),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let before = pool.verifications();
    let r = Browser::new(&app)
        .login_json(&user.username, PASSWORD)
        .await;
    assert_eq!(pool.verifications(), before + 1);
    assert_eq!((r.status(), r.text().await.unwrap()), answers[0]);
}

#[actix_web::test]
async fn failures_from_one_address_are_limited_across_accounts_and_the_lock_ends() {
    let app = spawn_app().await;
    let victim = create_user(&app, "frank").await;
    // 31 failures from 127.0.0.1 over eight names, never more than four per
    // name, so no account limit (five) is reached: the 32nd try is refused
    // by the address limit (thirty) alone.
    let mut tries = 0;
    for i in 0..8 {
        for j in 0..4 {
            tries += 1;
            let r = Browser::new(&app)
                .login_json(&format!("stranger{i}"), &format!("guess {j}"))
                .await;
            if tries <= 31 {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "try {tries}");
            } else {
                assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "try {tries}");
            }
        }
    }
    // The right password from that address waits too, with Retry-After.
    let r = Browser::new(&app).login_json("frank", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = header(&r, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(session_cookie_set(&r).is_none());
    // Never for ever: once it has passed, the victim gets in.
    app.clock.advance(retry);
    logged_in(&app, &victim).await;
}

/// The session cookie's name and attributes (lower-cased) after a login.
async fn login_cookie(app: &TestApp, user: &TestUser) -> (String, String) {
    let r = Browser::new(app)
        .login_json(&user.username, &user.password)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<_> = set_cookies(&r)
        .into_iter()
        .filter(|(n, v, _)| n.ends_with(SESSION_COOKIE) && !v.is_empty())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let (n, _, a) = cookies.into_iter().next().expect("cookie");
    (n, a)
}

fn attrs(a: &str) -> Vec<String> {
    a.split(';')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[actix_web::test]
async fn session_cookies_are_host_prefixed_and_secure_unless_plain_http_is_configured() {
    let app = spawn_app_with(|s| s.issuer = Some("https://auth.example.test".into())).await;
    let user = create_user(&app, "grace").await;
    let (name, a) = login_cookie(&app, &user).await;
    assert_eq!(name, format!("__Host-{SESSION_COOKIE}"));
    let a = attrs(&a);
    for want in ["httponly", "samesite=lax", "path=/", "secure"] {
        assert!(a.iter().any(|x| x == want), "{want} in {a:?}");
    }
    assert!(
        !a.iter().any(|x| x.starts_with("domain")),
        "__Host- forbids Domain: {a:?}"
    );

    // Plain-HTTP development (an http:// issuer): no Secure, no prefix,
    // the other flags unchanged.
    let dev = spawn_app().await;
    let user = create_user(&dev, "heidi").await;
    let (name, a) = login_cookie(&dev, &user).await;
    assert_eq!(name, SESSION_COOKIE);
    let a = attrs(&a);
    for want in ["httponly", "samesite=lax", "path=/"] {
        assert!(a.iter().any(|x| x == want), "{want} in {a:?}");
    }
    assert!(!a.iter().any(|x| x == "secure"), "{a:?}");

    // Configured explicitly, an https issuer can drop Secure too.
    let forced = spawn_app_with(|s| {
        s.issuer = Some("https://auth.example.test".into());
        s.sessions.insecure_cookies = Some(true);
    })
    .await;
    let user = create_user(&forced, "ivan").await;
    let (name, a) = login_cookie(&forced, &user).await;
    assert_eq!(name, SESSION_COOKIE);
    assert!(!attrs(&a).iter().any(|x| x == "secure"), "{a}");
}

/// Every current key and value of every table but the mail queue (which
/// holds the mails to send, links and all, until they are delivered),
/// whichever the backend.
fn stored_bytes(app: &TestApp) -> Vec<Vec<u8>> {
    app.records()
        .into_iter()
        .filter(|(table, _)| *table != "mail")
        .flat_map(|(_, rows)| rows.into_iter().flat_map(|(k, v)| [k, v]))
        .collect()
}

fn stored_anywhere(stored: &[Vec<u8>], needle: &str) -> bool {
    let n = needle.as_bytes();
    stored.iter().any(|b| b.windows(n.len()).any(|w| w == n))
}

#[actix_web::test]
async fn mailed_links_tokens_and_passwords_are_stored_hashed_never_raw() {
    const PUBLIC: &str = "https://id.example.test";
    let (app, sink) = crate::smtp_sink::spawn_app_with_mail(|s| {
        s.accounts.public_url = Some(PUBLIC.into());
    })
    .await;
    let r = app
        .http
        .post(app.url("/api/oauth/register"))
        .json(&json!({"username": "keeper", "email": "keeper@example.com",
                      "password": PASSWORD, "accept_terms": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let refresh_token = body["refresh_token"].as_str().expect("refresh").to_string();
    let verify = sink
        .mail_to("keeper@example.com")
        .await
        .link(&format!("{PUBLIC}/api/oauth/valid_email/"));
    let r = app
        .http
        .post(app.url("/api/oauth/reset_password"))
        .json(&json!({"email": "keeper@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let reset = sink
        .mail_to("keeper@example.com")
        .await
        .link(&format!("{PUBLIC}/api/oauth/reset_password/confirm?token="));
    // A registration's six-digit code.
    let r = app
        .http
        .post(app.url("/registration"))
        .json(&json!({"username": "coder", "email": "coder@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let code = sink.mail_to("coder@example.com").await.code();
    assert_eq!(code.len(), 6, "{code}");
    let codes: Vec<Vec<u8>> = app
        .records()
        .remove("account_codes")
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(k, v)| [k, v])
        .collect();
    assert!(!codes.is_empty());
    assert!(!stored_anywhere(&codes, &code), "the code is stored raw");
    let verify_token = verify.rsplit('/').next().unwrap().to_string();
    let reset_token = reset.split("token=").nth(1).unwrap().to_string();
    assert!(verify_token.starts_with("tes_ve_"), "{verify_token}");
    assert!(reset_token.starts_with("tes_pr_"), "{reset_token}");

    let stored = stored_bytes(&app);
    // Control: the scan sees what is stored in the clear.
    assert!(stored_anywhere(&stored, "keeper@example.com"));
    assert!(
        !app.records()["account_codes"].is_empty(),
        "the links are recorded"
    );
    for (what, secret) in [
        ("verification link", verify_token.as_str()),
        ("reset link", reset_token.as_str()),
        ("refresh token", refresh_token.as_str()),
        ("password", PASSWORD),
    ] {
        // The whole secret, and its random part without the prefix.
        let random = secret.get(7..).unwrap_or(secret);
        assert!(!stored_anywhere(&stored, secret), "{what} stored raw");
        assert!(!stored_anywhere(&stored, random), "{what} stored raw");
    }
    // Both links still work: what is stored is enough to check them.
    let path = verify.strip_prefix(PUBLIC).unwrap();
    let r = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
}

#[actix_web::test]
async fn logins_beyond_the_password_pools_capacity_get_503_not_a_queue() {
    let app = spawn_app_with(|s| {
        s.sessions.password_workers = Some(1);
        s.sessions.password_queue = 2;
    })
    .await;
    let answers = futures_util::future::join_all((0..24).map(|i| {
        let app = &app;
        async move {
            let r = Browser::new(app)
                .login_json(&format!("storm{i}"), "a wrong password")
                .await;
            let retry = header(&r, "retry-after");
            let status = r.status();
            let body: Value = r.json().await.expect("JSON");
            (status, retry, body)
        }
    }))
    .await;
    let mut refused = 0;
    let mut verified: u64 = 0;
    for (status, retry, body) in &answers {
        match *status {
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(body["error"], "unavailable", "{body}");
                let secs: u64 = retry
                    .as_deref()
                    .expect("Retry-After")
                    .parse()
                    .expect("secs");
                assert!(secs >= 1, "{secs}");
            }
            StatusCode::UNAUTHORIZED => verified += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(refused > 0, "a storm past the pool is refused, not queued");
    assert!(verified > 0, "the pool kept working");
    assert_eq!(
        app.engine.passwords.verifications(),
        verified,
        "refused logins cost no argon2 work"
    );
}
