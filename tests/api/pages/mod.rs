//! The browser pages: every page renders with the security headers and
//! labelled inputs, the account flows work through their forms, and a form
//! with a missing or forged CSRF token is refused with `403` and does
//! nothing.

mod forms;
mod logout;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::flow::*;
use crate::helpers::{header, spawn_app, TestApp};
use crate::smtp_sink::spawn_app_with_mail;

/// The headers every HTML page carries.
fn assert_page_headers(r: &Response, what: &str) {
    let h = |n: &str| header(r, n).unwrap_or_default();
    assert!(
        h("content-type").starts_with("text/html"),
        "{what}: {:?}",
        r.headers()
    );
    let csp = h("content-security-policy");
    for directive in [
        "default-src 'none'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: {directive} missing in {csp}"
        );
    }
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("cache-control"), "no-store", "{what}");
}

/// `(tag attributes)` of every `<input ...>` of the page.
fn inputs(html: &str) -> Vec<String> {
    html.split("<input ")
        .skip(1)
        .map(|s| s.split('>').next().unwrap_or_default().to_string())
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    Some(tag[start..].split('"').next()?.to_string())
}

/// The page without the passkey script (this server's, by the page's
/// nonce), the one script a page may carry.
fn without_passkey_script(html: &str) -> String {
    let Some(start) = html.find("<script nonce=\"") else {
        return html.to_string();
    };
    let end = html[start..]
        .find("</script>")
        .map(|e| start + e + "</script>".len())
        .unwrap_or(html.len());
    let tag = &html[start..end];
    assert!(
        tag.ends_with(" src=\"/assets/passkeys.js\"></script>"),
        "an unexpected script: {tag}"
    );
    format!("{}{}", &html[..start], &html[end..])
}

/// Accessibility basics: `lang`, one `autofocus` at most, a `<label for>`
/// for every visible input, no external assets, no script but the passkey
/// one.
fn assert_accessible(html: &str, what: &str) {
    let html = &without_passkey_script(html);
    assert!(html.starts_with("<!DOCTYPE html>"), "{what}");
    assert!(html.contains("<html lang=\"en\">"), "{what}");
    assert!(!html.contains("<script"), "{what}");
    assert!(!html.contains("<link"), "{what}");
    assert!(
        html.matches("autofocus").count() <= 1,
        "{what}: several autofocus"
    );
    for tag in inputs(html) {
        if attr(&tag, "type").as_deref() == Some("hidden") {
            continue;
        }
        let id = attr(&tag, "id").unwrap_or_else(|| panic!("{what}: input without id: {tag}"));
        assert!(
            html.contains(&format!("<label for=\"{id}\">")),
            "{what}: no label for {id}"
        );
    }
    if html.contains("<form") && !inputs(html).iter().all(|t| t.contains("type=\"hidden\"")) {
        assert_eq!(html.matches("autofocus").count(), 1, "{what}: focus start");
    }
    if html.contains("class=\"alert\"") {
        assert!(
            html.contains("role=\"alert\""),
            "{what}: errors are announced"
        );
    }
}

async fn page(r: Response, status: StatusCode, what: &str) -> String {
    assert_eq!(r.status(), status, "{what}");
    assert_page_headers(&r, what);
    let html = r.text().await.unwrap();
    assert_accessible(&html, what);
    html
}

