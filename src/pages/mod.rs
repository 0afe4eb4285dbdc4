//! Server-rendered browser pages: login, two-step verification, consent,
//! errors and plain messages.
//!
//! Templates live in `templates/` at the crate root (askama's default) and
//! all extend `base.html`, which carries the only styling (inline CSS, no
//! external assets, no JavaScript). askama HTML-escapes every `{{ }}` value;
//! nothing here uses `|safe`, so callers may pass untrusted strings.
//!
//! Each function renders to a `String` and wraps it in an [`HttpResponse`]
//! with the security headers every page needs (see [`respond`]). Handlers
//! own routing, CSRF tokens and what the forms do; this module only draws.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// The login form. POSTs `login`, `password`, `return_to`, `applicationId`
/// (only when given) and `csrf` to `/auth/login`.
pub struct LoginPage<'a> {
    pub return_to: &'a str,
    pub application_id: Option<&'a str>,
    /// Pre-fills the login field; focus then starts on the password.
    pub login_hint: Option<&'a str>,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The TOTP step of a login. POSTs `code`, `return_to`, `applicationId`
/// (only when given) and `csrf` to `/auth/login/callback`.
pub struct MfaPage<'a> {
    pub return_to: &'a str,
    pub application_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The consent screen. POSTs the `hidden` pairs, `csrf` and
/// `consent=allow|deny` (the button pressed) to `form_action`.
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    /// `(scope, human description)`; see [`scope_description`].
    pub scopes: &'a [(&'a str, &'a str)],
    /// Who is signed in (username or email), shown so the user can tell.
    pub user: &'a str,
    pub csrf: &'a str,
    pub form_action: &'a str,
    /// Authorize parameters carried through as hidden inputs. Pairs named
    /// `csrf` or `consent` are dropped: those names belong to this form.
    pub hidden: &'a [(&'a str, &'a str)],
}

/// An error shown to the browser instead of JSON (e.g. an authorize request
/// without a usable `redirect_uri`).
pub struct ErrorPage<'a> {
    /// The HTTP status; an invalid code is answered as 500.
    pub status: u16,
    /// A machine code such as `invalid_request`.
    pub error: &'a str,
    pub description: &'a str,
}

/// A plain notice ("You are signed out", "Email verified", ...).
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// `(href, text)`. Rendered only for a relative path or an http(s) URL.
    pub link: Option<(&'a str, &'a str)>,
}

/// The policy of pages without a form.
const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of pages with a form: the same without `form-action`.
/// Chrome and Safari apply `form-action` to every redirect that follows a
/// submission (w3c/webappsec-csp#8), and these submissions end in a redirect
/// to the client's `redirect_uri` on another origin: `'self'` would block
/// the end of every authorization. The forms' targets are fixed by the
/// server and the pages run no script, so nothing is lost.
const FORM_CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView<'a> {
    p: &'a LoginPage<'a>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaView<'a> {
    p: &'a MfaPage<'a>,
    /// Back to the login page with the same `return_to`.
    restart_href: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentView<'a> {
    p: &'a ConsentPage<'a>,
    hidden: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    p: &'a ErrorPage<'a>,
    status: u16,
    title: &'static str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageView<'a> {
    p: &'a MessagePage<'a>,
    link: Option<(&'a str, &'a str)>,
}

/// The login page, `200`.
pub fn login(p: &LoginPage) -> HttpResponse {
    login_with_status(p, StatusCode::OK)
}

/// The login page with another status, e.g. `401` or `429` with `p.error`.
pub fn login_with_status(p: &LoginPage, status: StatusCode) -> HttpResponse {
    respond(status, FORM_CSP, LoginView { p }.render())
}

/// The two-step verification page.
pub fn mfa(p: &MfaPage, status: StatusCode) -> HttpResponse {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", p.return_to);
    if let Some(app) = p.application_id {
        query.append_pair("applicationId", app);
    }
    let restart_href = format!("/auth/login?{}", query.finish());
    respond(status, FORM_CSP, MfaView { p, restart_href }.render())
}

/// The consent page, `200`.
pub fn consent(p: &ConsentPage) -> HttpResponse {
    let hidden = p
        .hidden
        .iter()
        .filter(|(name, _)| *name != "csrf" && *name != "consent")
        .copied()
        .collect();
    respond(StatusCode::OK, FORM_CSP, ConsentView { p, hidden }.render())
}

/// An error page with status `p.status`.
pub fn error(p: &ErrorPage) -> HttpResponse {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let view = ErrorView {
        p,
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
    };
    respond(status, CSP, view.render())
}

/// A message page, `200`.
pub fn message(p: &MessagePage) -> HttpResponse {
    let link = p.link.filter(|(href, _)| is_plain_href(href));
    respond(StatusCode::OK, CSP, MessageView { p, link }.render())
}

/// A human description of a scope for the consent page.
pub fn scope_description(scope: &str) -> &'static str {
    match scope {
        "openid" => "Confirm your identity and sign you in",
        "profile" => "See your basic profile (name and username)",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Keep access while you are not using it",
        _ => "Access part of your account on your behalf",
    }
}

/// A relative path or an absolute http(s) URL: never `javascript:` and
/// friends (escaping does not make those harmless in an `href`).
fn is_plain_href(href: &str) -> bool {
    let lower = href.trim_start().to_ascii_lowercase();
    (lower.starts_with('/') && !lower.starts_with("//"))
        || lower.starts_with("https://")
        || lower.starts_with("http://")
}

/// Wraps rendered HTML with the headers every page carries.
fn respond(status: StatusCode, csp: &'static str, html: askama::Result<String>) -> HttpResponse {
    match html {
        Ok(body) => with_headers(status, csp).body(body),
        Err(e) => {
            // Templates are checked at compile time; a render error means a
            // formatter failed, which is a bug, not a user error.
            tracing::error!(error = %e, "rendering a page failed");
            with_headers(StatusCode::INTERNAL_SERVER_ERROR, CSP).body(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Server error</title></head><body><h1>Server error</h1>\
                 <p>Something went wrong. Please try again.</p></body></html>",
            )
        }
    }
}

fn with_headers(status: StatusCode, csp: &'static str) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::build(status);
    r.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    ))
    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
    .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
    .insert_header((
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    ))
    .insert_header((
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .insert_header((
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ));
    r
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn login_page() {
        let p = LoginPage {
            return_to: EVIL,
            application_id: Some("app-1"),
            login_hint: None,
            error: Some(EVIL),
            csrf: "csrf-token",
        };
        let resp = login_with_status(&p, StatusCode::UNAUTHORIZED);
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_headers(&resp);
        assert!(!header(&resp, header::CONTENT_SECURITY_POLICY).contains("form-action"));
        let html = body(resp);
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
            r#"autocomplete="username""#,
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
        });
        assert_eq!(ok.status(), StatusCode::OK);
        let html = body(ok);
        assert!(!html.contains("applicationId"));
        assert!(!html.contains("role=\"alert\""));
        assert!(html.contains(r#"value="ada@example.com""#));
        assert_eq!(html.matches("autofocus").count(), 1);
    }

    #[test]
    fn mfa_page() {
        let p = MfaPage {
            return_to: EVIL,
            application_id: Some(EVIL),
            error: Some("Wrong code"),
            csrf: "csrf-token",
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
    fn scope_descriptions() {
        assert_ne!(scope_description("openid"), scope_description("email"));
        assert_eq!(
            scope_description("billing:write"),
            scope_description("anything-else")
        );
    }
}
