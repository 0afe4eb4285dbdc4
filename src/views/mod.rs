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

pub mod user;

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
    /// Upstream OpenID providers (`/auth/openid`) offered as buttons.
    pub providers: &'a [&'a str],
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

/// The policy of every page. `form-action 'self'` is widened, page by page,
/// with [`allow_form_targets`] to the origins a form submission may end up
/// on: Chromium applies `form-action` to every redirect that follows a
/// submission (w3c/webappsec-csp#8), and a consent or login form ends in a
/// redirect to the client's `redirect_uri` on another origin.
const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The same policy for pages with a form (kept apart so the call sites say
/// which pages post somewhere).
const FORM_CSP: &str = CSP;

/// Widen the `form-action` of a page's policy by `sources` (see
/// [`csp_source`]); anything that is not a plain source is dropped.
pub fn allow_form_targets(resp: &mut HttpResponse, sources: &[String]) {
    let extra: Vec<&str> = sources
        .iter()
        .map(String::as_str)
        .filter(|s| is_csp_source(s))
        .collect();
    if extra.is_empty() {
        return;
    }
    let Some(current) = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let widened = current.replacen(
        "form-action 'self'",
        &format!("form-action 'self' {}", extra.join(" ")),
        1,
    );
    if let Ok(v) = HeaderValue::from_str(&widened) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// The CSP source expression matching where `uri` points: `scheme://host[:port]`
/// for http(s), `scheme:` for a private-use scheme (native apps). `None` for
/// anything else.
pub fn csp_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        || !scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
    {
        return None;
    }
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}:"));
    }
    let authority = rest
        .strip_prefix("//")?
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty()
        || !host_port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return None;
    }
    Some(format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

fn is_csp_source(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\'')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+:/[]".contains(&b))
}

/// A page of its own (registration, account, ...): any askama view,
/// served with the headers and policy of every page.
pub fn page<T: Template>(status: StatusCode, view: &T) -> HttpResponse {
    respond(status, FORM_CSP, view.render())
}

/// Registration: POSTs `username`, `email`, `password`, `password_confirm`,
/// `return_to`, `applicationId` (when given) and `csrf` to `/auth/register`.
#[derive(Template)]
#[template(path = "auth/register.html")]
pub struct RegisterPage<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub return_to: &'a str,
    pub application_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    /// The login page with the same `return_to`.
    pub login_href: &'a str,
}

/// The registration code: POSTs `email`, `code`, `return_to` and `csrf` to
/// `/auth/register/code`.
#[derive(Template)]
#[template(path = "auth/register_code.html")]
pub struct RegisterCodePage<'a> {
    pub email: &'a str,
    pub return_to: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The password-reset request: POSTs `email` and `csrf` to `/auth/reset`.
#[derive(Template)]
#[template(path = "auth/reset.html")]
pub struct ResetRequestPage<'a> {
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

/// The new-password form the mailed reset link opens. POSTs `token`,
/// `password` and `password_confirm` to `/api/oauth/reset_password/confirm`
/// (the unguessable token is what a forged form cannot supply).
#[derive(Template)]
#[template(path = "account/reset_password.html")]
pub struct ResetPasswordPage<'a> {
    pub token: &'a str,
    pub error: Option<&'a str>,
}

/// RP-initiated logout's question. POSTs the `hidden` pairs, `csrf` and
/// `confirm=yes|no` to `/auth/logout`.
#[derive(Template)]
#[template(path = "auth/logout.html")]
pub struct LogoutPage<'a> {
    pub user: &'a str,
    pub client_name: Option<&'a str>,
    pub hidden: &'a [(&'a str, &'a str)],
    pub csrf: &'a str,
}

/// The signed-in user's account. Its forms POST `csrf` to `/account/totp`
/// (start TOTP enrolment) and `/auth/logout`.
#[derive(Template)]
#[template(path = "account/index.html")]
pub struct AccountPage<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub totp_enabled: bool,
    pub notice: Option<&'a str>,
    pub csrf: &'a str,
}

/// TOTP enrolment in progress: the key as a QR code (an inline PNG) and as
/// text; POSTs `code` and `csrf` to `/account/totp/confirm`.
#[derive(Template)]
#[template(path = "account/totp.html")]
pub struct TotpPage<'a> {
    pub secret: &'a str,
    pub otpauth_url: &'a str,
    pub qr_png_base64: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView<'a> {
    p: &'a LoginPage<'a>,
    /// The registration page with the same `return_to` and client.
    register_href: String,
    /// (provider name, `/auth/openid` link that comes back to `return_to`).
    federated: Vec<(&'a str, String)>,
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
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !p.return_to.is_empty() {
        query.append_pair("return_to", p.return_to);
    }
    if let Some(app) = p.application_id {
        query.append_pair("applicationId", app);
    }
    let query = query.finish();
    let register_href = if query.is_empty() {
        "/auth/register".to_string()
    } else {
        format!("/auth/register?{query}")
    };
    let federated = p
        .providers
        .iter()
        .map(|name| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            q.append_pair("client_id", name);
            if !p.return_to.is_empty() {
                q.append_pair("redirect_uri", p.return_to);
            }
            (*name, format!("/auth/openid?{}", q.finish()))
        })
        .collect();
    respond(
        status,
        FORM_CSP,
        LoginView {
            p,
            register_href,
            federated,
        }
        .render(),
    )
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

/// An API error as a page: its status, code and message, and `Retry-After`
/// when it has one.
pub fn api_error(e: &crate::error::ApiError) -> HttpResponse {
    let mut r = error(&ErrorPage {
        status: e.status.as_u16(),
        error: e.code,
        description: &e.message,
    });
    if let Some(secs) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The `403` page of a form whose CSRF token is missing or wrong.
pub fn csrf_refused() -> HttpResponse {
    error(&ErrorPage {
        status: 403,
        error: "csrf_token_invalid",
        description: "The form expired or did not come from this site. Go back, reload the page and try again.",
    })
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
            providers: &[],
        };
        let resp = login_with_status(&p, StatusCode::UNAUTHORIZED);
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_headers(&resp);
        assert!(header(&resp, header::CONTENT_SECURITY_POLICY).contains("form-action 'self';"));
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
        assert!(
            !csp.contains("unsafe-inline' ;") && !csp.contains("'self' 'unsafe-inline'; frame")
        );
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
}