/// A GET as a browser navigation (`Accept: text/html`).
async fn navigate(app: &TestApp, b: &Browser, path: &str) -> Response {
    let cookies: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    app.http
        .get(app.url(path))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn every_page_has_the_security_headers_and_labels() {
    let app = spawn_app().await;
    let user = create_user(&app, "pat").await;
    let rp = public_rp(&app).await;
    let mut anon = Browser::new(&app);
    for path in [
        "/auth/login",
        "/auth/login?return_to=%2Faccount&login_hint=pat",
        "/auth/register",
        "/auth/register/code?email=pat%40example.com",
        "/auth/register/code",
        "/auth/reset",
        "/auth/email-verified",
        "/api/oauth/reset_password/confirm?token=tes_pr_abc",
    ] {
        let r = anon.get(path).await;
        page(r, StatusCode::OK, path).await;
    }
    // Error pages.
    let r = anon.get("/oauth2/authorize?response_type=code").await;
    page(r, StatusCode::BAD_REQUEST, "authorize error").await;
    let r = anon.get("/api/oauth/reset_password/confirm").await;
    page(r, StatusCode::NOT_FOUND, "reset link invalid").await;
    let r = navigate(&app, &anon, "/api/oauth/valid_email/tes_ve_garbage").await;
    page(r, StatusCode::NOT_FOUND, "verification link invalid").await;
    let r = navigate(&app, &anon, "/no/such/page").await;
    let html = page(r, StatusCode::NOT_FOUND, "unknown path").await;
    assert!(html.contains("not_found"));
    // API callers still get JSON.
    let r = anon.get("/no/such/page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, "content-type")
        .unwrap()
        .starts_with("application/json"));

    // Signed in.
    let mut b = logged_in(&app, &user).await;
    let html = page(b.get("/account").await, StatusCode::OK, "/account").await;
    assert!(html.contains("pat@example.com"));
    let csrf = hidden(&html, "csrf").unwrap();
    let r = b.post_form("/account/totp", &[("csrf", &csrf)]).await;
    let html = page(r, StatusCode::OK, "TOTP enrolment").await;
    assert!(html.contains("src=\"data:image/png;base64,"));

    // The consent page allows the redirect to the client in form-action.
    let req = AuthRequest::new(&rp, SCOPE);
    let r = b.get(&req.path()).await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example.com;"),
        "{csp}"
    );
    page(r, StatusCode::OK, "consent").await;

    // The logout question, for a browser.
    let path = format!(
        "/auth/logout?client_id={}&post_logout_redirect_uri={}&state=s1",
        rp.id(),
        urlencode(POST_LOGOUT)
    );
    let r = navigate(&app, &b, &path).await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example.com;"),
        "{csp}"
    );
    page(r, StatusCode::OK, "logout").await;

    // The TOTP step of a login, and a login page continuing to a client.
    let totp_user = create_user(&app, "quinn").await;
    enable_totp(&app, &totp_user).await;
    let mut t = Browser::new(&app);
    let login_path = format!("/auth/login?return_to={}", urlencode(&req.path()));
    let r = t.get(&login_path).await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example.com;"),
        "{csp}"
    );
    let html = page(r, StatusCode::OK, "login for a client").await;
    // So does the registration code page (it signs in and continues).
    let code_path = format!("/auth/register/code?return_to={}", urlencode(&req.path()));
    let r = Browser::new(&app).get(&code_path).await;
    let code_csp = header(&r, "content-security-policy").unwrap();
    assert!(
        code_csp.contains("form-action 'self' https://rp.example.com;"),
        "{code_csp}"
    );
    page(r, StatusCode::OK, "code page for a client").await;
    let csrf = hidden(&html, "csrf").unwrap();
    let r = t
        .post_form(
            "/auth/login",
            &[
                ("login", "quinn"),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
                ("return_to", req.path().as_str()),
            ],
        )
        .await;
    page(r, StatusCode::OK, "TOTP step").await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[actix_web::test]
