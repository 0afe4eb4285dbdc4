//! Support for the browser-flow modules (`code_flow`, `authorize_errors`,
//! `code_exchange`, `refresh`, `login`, `logout`, `oidc_client`): users made
//! through the engine, relying parties registered through the admin API, a
//! cookie-holding `Browser`, PKCE, HTML form scraping and token calls.

use std::collections::BTreeMap;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tessera_actors::directory::{CreateUser, NewUser, Totp, UpdateUser, UserPatch};
use tessera_actors::secret::{b64url, sha256};

use crate::helpers::{header, TestApp, TestClient};

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_COOKIE: &str = "tessera_login_csrf";
pub const REDIRECT: &str = "https://rp.example.com/cb";
pub const POST_LOGOUT: &str = "https://rp.example.com/logged-out";
pub const SCOPE: &str = "openid profile email read";

// ---- users --------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub password: String,
}

/// An argon2 hash of `password`, made by the server's own pool.
pub async fn password_hash(app: &TestApp, password: &str) -> String {
    app.engine
        .passwords
        .hash(password.into())
        .await
        .expect("argon2 hash")
}

/// An active, verified user with password [`PASSWORD`].
pub async fn create_user(app: &TestApp, username: &str) -> TestUser {
    let hash = password_hash(app, PASSWORD).await;
    create_user_with_hash(app, username, &hash).await
}

/// An active, verified user whose password hash is `hash` (of [`PASSWORD`]).
pub async fn create_user_with_hash(app: &TestApp, username: &str, hash: &str) -> TestUser {
    let email = format!("{username}@example.com");
    let user = app
        .engine
        .directory
        .send(CreateUser(NewUser {
            username: username.into(),
            email: email.clone(),
            password_hash: hash.into(),
            email_verified: true,
            name: Some(format!("{username} Example")),
            ..Default::default()
        }))
        .await
        .expect("directory mailbox")
        .expect("user created");
    TestUser {
        id: user.id,
        username: username.into(),
        email,
        password: PASSWORD.into(),
    }
}

/// Enable TOTP for `user`; the base32 secret.
pub async fn enable_totp(app: &TestApp, user: &TestUser) -> String {
    let secret = tessera_actors::totp::enrol("tessera", &user.email)
        .expect("enrolment")
        .secret;
    app.engine
        .directory
        .send(UpdateUser {
            id: user.id,
            patch: UserPatch {
                totp: Some(Some(Totp {
                    secret: secret.clone(),
                    enabled: true,
                    last_step: 0,
                })),
                ..Default::default()
            },
        })
        .await
        .expect("directory mailbox")
        .expect("TOTP set");
    secret
}

/// The TOTP code for `secret` at `offset` seconds from the app's clock.
pub fn totp_code(app: &TestApp, secret: &str, offset: i64) -> String {
    tessera_actors::totp::code_at(secret, app.now() + offset).expect("TOTP code")
}

// ---- relying parties ------------------------------------------------------

/// A registered relying party.
#[derive(Debug, Clone)]
pub struct Rp {
    pub client: TestClient,
    pub redirect_uri: String,
}

impl Rp {
    pub fn id(&self) -> &str {
        &self.client.id
    }
    pub fn is_public(&self) -> bool {
        self.client.secret.is_empty()
    }
}

/// Register a code-flow client: the defaults (public, third party,
/// [`REDIRECT`], [`POST_LOGOUT`], `openid profile email read`) with the
/// members of `spec` on top.
pub async fn rp_with(app: &TestApp, spec: Value) -> Rp {
    let mut full = json!({
        "public": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "scope": SCOPE,
    });
    for (k, v) in spec.as_object().expect("spec object") {
        full[k] = v.clone();
    }
    let redirect_uri = full["redirect_uris"][0]
        .as_str()
        .expect("a redirect URI")
        .to_string();
    Rp {
        client: app.create_client(full).await,
        redirect_uri,
    }
}

/// A public, third-party client (consent page shown).
pub async fn public_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({})).await
}

/// A public, first-party client (no consent page).
pub async fn first_party_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({"first_party": true})).await
}

/// A confidential, first-party client.
pub async fn confidential_rp(app: &TestApp) -> Rp {
    rp_with(app, json!({"public": false, "first_party": true})).await
}

/// A resource server allowed to introspect every token.
pub async fn introspector(app: &TestApp) -> TestClient {
    app.create_client(json!({"introspect_any": true, "scope": "read"}))
        .await
}

// ---- PKCE and the authorization request ---------------------------------

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

// ---- redirects and pages --------------------------------------------------

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
fn unescape(s: &str) -> String {
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

// ---- the browser ------------------------------------------------------------

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

// ---- the token endpoint -------------------------------------------------------

/// `POST /oauth2/token` as `rp`: `none` (client_id in the body) for public
/// clients, `client_secret_basic` otherwise.
pub async fn token_call(app: &TestApp, rp: &Rp, params: &[(&str, &str)]) -> Response {
    let mut params = params.to_vec();
    let mut r = app.http.post(app.url("/oauth2/token"));
    if rp.is_public() {
        params.push(("client_id", rp.id()));
    } else {
        r = r.basic_auth(&rp.client.id, Some(&rp.client.secret));
    }
    r.form(&params).send().await.expect("token request")
}

/// Exchange `code` with the request's redirect URI and verifier.
pub async fn exchange(app: &TestApp, rp: &Rp, code: &str, verifier: Option<&str>) -> Response {
    let mut p = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        p.push(("code_verifier", v));
    }
    token_call(app, rp, &p).await
}

pub async fn refresh(app: &TestApp, rp: &Rp, token: &str, scope: Option<&str>) -> Response {
    let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        p.push(("scope", s));
    }
    token_call(app, rp, &p).await
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub body: Value,
}

impl Tokens {
    pub fn refresh(&self) -> &str {
        self.refresh_token.as_deref().expect("a refresh token")
    }
    pub fn id(&self) -> &str {
        self.id_token.as_deref().expect("an ID token")
    }
}

/// Assert a `200` token response; its tokens.
pub async fn tokens(r: Response) -> Tokens {
    let status = r.status();
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0), "{body}");
    let s = |k: &str| body[k].as_str().map(str::to_string);
    Tokens {
        access_token: s("access_token").expect("access_token"),
        refresh_token: s("refresh_token"),
        id_token: s("id_token"),
        body,
    }
}

/// Log in, authorize `scope` and exchange the code: everything a client
/// holds after the flow.
pub struct Flow {
    pub browser: Browser,
    pub tokens: Tokens,
}

pub async fn run_flow(app: &TestApp, rp: &Rp, user: &TestUser, scope: &str) -> Flow {
    let mut browser = logged_in(app, user).await;
    let req = AuthRequest::new(rp, scope);
    let code = browser.code(app, &req).await;
    let tokens = tokens(exchange(app, rp, &code, Some(&req.verifier)).await).await;
    Flow { browser, tokens }
}

/// `GET /oauth2/userinfo` with a bearer token.
pub async fn userinfo(app: &TestApp, token: &str) -> Response {
    app.http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
}

/// `GET /sessions/session` with only this session cookie.
pub async fn current_session(app: &TestApp, session: &str) -> Response {
    Browser::with_session(app, session)
        .get("/sessions/session")
        .await
}
