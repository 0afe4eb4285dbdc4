//! The claims of client assertions (RFC 7523 §3, OIDC Core §9) and of
//! request objects (RFC 9101 §4, §6.3): who made them, for whom, when, and
//! the key under which their `jti` is used once.

use serde_json::{Map, Value};

use crate::single_use::digest_of;

/// RFC 7523 §2.2: the one `client_assertion_type` there is.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// What a JWT made by a client must say, and the clock to check it by.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `iss` (and, for an assertion, `sub`).
    pub client_id: &'a str,
    /// `aud` must name one of these.
    pub audiences: &'a [&'a str],
    pub now: i64,
    /// Longest a JWT may live: `exp` at most this far past `iat`, or past
    /// now when there is no `iat`.
    pub max_lifetime: i64,
    /// Clock skew allowed, seconds.
    pub leeway: i64,
}

/// A JWT whose claims passed: its `jti` for single use, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// Digest of (kind, client, jti): the single-use key.
    pub jti_key: Option<u128>,
    /// When it expires (then its `jti` may be forgotten).
    pub exp: i64,
}

fn num(c: &Map<String, Value>, k: &str) -> Result<Option<i64>, &'static str> {
    match c.get(k) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or("a time claim is not a number"),
        Some(_) => Err("a time claim is not a number"),
    }
}

fn audience_ok(c: &Map<String, Value>, accepted: &[&str]) -> bool {
    match c.get("aud") {
        Some(Value::String(a)) => accepted.contains(&a.as_str()),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .any(|x| accepted.contains(&x)),
        _ => false,
    }
}

/// `exp` (required), `nbf` and `iat`; answers `exp`.
fn times(c: &Map<String, Value>, e: &Expect<'_>) -> Result<i64, &'static str> {
    let exp = num(c, "exp")?.ok_or("exp is missing")?;
    if exp.saturating_add(e.leeway) <= e.now {
        return Err("it has expired");
    }
    if let Some(nbf) = num(c, "nbf")? {
        if nbf > e.now.saturating_add(e.leeway) {
            return Err("it is not valid yet (nbf)");
        }
    }
    let iat = num(c, "iat")?;
    if let Some(iat) = iat {
        if iat > e.now.saturating_add(e.leeway) {
            return Err("it is issued in the future");
        }
    }
    let from = iat.unwrap_or(e.now).max(e.now.saturating_sub(e.leeway));
    if exp.saturating_sub(from) > e.max_lifetime.saturating_add(e.leeway) {
        return Err("it lives longer than the server accepts");
    }
    Ok(exp)
}

fn jti(c: &Map<String, Value>) -> Result<Option<&str>, &'static str> {
    match c.get("jti") {
        None => Ok(None),
        Some(Value::String(j)) if !j.is_empty() && j.chars().count() <= MAX_JTI_LEN => Ok(Some(j)),
        Some(_) => Err("jti must be a string of 1 to 256 characters"),
    }
}

/// A client assertion: `iss` = `sub` = the client, `aud` one of ours,
/// `exp` within the lifetime, a `jti` (required: it is used once).
pub fn client_assertion(c: &Map<String, Value>, e: &Expect<'_>) -> Result<Fresh, &'static str> {
    if c.get("iss").and_then(Value::as_str) != Some(e.client_id) {
        return Err("iss must be the client_id");
    }
    if c.get("sub").and_then(Value::as_str) != Some(e.client_id) {
        return Err("sub must be the client_id");
    }
    if !audience_ok(c, e.audiences) {
        return Err("aud must be the issuer or this endpoint's URL");
    }
    let exp = times(c, e)?;
    let jti = jti(c)?.ok_or("jti is missing")?;
    Ok(Fresh {
        jti_key: Some(digest_of(&[
            b"assertion",
            e.client_id.as_bytes(),
            jti.as_bytes(),
        ])),
        exp,
    })
}

/// A request object: `iss` the client (when present), `aud` the issuer,
/// `exp` within the lifetime; its `jti`, when it has one, is used once.
pub fn request_object(c: &Map<String, Value>, e: &Expect<'_>) -> Result<Fresh, &'static str> {
    match c.get("iss") {
        None => {}
        Some(Value::String(i)) if i == e.client_id => {}
        Some(_) => return Err("the request object's iss must be the client_id"),
    }
    match c.get("client_id") {
        Some(Value::String(id)) if id == e.client_id => {}
        _ => return Err("the request object's client_id must be the client's"),
    }
    if !audience_ok(c, e.audiences) {
        return Err("the request object's aud must be the issuer");
    }
    let exp = times(c, e)?;
    Ok(Fresh {
        jti_key: jti(c)?.map(|j| digest_of(&[b"request", e.client_id.as_bytes(), j.as_bytes()])),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            client_id: "c1",
            audiences: &["https://as.example", "https://as.example/oauth2/token"],
            now,
            max_lifetime: 300,
            leeway: 5,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn assertions_name_the_client_us_and_a_short_life() {
        let good = json!({"iss": "c1", "sub": "c1", "aud": "https://as.example",
                          "exp": 1100, "iat": 1000, "jti": "j1"});
        let f = client_assertion(&claims(good.clone()), &expect(1000)).unwrap();
        assert_eq!(f.exp, 1100);
        assert!(f.jti_key.is_some());
        let mut as_list = good.clone();
        as_list["aud"] = json!(["x", "https://as.example/oauth2/token"]);
        assert!(client_assertion(&claims(as_list), &expect(1000)).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            client_assertion(&claims(c), &expect(1000))
        };
        assert!(with("iss", json!("c2")).is_err());
        assert!(with("sub", json!("c2")).is_err());
        assert!(with("aud", json!("https://elsewhere")).is_err());
        assert!(with("exp", json!(990)).is_err());
        assert!(with("exp", json!(2000)).is_err(), "too long a life");
        assert!(with("exp", json!("1100")).is_err());
        assert!(with("iat", json!(1100)).is_err(), "issued in the future");
        assert!(with("nbf", json!(1050)).is_err());
        assert!(with("jti", json!("")).is_err());
        let mut no_jti = good.clone();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(client_assertion(&claims(no_jti), &expect(1000)).is_err());
        let mut no_exp = good;
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(client_assertion(&claims(no_exp), &expect(1000)).is_err());
    }

    #[test]
    fn request_objects_and_assertions_never_share_a_jti_key() {
        let a = json!({"iss": "c1", "sub": "c1", "client_id": "c1", "aud": "https://as.example",
                       "exp": 1100, "jti": "j"});
        let x = client_assertion(&claims(a.clone()), &expect(1000)).unwrap();
        let y = request_object(&claims(a), &expect(1000)).unwrap();
        assert_ne!(x.jti_key, y.jti_key);
        let no_client = json!({"iss": "c1", "aud": "https://as.example", "exp": 1100});
        assert!(request_object(&claims(no_client), &expect(1000)).is_err());
    }
}