async fn registration_by_the_pages_signs_the_user_in() {
    let (app, sink) = spawn_app_with_mail(|_| {}).await;
    let mut b = Browser::new(&app);
    let html = b.get("/auth/register").await.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let form = [
        ("username", "rosa"),
        ("email", "rosa@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("csrf", csrf.as_str()),
    ];
    let r = b.post_form("/auth/register", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = header(&r, "location").unwrap();
    assert_eq!(to, "/auth/register/code?email=rosa%40example.com");
    let code = sink.mail_to("rosa@example.com").await.code();

    let html = page(b.get(&to).await, StatusCode::OK, "code page").await;
    assert!(html.contains("value=\"rosa@example.com\""));
    let csrf = hidden(&html, "csrf").unwrap();
    // A wrong code: the form again, with the error announced.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = b
        .post_form(
            "/auth/register/code",
            &[
                ("email", "rosa@example.com"),
                ("code", wrong),
                ("csrf", &csrf),
            ],
        )
        .await;
    let html = page(r, StatusCode::BAD_REQUEST, "wrong code").await;
    assert!(html.contains("role=\"alert\""));
    let csrf = hidden(&html, "csrf").unwrap();
    let r = b
        .post_form(
            "/auth/register/code",
            &[
                ("email", "rosa@example.com"),
                ("code", code.as_str()),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&r, "location").as_deref(), Some("/account"));
    assert!(session_cookie_set(&r).is_some(), "signed in");
    let html = page(b.get("/account").await, StatusCode::OK, "account").await;
    assert!(html.contains("rosa"));

    // A taken username: the form again with 409.
    let mut b2 = Browser::new(&app);
    let html = b2.get("/auth/register").await.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let r = b2
        .post_form(
            "/auth/register",
            &[
                ("username", "rosa"),
                ("email", "other@example.com"),
                ("password", PASSWORD),
                ("csrf", csrf.as_str()),
            ],
        )
        .await;
    let html = page(r, StatusCode::CONFLICT, "taken").await;
    assert!(
        html.contains("value=\"other@example.com\""),
        "the form keeps what was typed"
    );
}

#[actix_web::test]
async fn the_reset_page_mails_a_link_and_verified_mail_lands_on_a_page() {
    let (app, sink) = spawn_app_with_mail(|_| {}).await;
    let user = create_user(&app, "sam").await;
    let mut b = Browser::new(&app);
    let html = b.get("/auth/reset").await.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let r = b
        .post_form(
            "/auth/reset",
            &[("email", user.email.as_str()), ("csrf", &csrf)],
        )
        .await;
    let html = page(r, StatusCode::OK, "reset sent").await;
    assert!(html.contains("Check your email"));
    let link = sink.mail_to(&user.email).await.link(&format!(
        "{}/api/oauth/reset_password/confirm?token=",
        app.address
    ));
    let path = link.trim_start_matches(&app.address);
    page(b.get(path).await, StatusCode::OK, "new password").await;

    // The default landing page of a verification link.
    let mut u = logged_in(&app, &create_unverified(&app, "tess").await).await;
    let r = u.post_json("/api/oauth/send_email_link", &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let link = sink
        .mail_to("tess@example.com")
        .await
        .link(&format!("{}/api/oauth/valid_email/", app.address));
    let r = u.get(link.trim_start_matches(&app.address)).await;
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    let to = header(&r, "location").unwrap();
    assert_eq!(to, format!("{}/auth/email-verified", app.address));
    let html = page(
        u.get("/auth/email-verified").await,
        StatusCode::OK,
        "verified",
    )
    .await;
    assert!(html.contains("verified"));
}

async fn create_unverified(app: &TestApp, name: &str) -> TestUser {
    let u = create_user(app, name).await;
    let r = app
        .admin(
            reqwest::Method::PATCH,
            &format!("/admin/users/{}", u.id),
            Some(json!({"email_verified": false})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    u
}

#[actix_web::test]
async fn the_account_page_enrols_totp() {
    let app = spawn_app().await;
    let user = create_user(&app, "uma").await;
    let mut b = logged_in(&app, &user).await;
    // Signed out: to the login page.
    let r = Browser::new(&app).get("/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/auth/login?return_to=%2Faccount")
    );

    let html = b.get("/account").await.text().await.unwrap();
    assert!(html.contains("Two-step verification</dt><dd>Off"));
    let csrf = hidden(&html, "csrf").unwrap();
    let html = b
        .post_form("/account/totp", &[("csrf", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    let secret = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    let csrf = hidden(&html, "csrf").unwrap();
    let good = totp_code(&app, &secret, 0);
    let bad = if good == "000000" { "111111" } else { "000000" };
    let r = b
        .post_form("/account/totp/confirm", &[("code", bad), ("csrf", &csrf)])
        .await;
    let html = page(r, StatusCode::UNAUTHORIZED, "wrong TOTP code").await;
    assert!(html.contains(&secret), "the same key again");
    let r = b
        .post_form(
            "/account/totp/confirm",
            &[("code", good.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&r, "location").as_deref(),
        Some("/account?done=totp_on")
    );
    let html = b.get("/account?done=totp_on").await.text().await.unwrap();
    assert!(html.contains("Two-step verification is on."), "{html}");
    assert!(app.engine.users.get(&user.id).unwrap().totp_enabled());
}
