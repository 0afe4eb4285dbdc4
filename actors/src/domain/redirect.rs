//! Redirect URI matching (OAuth 2.1 §2.3.1 / RFC 9700 §4.1.3): byte-for-byte
//! equality with a registered URI. The one exception (RFC 8252 §7.3): for
//! `http` loopback IP literals (`127.0.0.1`, `[::1]`) the port may differ.
//!
//! And what may be registered at all (OAuth 2.1 §2.3.1): `https`, a
//! private-use scheme of a native app (`com.example.app:/cb`, RFC 8252
//! §7.1), or plain `http` only to the loopback interface (`127.0.0.1`,
//! `[::1]`, `localhost`; RFC 8252 §7.3), where nothing crosses a network.

/// Split `http://HOST[:PORT]REST` for a loopback IP literal host.
fn loopback_parts(uri: &str) -> Option<(&str, Option<&str>, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, after) = if let Some(h) = authority.strip_prefix("[::1]") {
        ("[::1]", h)
    } else if let Some(h) = authority.strip_prefix("127.0.0.1") {
        ("127.0.0.1", h)
    } else {
        return None;
    };
    let port = match after.strip_prefix(':') {
        Some(p) => Some(p),
        None if after.is_empty() => None,
        None => return None,
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    Some((host, port, tail))
}

/// Whether `uri` is `http://` to the loopback interface: an IP literal, or
/// the name `localhost` (any port, no user info).
fn loopback_http(uri: &str) -> bool {
    if loopback_parts(uri).is_some() {
        return true;
    }
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, _) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    host.eq_ignore_ascii_case("localhost")
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Why `uri` may not be registered as a redirect URI, if it may not: plain
/// `http` to anything but the loopback interface (OAuth 2.1 §2.3.1; the
/// code would cross the network in the clear).
pub fn registrable_redirect(uri: &str) -> Result<(), String> {
    let scheme = uri.split_once(':').map_or("", |(s, _)| s);
    if scheme.eq_ignore_ascii_case("http") && !loopback_http(uri) {
        return Err(format!(
            "{uri:?} uses plain http; use https, or http only to 127.0.0.1, [::1] or localhost (OAuth 2.1 §2.3.1)"
        ));
    }
    Ok(())
}

/// Whether `requested` matches the registered URI `registered`.
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some((h1, _, t1)), Some((h2, _, t2))) => h1 == h2 && t1 == t2,
        _ => false,
    }
}

/// The registered URI `requested` matches, if any.
pub fn find_redirect<'a>(registered: &'a [String], requested: &str) -> Option<&'a str> {
    registered
        .iter()
        .find(|r| redirect_matches(r, requested))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "https://app.example.com/cb";

    #[test]
    fn only_exact_matches_pass() {
        assert!(redirect_matches(REG, REG));
        for bad in [
            "https://app.example.com:443/cb",
            "https://APP.example.com/cb",
            "https://app.example.com/CB",
            "https://app.example.com/cb/",
            "https://app.example.com/cb/../cb",
            "https://app.example.com/cb/%2e%2e/cb",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#f",
            "https://app.example.com@evil.com/cb",
            "https://app.example.com%25@evil.com/cb",
            "https://evil.com/cb",
            "http://app.example.com/cb",
        ] {
            assert!(!redirect_matches(REG, bad), "{bad}");
        }
    }

    #[test]
    fn plain_http_registers_only_to_loopback() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:4000/cb",
            "http://localhost/cb",
            "http://localhost:3000/cb",
            "http://LOCALHOST:3000",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(registrable_redirect(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "HTTP://app.example.com/cb",
            "http://localhost.evil.com/cb",
            "http://localhost@evil.com/cb",
            "http://127.0.0.1@evil.com/cb",
            "http://127.0.0.1.evil.com/cb",
            "http://localhost:/cb",
            "http://10.0.0.5/cb",
        ] {
            assert!(registrable_redirect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ports_may_vary_but_nothing_else() {
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1:8000/cb",
            "http://127.0.0.1:9000/cb"
        ));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb2"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.com/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80@evil.com/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost/cb",
            "http://localhost:1234/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "https://127.0.0.1:1234/cb"
        ));
    }
}
