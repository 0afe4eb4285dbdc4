//! Pushed authorization requests (RFC 9126), request objects (RFC 9101)
//! and the form post response mode, driven as a client and a browser do.
//!
//! - `push` — `POST /oauth2/par`, then `/oauth2/authorize` with only
//!   `client_id` and `request_uri`; refused pushes; clients and servers
//!   that require pushing.
//! - `held` — a pushed request's life: single use, expiry, the first
//!   browser owns it, the client that pushed it owns it.
//! - `jar` — signed request objects by value and inside a pushed request:
//!   their claims are the request; single use, `alg: none`, a pinned alg.
//! - `refused_objects` — every way a request object can be wrong (key,
//!   client, audience, times, nesting, `typ`, `alg`).
//! - `form_post` — `response_mode=form_post`: the self-submitting page,
//!   its nonce-only script and its policy.

mod form_post;
mod held;
mod jar;
mod push;
mod refused_objects;

use reqwest::{Response, StatusCode};
use serde_json::{json, Map, Value};

use crate::dpop::proof::{ProofKey, ProofSpec, Signing};
use crate::flow::{
    assert_error_page, encode, redirect, unescape, AuthRequest, Browser, Redirect, Rp,
};
use crate::helpers::{header, TestApp};

/// RFC 9126 §2.2: every `request_uri` tessera hands out starts so.
pub const URN: &str = "urn:ietf:params:oauth:request_uri:";

