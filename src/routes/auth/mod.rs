//! Browser login (password, then TOTP when enrolled) and RP-initiated
//! logout (SPEC §1-§2).

pub mod federation;
pub mod login;
pub mod logout;

use actix_web::http::header;
use actix_web::HttpRequest;

/// Whether the request is a browser form post (else a JSON API call).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Whether the request is a browser navigation (it accepts HTML).
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A `return_to` that stays on this server: a path, never `//host` or
/// `/\host` (open-redirect tricks), no control characters.
pub fn safe_return_to(r: Option<&str>) -> Option<&str> {
    r.filter(|r| {
        r.starts_with('/')
            && !r.starts_with("//")
            && !r.starts_with("/\\")
            && r.len() <= 4096
            && !r.chars().any(|c| c.is_control() || c == '\\')
    })
}

/// The CSP sources a form continuing to `return_to` may end on: for an
/// authorization request of a known client, its redirect URI's origin (the
/// login or TOTP form redirects there when no consent is needed).
pub fn return_to_form_targets(
    state: &crate::startup::AppState,
    return_to: Option<&str>,
) -> Vec<String> {
    let Some(query) = return_to.and_then(|r| r.strip_prefix("/oauth2/authorize?")) else {
        return Vec::new();
    };
    let mut client_id = None;
    let mut redirect_uri = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "client_id" => client_id = Some(v.into_owned()),
            "redirect_uri" => redirect_uri = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(client) = client_id.and_then(|c| state.engine.clients.get(&c)) else {
        return Vec::new();
    };
    let uri = match redirect_uri {
        Some(r) => tessera_actors::domain::find_redirect(&client.redirect_uris, &r).map(|_| r),
        None => match client.redirect_uris.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        },
    };
    uri.and_then(|u| crate::pages::csp_source(&u))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_local() {
        assert_eq!(
            safe_return_to(Some("/oauth2/authorize?x=1")),
            Some("/oauth2/authorize?x=1")
        );
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "https://evil.com",
            "evil",
            "/a\nb",
            "/a\\b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }
}
