//! A cookie-holding `Browser` that never follows redirects.

use std::collections::BTreeMap;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{encode, hidden_inputs, redirect, AuthRequest, Redirect, TestUser, SESSION_COOKIE};
use crate::helpers::{header, TestApp};

/// A cookie-holding user agent that never follows redirects.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
}

/// One `Set-Cookie` header: name, value, attributes (lower-cased).
pub fn set_cookies(r: &Response) -> Vec<(String, String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let v = v.to_str().expect("ASCII cookie");
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (n, val) = pair.split_once('=').expect("name=value");
            (
                n.trim().to_string(),
                val.trim().to_string(),
                attrs.to_ascii_lowercase(),
            )
        })
        .collect()
}

/// The value of the session cookie a response sets, if any.
pub fn session_cookie_set(r: &Response) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|(n, v, a)| n == SESSION_COOKIE && !v.is_empty() && !a.contains("max-age=0"))
        .map(|(_, v, _)| v)
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            http: app.http.clone(),
            base: app.address.clone(),
            cookies: BTreeMap::new(),
        }
    }

    /// A browser holding only this session cookie.
    pub fn with_session(app: &TestApp, session: &str) -> Browser {
        let mut b = Browser::new(app);
        b.cookies.insert(SESSION_COOKIE.into(), session.into());
        b
    }

    pub fn session(&self) -> Option<String> {
        self.cookies.get(SESSION_COOKIE).cloned()
    }

    fn url(&self, p: &str) -> String {
        if p.starts_with("http://") || p.starts_with("https://") {
            p.to_string()
        } else {
            format!("{}{p}", self.base)
        }
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn absorb(&mut self, r: &Response) {
        for (n, v, attrs) in set_cookies(r) {
            if v.is_empty() || attrs.contains("max-age=0") {
                self.cookies.remove(&n);
            } else {
                self.cookies.insert(n, v);
            }
        }
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Response {
        let rb = match self.cookie_header() {
            Some(c) => rb.header("cookie", c),
            None => rb,
        };
        let r = rb.send().await.expect("browser request");
        self.absorb(&r);
        r
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let rb = self.http.get(self.url(path));
        self.send(rb).await
    }

    /// A page, as a browser navigation asks for it (`Accept: text/html`).
    pub async fn get_html(&mut self, path: &str) -> Response {
        let rb = self
            .http
            .get(self.url(path))
            .header("accept", "text/html,application/xhtml+xml");
        self.send(rb).await
    }

    pub async fn post_form<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        path: &str,
        pairs: &[(K, V)],
    ) -> Response {
        let rb = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs));
        self.send(rb).await
    }

    pub async fn post_json(&mut self, path: &str, body: &Value) -> Response {
        let rb = self.http.post(self.url(path)).json(body);
        self.send(rb).await
    }

    /// `POST /auth/login` as JSON.
    pub async fn login_json(&mut self, login: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"login": login, "password": password}),
        )
        .await
    }

    /// Log in as `user` (JSON, no TOTP), asserting success.
    pub async fn login(&mut self, user: &TestUser) {
        let r = self.login_json(&user.username, &user.password).await;
        let status = r.status();
        let body: Value = r.json().await.expect("login JSON");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["mode"], "authentication", "{body}");
        assert!(self.session().is_some(), "a session cookie");
    }

    /// Submit the consent page `html` with `decision` (`allow`/`deny`).
    pub async fn consent(&mut self, html: &str, decision: &str) -> Response {
        let mut pairs = hidden_inputs(html);
        assert!(
            pairs.iter().any(|(n, _)| n == "csrf"),
            "the consent page carries a csrf field"
        );
        pairs.push(("consent".into(), decision.into()));
        self.post_form("/oauth2/authorize", &pairs).await
    }

    /// Run `req` to its callback: consent (allow) when asked. The browser
    /// must be logged in. Asserts the state and iss of the answer.
    pub async fn authorize(&mut self, app: &TestApp, req: &AuthRequest) -> Redirect {
        let r = self.get(&req.path()).await;
        let r = if r.status() == StatusCode::OK {
            let html = r.text().await.expect("consent page");
            self.consent(&html, "allow").await
        } else {
            r
        };
        let status = r.status();
        assert!(
            status == StatusCode::FOUND || status == StatusCode::SEE_OTHER,
            "authorize answered {status}: {:?}",
            header(&r, "location")
        );
        let loc = redirect(&r, status);
        let redirect_uri = req
            .pairs
            .iter()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        assert!(loc.raw.starts_with(redirect_uri), "{}", loc.raw);
        assert_eq!(loc.get("state"), Some(req.state.as_str()));
        assert_eq!(loc.get("iss"), Some(app.issuer.as_str()));
        loc
    }

    /// A code for `req` (asserting there is one).
    pub async fn code(&mut self, app: &TestApp, req: &AuthRequest) -> String {
        let loc = self.authorize(app, req).await;
        assert!(loc.get("error").is_none(), "{}", loc.raw);
        loc.param("code").to_string()
    }
}

/// A fresh browser logged in as `user`.
pub async fn logged_in(app: &TestApp, user: &TestUser) -> Browser {
    let mut b = Browser::new(app);
    b.login(user).await;
    b
}