/// `POST /oauth2/par` as `rp`: `client_secret_basic` for a confidential
/// client, `client_id` in the body (its `pairs` carry it) for a public one.
pub async fn par_call<K: AsRef<str>, V: AsRef<str>>(
    app: &TestApp,
    rp: &Rp,
    pairs: &[(K, V)],
) -> Response {
    let mut r = app
        .http
        .post(app.url("/oauth2/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(pairs));
    if !rp.is_public() {
        r = r.basic_auth(&rp.client.id, Some(&rp.client.secret));
    }
    r.send().await.expect("PAR request")
}

/// Assert a `201` pushed-request answer; its `request_uri`.
pub async fn pushed(r: Response) -> String {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let body: Value = r.json().await.expect("PAR JSON");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expires_in"], 60, "{body}");
    let uri = body["request_uri"].as_str().expect("request_uri");
    assert!(uri.starts_with(URN), "{uri}");
    assert!(uri.len() > URN.len() + 20, "an unguessable part: {uri}");
    uri.to_string()
}

/// Push `req` as `rp`, asserting `201`; the `request_uri`.
pub async fn push(app: &TestApp, rp: &Rp, req: &AuthRequest) -> String {
    pushed(par_call(app, rp, &req.pairs).await).await
}

/// `/oauth2/authorize?client_id=…&request_uri=…`
pub fn by_uri(client_id: &str, request_uri: &str) -> String {
    format!(
        "/oauth2/authorize?{}",
        encode(&[("client_id", client_id), ("request_uri", request_uri)])
    )
}

/// `/oauth2/authorize?client_id=…&request=…` and any other query pairs.
pub fn by_value(client_id: &str, jwt: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", client_id), ("request", jwt)];
    pairs.extend_from_slice(extra);
    format!("/oauth2/authorize?{}", encode(&pairs))
}

/// An error page naming exactly `error`; no code anywhere.
pub async fn error_page(r: Response, error: &str) -> String {
    let body = assert_error_page(r, error).await;
    assert!(
        body.contains(&format!("<code>{error}</code>")),
        "the page's error is {error}: {body}"
    );
    assert!(!body.contains("tes_ac_"), "no code on an error page");
    body
}

/// The redirect a logged-in browser gets for `path`: a code (asserted).
pub async fn code_at(app: &TestApp, b: &mut Browser, path: &str, redirect_uri: &str) -> Redirect {
    let r = b.get(path).await;
    let loc = redirect(&r, StatusCode::FOUND);
    assert!(loc.raw.starts_with(redirect_uri), "{}", loc.raw);
    assert_eq!(loc.get("iss"), Some(app.issuer.as_str()), "{}", loc.raw);
    assert!(loc.get("error").is_none(), "{}", loc.raw);
    assert!(loc.get("code").is_some(), "{}", loc.raw);
    loc
}

/// A PAR error answer: JSON `status`/`code`, no `request_uri` held.
pub async fn assert_par_error(r: Response, status: StatusCode, code: &str) -> Value {
    let body = crate::helpers::assert_oauth_error(r, status, code).await;
    assert!(body.get("request_uri").is_none(), "nothing pushed: {body}");
    body
}

/// A client's key for request objects: an aws-lc-rs key pair and the
/// `kid` it is registered under.
pub struct RequestKey {
    pub key: ProofKey,
    pub kid: String,
}

impl RequestKey {
    pub fn es256() -> RequestKey {
        Self::of(ProofKey::es256())
    }

    pub fn rs256() -> RequestKey {
        Self::of(ProofKey::rs256())
    }

    pub fn ps256() -> RequestKey {
        Self::of(ProofKey::ps256())
    }

    fn of(key: ProofKey) -> RequestKey {
        RequestKey {
            key,
            kid: format!("k-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The public JWK with its `kid` and `use: sig`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.key.jwk();
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }

    /// `{"keys": [this key]}` for the client's registration.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// A request object of `claims`, `typ: oauth-authz-req+jwt`, this key's
    /// `kid` and `alg`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(
            &json!({"typ": "oauth-authz-req+jwt", "kid": self.kid}),
            claims,
        )
    }

    /// A request object with exactly these header members besides `alg`
    /// (the key's, unless `header` names one).
    pub fn sign_with(&self, header: &Value, claims: &Value) -> String {
        let mut h = Map::new();
        // No key in the header (ProofKey puts its `jwk` by default).
        h.insert("jwk".into(), Value::Null);
        h.insert("typ".into(), Value::Null);
        for (k, v) in header.as_object().expect("header object") {
            h.insert(k.clone(), v.clone());
        }
        self.key.proof_with(ProofSpec {
            header: h,
            claims: claims.as_object().expect("claims object").clone(),
            signing: Signing::Key,
        })
    }
}

/// An unsigned request object (`alg: none`, empty signature).
pub fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| crate::dpop::proof::b64(v.to_string().as_bytes());
    format!("{}.{}.", b64(&json!({"alg": "none"})), b64(claims))
}

/// The claims of a good request object for `req`: its parameters, `iss`
/// the client, `aud` the issuer, a minute of life from now, a fresh `jti`.
pub fn claims_for(app: &TestApp, rp: &Rp, req: &AuthRequest) -> Value {
    let mut c = Map::new();
    for (k, v) in &req.pairs {
        c.insert(k.clone(), json!(v));
    }
    c.insert("client_id".into(), json!(rp.id()));
    c.insert("iss".into(), json!(rp.id()));
    c.insert("aud".into(), json!(app.issuer));
    c.insert("iat".into(), json!(app.now()));
    c.insert("exp".into(), json!(app.now() + 60));
    c.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    Value::Object(c)
}

/// `claims` with `k` set to `v` (`null` removes it).
pub fn with(claims: &Value, k: &str, v: Value) -> Value {
    let mut c = claims.clone();
    let m = c.as_object_mut().expect("claims object");
    if v.is_null() {
        m.remove(k);
    } else {
        m.insert(k.into(), v);
    }
    c
}

/// The value of attribute `name` in the first `<tag …>` of `html`, HTML
/// character references undone.
pub fn tag_attr(html: &str, tag: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("<{tag} "))?;
    let end = start + html[start..].find('>')?;
    let t = &html[start..end];
    let key = format!(" {name}=\"");
    let from = t.find(&key)? + key.len();
    let len = t[from..].find('"')?;
    Some(unescape(&t[from..from + len]))
}
