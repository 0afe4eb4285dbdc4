//! PKCE, the authorization request, and what comes back: redirects, error
//! pages and the hidden inputs of HTML forms.

use reqwest::{Response, StatusCode};
use tessera_actors::secret::{b64url, sha256};

use super::Rp;
use crate::helpers::{header, TestApp};

/// A fresh PKCE verifier (43 characters) and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = b64url(&tessera_actors::secret::random_bytes::<32>());
    let challenge = s256(&verifier);
    (verifier, challenge)
}

pub fn s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// The parameters of one authorization request, and what the client keeps.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub pairs: Vec<(String, String)>,
    pub verifier: String,
    pub state: String,
    pub nonce: String,
}

impl AuthRequest {
    /// `response_type=code`, the client's redirect URI, `scope`, a state with
    /// characters that need encoding, a nonce and an S256 challenge.
    pub fn new(rp: &Rp, scope: &str) -> AuthRequest {
        let (verifier, challenge) = pkce_pair();
        let state = format!("st ate/+&=%20é~{}", uuid::Uuid::new_v4().simple());
        let nonce = format!("n-{}", uuid::Uuid::new_v4().simple());
        let pairs = [
            ("response_type", "code"),
            ("client_id", rp.id()),
            ("redirect_uri", &rp.redirect_uri),
            ("scope", scope),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AuthRequest {
            pairs,
            verifier,
            state,
            nonce,
        }
    }

    /// Replace (or add) a parameter.
    pub fn set(mut self, k: &str, v: &str) -> Self {
        match self.pairs.iter_mut().find(|(n, _)| n == k) {
            Some(p) => p.1 = v.to_string(),
            None => self.pairs.push((k.to_string(), v.to_string())),
        }
        if k == "state" {
            self.state = v.to_string();
        }
        self
    }

    /// Remove a parameter.
    pub fn without(mut self, k: &str) -> Self {
        self.pairs.retain(|(n, _)| n != k);
        self
    }

    /// Add a parameter even if present (repeats).
    pub fn push(mut self, k: &str, v: &str) -> Self {
        self.pairs.push((k.to_string(), v.to_string()));
        self
    }

    pub fn query(&self) -> String {
        encode(&self.pairs)
    }

    /// `/oauth2/authorize?...`
    pub fn path(&self) -> String {
        format!("/oauth2/authorize?{}", self.query())
    }
}

pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

/// A parsed `Location`: the part before `?` and the decoded query.
#[derive(Debug, Clone)]
pub struct Redirect {
    pub raw: String,
    pub base: String,
    pub params: Vec<(String, String)>,
}

impl Redirect {
    pub fn parse(location: &str) -> Redirect {
        let (base, query) = location.split_once('?').unwrap_or((location, ""));
        Redirect {
            raw: location.to_string(),
            base: base.to_string(),
            params: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, k: &str) -> &str {
        self.get(k)
            .unwrap_or_else(|| panic!("no {k} in {}", self.raw))
    }
}

/// The `Location` of a redirect with `status`, parsed.
pub fn redirect(r: &Response, status: StatusCode) -> Redirect {
    assert_eq!(r.status(), status, "expected a {status} redirect");
    Redirect::parse(&header(r, "location").expect("a Location header"))
}

/// A page error: `400`, HTML, no `Location`, no code anywhere.
pub async fn assert_error_page(r: Response, error: &str) -> String {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        header(&r, "location").is_none(),
        "an error page never redirects"
    );
    let ct = header(&r, "content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "content-type {ct}");
    let body = r.text().await.expect("page");
    assert!(body.contains(error), "the page names {error}: {body}");
    body
}

/// An error redirect back to the client: `error`, a printable
/// `error_description`, `state` byte for byte, `iss`.
pub fn assert_error_redirect(
    app: &TestApp,
    r: &Response,
    status: StatusCode,
    redirect_uri: &str,
    error: &str,
    state: Option<&str>,
) -> Redirect {
    let loc = redirect(r, status);
    assert!(
        loc.raw.starts_with(redirect_uri),
        "{} goes back to {redirect_uri}",
        loc.raw
    );
    assert_eq!(loc.get("error"), Some(error), "{}", loc.raw);
    crate::helpers::assert_description_charset(loc.param("error_description"));
    assert_eq!(loc.get("state"), state, "{}", loc.raw);
    assert_eq!(loc.get("iss"), Some(app.issuer.as_str()), "{}", loc.raw);
    assert!(loc.get("code").is_none(), "no code with an error");
    loc
}

/// The hidden inputs of the (first) form of an HTML page, unescaped.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let end = rest.find('>').expect("input tag ends");
        let tag = &rest[..end];
        if tag.contains(r#"type="hidden""#) {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                out.push((unescape(&n), unescape(&v)));
            }
        }
        rest = &rest[end..];
    }
    out
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    hidden_inputs(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

/// HTML character references as an escaping template engine writes them.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').expect("entity ends");
        let ent = &rest[1..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") || e.starts_with("#X") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).expect("hex entity")).expect("char")
            }
            e if e.starts_with('#') => {
                char::from_u32(e[1..].parse().expect("decimal entity")).expect("char")
            }
            other => panic!("unknown entity &{other};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
