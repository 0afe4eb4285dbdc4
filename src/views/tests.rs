//! Unit tests of the page views (moved out of `views/mod.rs` unchanged).

use super::*;
use actix_web::body::MessageBody;

const EVIL: &str = "\"><script>alert(1)</script>";

fn body(resp: HttpResponse) -> String {
    match resp.into_body().try_into_bytes() {
        Ok(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
        Err(_) => panic!("page body is not in memory"),
    }
}

fn header(resp: &HttpResponse, name: header::HeaderName) -> &str {
    resp.headers().get(name).unwrap().to_str().unwrap()
}

fn assert_headers(resp: &HttpResponse) {
    assert_eq!(
        header(resp, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(resp, header::CACHE_CONTROL), "no-store");
    assert_eq!(header(resp, header::X_FRAME_OPTIONS), "DENY");
    assert_eq!(header(resp, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header(resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let csp = header(resp, header::CONTENT_SECURITY_POLICY);
    assert!(csp.starts_with("default-src 'none'"));
    assert!(csp.contains("frame-ancestors 'none'"));
}

/// The hostile input appears only escaped.
fn assert_escaped(html: &str) {
    assert!(!html.contains("<script"), "unescaped markup in {html}");
    assert!(!html.contains(EVIL), "raw input in {html}");
    assert!(
        html.contains("&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"),
        "escaped input missing in {html}"
    );
}

fn assert_common(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("src="));
}

/// The page without its one script: the passkey script, allowed by the
/// policy's nonce and nothing else.
fn without_passkey_script(html: &str, csp: &str) -> String {
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a script nonce in the policy");
    assert!(csp.ends_with("; connect-src 'self'"), "{csp}");
    let tag = format!(r#"<script nonce="{nonce}" src="/assets/passkeys.js"></script>"#);
    assert_eq!(html.matches(&tag).count(), 1, "{html}");
    html.replace(&tag, "")
}

#[test]
fn login_page() {
    let p = LoginPage {
        return_to: EVIL,
        application_id: Some("app-1"),
        login_hint: None,
        error: Some(EVIL),
        csrf: "csrf-token",
        providers: &[],
    };
    let resp = login_with_status(&p, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_headers(&resp);
    let csp = header(&resp, header::CONTENT_SECURITY_POLICY).to_string();
    assert!(csp.contains("form-action 'self';"));
    let html = without_passkey_script(&body(resp), &csp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(html.contains(r#"action="/auth/login""#));
    for field in [
        r#"name="login""#,
        r#"name="password""#,
        r#"name="return_to""#,
        r#"name="applicationId" value="app-1""#,
        r#"name="csrf" value="csrf-token""#,
        r#"<label for="login">"#,
        r#"<label for="password">"#,
        r#"autocomplete="username webauthn""#,
        r#"autocomplete="current-password""#,
        r#"role="alert""#,
    ] {
        assert!(html.contains(field), "missing {field}");
    }
    assert_eq!(html.matches("autofocus").count(), 1);

    let ok = login(&LoginPage {
        return_to: "/oauth2/authorize?client_id=a",
        application_id: None,
        login_hint: Some("ada@example.com"),
        error: None,
        csrf: "t",
        providers: &[],
    });
    assert_eq!(ok.status(), StatusCode::OK);
    let html = body(ok);
    assert!(!html.contains("applicationId"));
    assert!(!html.contains("role=\"alert\""));
    assert!(html.contains(r#"value="ada@example.com""#));
    assert_eq!(html.matches("autofocus").count(), 1);
}

#[test]
fn login_page_offers_upstream_providers_that_come_back_to_return_to() {
    let none = body(login(&LoginPage {
        return_to: "/oauth2/authorize?client_id=a&x=1",
        application_id: None,
        login_hint: None,
        error: None,
        csrf: "t",
        providers: &[],
    }));
    assert!(!none.contains("/auth/openid"));
    let html = body(login(&LoginPage {
        return_to: "/oauth2/authorize?client_id=a&x=1",
        application_id: None,
        login_hint: None,
        error: None,
        csrf: "t",
        providers: &["corp", "a<b"],
    }));
    assert!(
        html.contains("/auth/openid?client_id=corp&#38;redirect_uri=%2Foauth2%2Fauthorize%3Fclient_id%3Da%26x%3D1"),
        "{html}"
    );
    assert!(html.contains(">corp</a>"));
    assert!(!html.contains("a<b"), "escaped");
}

#[test]
fn mfa_page() {
    let p = MfaPage {
        return_to: EVIL,
        application_id: Some(EVIL),
        error: Some("Wrong code"),
        csrf: "csrf-token",
        totp: true,
        passkey: false,
    };
    let resp = mfa(&p, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_headers(&resp);
    let html = body(resp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(html.contains(r#"action="/auth/login/callback""#));
    for field in [
        r#"name="code""#,
        r#"<label for="code">"#,
        r#"inputmode="numeric""#,
        r#"autocomplete="one-time-code""#,
        r#"name="return_to""#,
        r#"name="applicationId""#,
        r#"name="csrf" value="csrf-token""#,
        r#"role="alert""#,
        "autofocus",
        // The restart link is percent-encoded, then HTML-escaped.
        "/auth/login?return_to=%22%3E%3Cscript%3E",
    ] {
        assert!(html.contains(field), "missing {field}");
    }
}

#[test]
fn mfa_page_with_a_passkey_only() {
    let p = MfaPage {
        return_to: EVIL,
        application_id: Some(EVIL),
        error: None,
        csrf: "csrf-token",
        totp: false,
        passkey: true,
    };
    let resp = mfa(&p, StatusCode::OK);
    assert_headers(&resp);
    let csp = header(&resp, header::CONTENT_SECURITY_POLICY).to_string();
    let html = without_passkey_script(&body(resp), &csp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(!html.contains(r#"name="code""#), "no TOTP form");
    assert!(html.contains("data-passkey-mfa") && html.contains("Use a passkey"));
    assert!(html.contains(r#"data-csrf="csrf-token""#));
    assert_eq!(html.matches("autofocus").count(), 1);
}

#[test]
fn consent_page() {
    let scopes = [
        ("openid", scope_description("openid")),
        (EVIL, scope_description(EVIL)),
    ];
    let hidden = [
        ("client_id", "c1"),
        ("state", EVIL),
        ("consent", "allow"),
        ("csrf", "forged"),
    ];
    let p = ConsentPage {
        client_name: EVIL,
        client_id: "c1",
        scopes: &scopes,
        user: "ada",
        csrf: "csrf-token",
        form_action: "/oauth2/authorize",
        hidden: &hidden,
        // A self-registered client's redirect URI is shown, escaped too.
        self_registered: Some(EVIL),
    };
    let resp = consent(&p);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_headers(&resp);
    let html = body(resp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(html.contains(r#"action="/oauth2/authorize""#));
    for field in [
        r#"name="client_id" value="c1""#,
        r#"name="state""#,
        r#"name="csrf" value="csrf-token""#,
        r#"name="consent" value="allow""#,
        r#"name="consent" value="deny""#,
        scope_description("openid"),
    ] {
        assert!(html.contains(field), "missing {field}");
    }
    // Carried-through pairs cannot shadow this form's own fields.
    assert!(!html.contains("forged"));
    assert_eq!(html.matches(r#"name="consent""#).count(), 2);
    assert_eq!(html.matches(r#"name="csrf""#).count(), 1);
}

#[test]
fn error_page() {
    let resp = error(&ErrorPage {
        status: 400,
        error: "invalid_request",
        description: EVIL,
    });
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_headers(&resp);
    let html = body(resp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(html.contains("invalid_request"));
    assert!(html.contains("Bad Request"));
    assert!(html.contains(r#"role="alert""#));

    let bogus = error(&ErrorPage {
        status: 42,
        error: "x",
        description: "y",
    });
    assert_eq!(bogus.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn message_page() {
    let resp = message(&MessagePage {
        title: "Signed out",
        message: EVIL,
        link: Some(("/auth/login?a=1&b=2", "Sign in again")),
    });
    assert_eq!(resp.status(), StatusCode::OK);
    assert_headers(&resp);
    let html = body(resp);
    assert_common(&html);
    assert_escaped(&html);
    assert!(html.contains("Sign in again"));
    assert!(html.contains("href=\"/auth/login?a=1&#38;b=2\""));

    let html = body(message(&MessagePage {
        title: "t",
        message: "m",
        link: Some(("javascript:alert(1)", "click")),
    }));
    assert!(!html.contains("javascript:"));
    assert!(!html.contains("click"));
}

#[test]
fn form_targets_widen_form_action_only() {
    assert_eq!(
        csp_source("https://App.example:8443/cb?x=1#f").as_deref(),
        Some("https://app.example:8443")
    );
    assert_eq!(
        csp_source("http://127.0.0.1:5000/cb").as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(
        csp_source("http://user@[::1]:80/").as_deref(),
        Some("http://[::1]:80")
    );
    assert_eq!(
        csp_source("com.example.app:/oauth").as_deref(),
        Some("com.example.app:")
    );
    for bad in [
        "https://a.example;script-src *",
        "https:/no-authority",
        "1abc:/x",
        "https://a b/",
        "",
        "nocolon",
    ] {
        assert_eq!(csp_source(bad), None, "{bad}");
    }
    let mut r = login(&LoginPage {
        return_to: "",
        application_id: None,
        login_hint: None,
        error: None,
        csrf: "t",
        providers: &[],
    });
    allow_form_targets(
        &mut r,
        &["https://rp.example".into(), "'unsafe-inline'".into()],
    );
    let csp = header(&r, header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("form-action 'self' https://rp.example;"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline' ;") && !csp.contains("'self' 'unsafe-inline'; frame"));
    assert!(csp.contains("frame-ancestors 'none'"));
}

#[test]
fn scope_descriptions() {
    assert_ne!(scope_description("openid"), scope_description("email"));
    assert_eq!(
        scope_description("billing:write"),
        scope_description("anything-else")
    );
}
