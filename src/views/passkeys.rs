//! The passkey script's place in a page's policy, and the account page
//! that lists, adds, renames and removes passkeys.
//!
//! WebAuthn runs in the browser, so the pages that use it carry one small
//! script of this server (`/assets/passkeys.js`), allowed by a fresh nonce
//! per page; it talks only to this origin (`connect-src 'self'`). Every
//! other page keeps the policy without scripts.

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;
use askama::Template;

/// A fresh policy nonce for one page.
pub fn script_nonce() -> String {
    tessera_actors::secret::b64url(&tessera_actors::secret::random_bytes::<16>())
}

/// Let the page run the script carrying `nonce`, and fetch from this
/// origin only.
pub fn allow_script(resp: &mut HttpResponse, nonce: &str) {
    let Some(current) = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let policy = format!("{current}; script-src 'nonce-{nonce}'; connect-src 'self'");
    if let Ok(v) = HeaderValue::from_str(&policy) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// One registered passkey as the page lists it.
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    /// `2026-12-07`.
    pub created: String,
    pub last_used: Option<String>,
    /// "Synced passkey" or "Device-bound passkey".
    pub kind: &'static str,
}

/// `/account/passkeys`: the list, a rename and a remove form per passkey
/// (POST `/account/passkeys/rename` and `/account/passkeys/remove` with
/// `csrf`), and the "Add a passkey" form the script drives.
#[derive(Template)]
#[template(path = "account/passkeys.html")]
pub struct PasskeysPage<'a> {
    pub username: &'a str,
    pub passkeys: &'a [PasskeyRow],
    pub csrf: &'a str,
    pub nonce: &'a str,
    /// The session's login is recent enough to add or remove passkeys.
    pub recent: bool,
    /// Where to sign in again (comes back here).
    pub reauth_href: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// Whether passkeys can be used on this server (a relying party id is
    /// configured or derived).
    pub available: bool,
}
