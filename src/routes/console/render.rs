//! What every console page shares: the frame around it (navigation, who
//! is signed in, the sign-out form), its policy with a fresh script nonce,
//! and the small answers (a redirect, an error, a refused form).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::session::{Console, BASE};
use crate::error::ApiError;

/// The policy of every console page: the one of the other pages, plus
/// scripts that carry this response's nonce and nothing else.
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         script-src 'nonce-{nonce}'; connect-src 'none'"
    )
}

/// The frame of a page: who is signed in, the sign-out form's token, the
/// section lit in the navigation and the nonce of the page's script.
pub struct Chrome {
    pub actor: String,
    pub csrf: String,
    pub section: &'static str,
    pub nonce: String,
    /// A sentence shown above the page (an action's outcome).
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// The sections of the navigation: (key, path under the console, label).
pub const SECTIONS: &[(&str, &str, &str)] = &[
    ("overview", "", "Overview"),
    ("clients", "/clients", "Clients"),
    ("users", "/users", "Users"),
    ("sessions", "/sessions", "Sessions"),
    ("tokens", "/tokens", "Tokens"),
    ("entities", "/entities", "Entities"),
    ("keys", "/keys", "Signing keys"),
    ("mail", "/mail", "Mail"),
    ("cluster", "/cluster", "Cluster"),
    ("audit", "/audit", "Audit log"),
];

impl Chrome {
    pub fn new(c: &Console, section: &'static str) -> Chrome {
        Chrome {
            actor: c.display_name(),
            csrf: c.csrf.clone(),
            section,
            nonce: new_nonce(),
            notice: None,
            error: None,
        }
    }

    pub fn notice(mut self, n: Option<impl Into<String>>) -> Chrome {
        self.notice = n.map(Into::into);
        self
    }

    pub fn error(mut self, e: Option<impl Into<String>>) -> Chrome {
        self.error = e.map(Into::into);
        self
    }

    /// `(href, label, current)` for each section.
    pub fn nav(&self) -> Vec<(String, &'static str, bool)> {
        SECTIONS
            .iter()
            .map(|(key, path, label)| (format!("{BASE}{path}"), *label, *key == self.section))
            .collect()
    }
}

pub fn new_nonce() -> String {
    tessera_actors::secret::b64url(&tessera_actors::secret::random_bytes::<16>())
}

/// A console page: the view drawn with the headers of every page, and a
/// policy whose scripts must carry `nonce`.
pub fn page<T: Template>(status: StatusCode, nonce: &str, view: &T) -> HttpResponse {
    let mut resp = crate::views::page(status, view);
    if let Ok(v) = HeaderValue::from_str(&policy(nonce)) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// `303` to a console path (`""` is the overview), with a notice code
/// the page turns into a fixed sentence.
pub fn to(path: &str, notice: Option<&str>) -> HttpResponse {
    let mut location = format!("{BASE}{path}");
    if let Some(n) = notice {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str("done=");
        location.push_str(n);
    }
    crate::browser::see_other(&location)
}

/// Not signed in to the console: to its sign-in page.
pub fn to_signin() -> HttpResponse {
    crate::browser::see_other(&format!("{BASE}/signin"))
}

/// A form without the session's token: refused, nothing done.
pub fn csrf_refused() -> HttpResponse {
    crate::views::csrf_refused()
}

/// A form posted without a console session: refused, nothing done.
pub fn not_signed_in() -> HttpResponse {
    crate::views::error(&crate::views::ErrorPage {
        status: 403,
        error: "console_sign_in_required",
        description: "Sign in to the admin console first.",
    })
}

/// An operation's error as a console page.
pub fn failed(e: &ApiError) -> HttpResponse {
    crate::browser::retry_after(crate::views::api_error(e), e)
}

/// Short, fixed sentences for the notice codes of [`to`]: a query string
/// never puts its own text on a page.
pub fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "client_saved" => "The client was saved.",
        "client_deleted" => "The client was deleted.",
        "user_saved" => "The user was updated.",
        "sessions_ended" => "The sessions were ended.",
        "session_ended" => "The session was ended.",
        "totp_reset" => "Two-step verification was reset.",
        "passkeys_removed" => "The passkeys were removed.",
        "role_granted" => "The admin role was granted.",
        "role_revoked" => "The admin role was revoked.",
        "token_revoked" => "The token was revoked.",
        "grant_revoked" => "The grant was revoked: every token issued from it is dead.",
        "rotated" => "The signing keys were rotated.",
        "entity_saved" => "The entity was saved.",
        "entity_deleted" => "The entity was deleted.",
        "member_saved" => "The membership was saved.",
        "member_removed" => "The member was removed.",
        "apikey_revoked" => "The API key was revoked.",
        "mail_retried" => "The message was queued again.",
        "mail_dropped" => "The message was dropped.",
        "signed_in" => "You are signed in to the console.",
        _ => return None,
    })
}

/// A unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Whether `hay` matches a search `q` (case-insensitive; empty matches).
pub fn matches(q: &str, hay: &[&str]) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty() || hay.iter().any(|h| h.to_lowercase().contains(&q))
}
