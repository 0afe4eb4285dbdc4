//! Browser login (password, then TOTP when enrolled) and RP-initiated
//! logout (SPEC §1-§2).

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
