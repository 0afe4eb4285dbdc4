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
//!
//! - `csp.rs` — the policy of every page and its widening for forms.
//! - `respond.rs` — the headers every page carries; [`page`].
//! - `account.rs` — the account-flow pages and the landing page.
//! - here — login, two-step verification, consent, errors, messages.

mod account;
mod csp;
mod passkeys;
mod respond;
#[cfg(test)]
mod tests;

pub mod user;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

pub use account::*;
pub use csp::{allow_form_targets, csp_source};
use csp::{CSP, FORM_CSP};
pub use passkeys::{allow_script, script_nonce, PasskeyRow, PasskeysPage};
pub use respond::page;
use respond::respond;

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
    /// The user has TOTP: the code form is shown.
    pub totp: bool,
    /// The user has a passkey: the "Use a passkey" button is shown.
    pub passkey: bool,
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
    /// For a client that registered itself (RFC 7591): where the answer
    /// goes. The page says its name is unverified and shows this.
    pub self_registered: Option<&'a str>,
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

#[derive(Template)]
#[template(path = "login.html")]
struct LoginView<'a> {
    p: &'a LoginPage<'a>,
    /// The policy nonce of the passkey script.
    nonce: String,
    /// The registration page with the same `return_to` and client.
    register_href: String,
    /// (provider name, `/auth/openid` link that comes back to `return_to`).
    federated: Vec<(&'a str, String)>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaView<'a> {
    p: &'a MfaPage<'a>,
    /// The policy nonce of the passkey script.
    nonce: String,
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
    let nonce = passkeys::script_nonce();
    let mut resp = respond(
        status,
        FORM_CSP,
        LoginView {
            p,
            register_href,
            federated,
            nonce: nonce.clone(),
        }
        .render(),
    );
    passkeys::allow_script(&mut resp, &nonce);
    resp
}

/// The two-step verification page.
pub fn mfa(p: &MfaPage, status: StatusCode) -> HttpResponse {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", p.return_to);
    if let Some(app) = p.application_id {
        query.append_pair("applicationId", app);
    }
    let restart_href = format!("/auth/login?{}", query.finish());
    let nonce = passkeys::script_nonce();
    let view = MfaView {
        p,
        restart_href,
        nonce: nonce.clone(),
    };
    let mut resp = respond(status, FORM_CSP, view.render());
    if p.passkey {
        passkeys::allow_script(&mut resp, &nonce);
    }
    resp
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

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostView<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
    nonce: &'a str,
}

/// OAuth 2.0 Form Post Response Mode: a page that POSTs `fields` to the
/// client's `action` (its redirect URI) by itself. Its one script runs
/// only by the policy's nonce, fresh per page; without script, the user
/// presses the button.
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> HttpResponse {
    let nonce = tessera_actors::secret::b64url(&tessera_actors::secret::random_bytes::<16>());
    let html = FormPostView {
        action,
        fields,
        nonce: &nonce,
    }
    .render();
    let mut resp = respond(StatusCode::OK, FORM_CSP, html);
    let policy = format!("{FORM_CSP}; script-src 'nonce-{nonce}'");
    if let Ok(v) = HeaderValue::from_str(&policy) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    allow_form_targets(
        &mut resp,
        &csp_source(action).into_iter().collect::<Vec<_>>(),
    );
    resp
}
