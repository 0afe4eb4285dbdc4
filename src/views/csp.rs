//! The Content-Security-Policy of every page, and its widening for forms
//! whose submission ends on a client's origin.

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;

/// The policy of every page. `form-action 'self'` is widened, page by page,
/// with [`allow_form_targets`] to the origins a form submission may end up
/// on: Chromium applies `form-action` to every redirect that follows a
/// submission (w3c/webappsec-csp#8), and a consent or login form ends in a
/// redirect to the client's `redirect_uri` on another origin.
pub(super) const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The same policy for pages with a form (kept apart so the call sites say
/// which pages post somewhere).
pub(super) const FORM_CSP: &str = CSP;

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

pub(super) fn is_csp_source(s: &str) -> bool {
    !s.is_empty()
        && !s.contains('\'')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+:/[]".contains(&b))
}
