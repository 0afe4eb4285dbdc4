//! `spawn_app()`: the real server on 127.0.0.1 port 0, over a temporary
//! store, with a hand-driven clock; and the HTTP helpers every test uses.

use std::sync::{Arc, Once};

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera::configuration::Settings;
use tessera::startup::Application;
use tessera_actors::clock::{Clock, ManualClock};
use tessera_actors::keys::{KeyState, StoredKey, Tick};
use tessera_actors::secret::{b64url, b64url_decode};
use tessera_actors::store::Store;
use tessera_actors::Engine;

pub use crate::testdb::{suite_backend, TestBackend, TestDb};

/// The exact body of every inactive introspection answer.
pub const INACTIVE: &str = r#"{"active":false}"#;
/// The built-in first-party client every server registers at start.
pub const ACCOUNT_CLIENT: &str = "tessera-account";

pub struct TestApp {
    /// `http://127.0.0.1:PORT` (`https://` with TLS on)
    pub address: String,
    pub port: u16,
    /// The plain-HTTP health listener's port (`tls.health_bind`).
    pub health_port: Option<u16>,
    /// The `iss` of every token (the address, as no issuer is configured).
    pub issuer: String,
    pub engine: Engine,
    /// The embedded store, for inspection and fault injection (sled only:
    /// see [`TestApp::store`]).
    pub sled: Option<Store>,
    /// The database, when the backend is PostgreSQL.
    pub pg: Option<tessera_actors::pg::Pg>,
    pub admin_token: String,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub data_dir: std::path::PathBuf,
    _data_dir: tempfile::TempDir,
    /// The test's own database (PostgreSQL), dropped last.
    pub db: Option<TestDb>,
}

/// A registered client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The HTTP server dies with the test's System; the engine's actors
        // run on arbiters of their own, so stop them explicitly.
        self.engine.shutdown();
    }
}

fn init_test_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let log = tessera::configuration::LogSettings {
                level: "debug".into(),
                json: false,
            };
            tessera::telemetry::init_tracing(&log);
        }
    });
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Start the server, on the suite's backend (`TESSERA_TEST_BACKEND`), with
/// settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(suite_backend(), configure).await
}

/// Start the server on sled whatever the suite's backend: for tests of the
/// embedded store itself (its fault injection, its free-space reserve).
pub async fn spawn_sled_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(TestBackend::Sled, configure).await
}

/// Settings for `backend`: PostgreSQL gets a fresh database of its own.
pub fn test_settings(dir: &std::path::Path, backend: TestBackend) -> (Settings, Option<TestDb>) {
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        workers: Some(2),
        ..Settings::default()
    };
    let db = match backend {
        TestBackend::Sled => None,
        TestBackend::Postgres => {
            let db = TestDb::create();
            settings.store.backend = tessera::configuration::Backend::Postgres;
            settings.store.database_url = Some(db.url.clone());
            settings.store.pool_size = 4;
            Some(db)
        }
    };
    (settings, db)
}

pub async fn spawn_app_on(backend: TestBackend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    init_test_tracing();
    let dir = tempfile::tempdir().expect("temporary data dir");
    let (mut settings, db) = test_settings(dir.path(), backend);
    configure(&mut settings);
    let clock = ManualClock::default();
    let app = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("the application builds");
    let port = app.port();
    let scheme = app.scheme();
    let health_port = app.health_port();
    let engine = app.engine().clone();
    let sled = app.store().cloned();
    let pg = app.database().cloned();
    let admin_token = app.admin_token().to_string();
    let issuer = app.issuer().to_string();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("{scheme}://127.0.0.1:{port}"),
        port,
        health_port,
        issuer,
        engine,
        sled,
        pg,
        admin_token,
        clock,
        http: http_client(),
        data_dir: dir.path().to_path_buf(),
        _data_dir: dir,
        db,
    }
}

impl TestApp {
    /// The embedded store. Only a test started on sled has one: a test of
    /// sled's own behaviour starts with [`spawn_sled_app_with`].
    pub fn store(&self) -> &Store {
        self.sled
            .as_ref()
            .expect("this test inspects the sled store: start it with spawn_sled_app_with")
    }

    /// Every stored record, by table, whichever the backend.
    pub fn records(&self) -> tessera::cli::store_copy::Records {
        match (&self.sled, &self.pg) {
            (Some(s), _) => tessera::cli::store_copy::sled_records(s).expect("read the store"),
            (_, Some(pg)) => tessera::cli::store_copy::pg_records(pg).expect("read the database"),
            _ => unreachable!("a test app has a backend"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    // ---- admin API ----------------------------------------------------

    /// `GET /admin/clients` without the built-in account client.
    pub async fn listed_clients(&self) -> Vec<Value> {
        let list: Vec<Value> = self
            .admin(Method::GET, "/admin/clients", None)
            .await
            .json()
            .await
            .unwrap();
        list.into_iter()
            .filter(|c| c["client_id"] != ACCOUNT_CLIENT)
            .collect()
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("admin request")
    }

    /// Register a client (`POST /admin/clients`), asserting `201`.
    pub async fn create_client(&self, spec: Value) -> TestClient {
        let r = self
            .admin(Method::POST, "/admin/clients", Some(spec.clone()))
            .await;
        let status = r.status();
        let body: Value = r.json().await.expect("client JSON");
        assert_eq!(status, StatusCode::CREATED, "creating {spec}: {body}");
        TestClient {
            id: body["client_id"].as_str().expect("client_id").to_string(),
            secret: body["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// A confidential client_credentials client with scope `read write`.
    pub async fn cc_client(&self) -> TestClient {
        self.create_client(json!({"scope": "read write"})).await
    }

    // ---- token endpoint -------------------------------------------------

    /// `POST /oauth2/token` with `client_secret_basic` and these parameters.
    pub async fn token_request(&self, client: &TestClient, params: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(params)
            .send()
            .await
            .expect("token request")
    }

    /// A client_credentials token response body, asserting `200`.
    pub async fn token_with(&self, client: &TestClient, extra: &[(&str, &str)]) -> Value {
        let mut params = vec![("grant_type", "client_credentials")];
        params.extend_from_slice(extra);
        let r = self.token_request(client, &params).await;
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A client_credentials access token.
    pub async fn get_token(&self, client: &TestClient) -> String {
        self.token_with(client, &[]).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    // ---- introspection and revocation -----------------------------------

    pub async fn introspect_with(&self, caller: &TestClient, params: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth2/token/introspect"))
            .basic_auth(&caller.id, Some(&caller.secret))
            .form(params)
            .send()
            .await
            .expect("introspection request")
    }

    /// Introspect, asserting `200`; the raw body.
    pub async fn introspect_raw(&self, caller: &TestClient, token: &str) -> String {
        let r = self.introspect_with(caller, &[("token", token)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
        r.text().await.expect("body")
    }

    pub async fn introspect(&self, caller: &TestClient, token: &str) -> Value {
        serde_json::from_str(&self.introspect_raw(caller, token).await).expect("introspection JSON")
    }

    pub async fn assert_inactive(&self, caller: &TestClient, token: &str) {
        assert_eq!(
            self.introspect_raw(caller, token).await,
            INACTIVE,
            "token {token:?}"
        );
    }

    /// Assert the token is active for `caller`; its introspection answer.
    pub async fn assert_active(&self, caller: &TestClient, token: &str) -> Value {
        let v = self.introspect(caller, token).await;
        assert_eq!(v["active"], json!(true), "{v}");
        v
    }

    pub async fn revoke_with(&self, caller: &TestClient, params: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth2/token/revoke"))
            .basic_auth(&caller.id, Some(&caller.secret))
            .form(params)
            .send()
            .await
            .expect("revocation request")
    }

    pub async fn revoke(&self, caller: &TestClient, token: &str) -> StatusCode {
        self.revoke_with(caller, &[("token", token)]).await.status()
    }

    /// A raw form body to an endpoint, optionally with Basic credentials.
    pub async fn post_form(&self, path: &str, body: &str, basic: Option<&TestClient>) -> Response {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(c) = basic {
            r = r.basic_auth(&c.id, Some(&c.secret));
        }
        r.send().await.expect("form request")
    }

    // ---- keys -----------------------------------------------------------

    pub async fn jwks(&self) -> Value {
        let r = self
            .http
            .get(self.url("/oauth2/jwks"))
            .send()
            .await
            .expect("jwks");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("jwks JSON")
    }

    pub async fn jwks_kids(&self) -> Vec<String> {
        kids(&self.jwks().await)
    }

    /// Run the key rotator's periodic maintenance now.
    pub async fn tick_keys(&self) {
        self.engine
            .key_rotator
            .send(Tick)
            .await
            .expect("key rotator mailbox")
            .expect("tick");
    }

    /// The stored key in `state` (private part included), read from the
    /// store, so tests can sign tokens with the server's own key.
    pub fn stored_key(&self, state: KeyState) -> StoredKey {
        self.records()
            .remove("keys")
            .unwrap_or_default()
            .iter()
            .map(|(_, v)| tessera_actors::store::decode::<StoredKey>(v).expect("decode"))
            .find(|k| k.state == state)
            .expect("a key in that state")
    }

    /// Sign `header`/`claims` (raw JSON) with the server's current key:
    /// a token with a genuine signature that the token index never saw.
    pub fn sign_with_server_key(&self, header: &Value, claims: &Value) -> String {
        let key = self.stored_key(KeyState::Current);
        let der = b64url_decode(&key.private_der).expect("private key");
        let enc = match key.alg {
            tessera_actors::keys::KeyAlg::RS256 => jsonwebtoken::EncodingKey::from_rsa_der(&der),
            tessera_actors::keys::KeyAlg::ES256 => jsonwebtoken::EncodingKey::from_ec_der(&der),
            tessera_actors::keys::KeyAlg::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(&der),
        };
        sign_raw(header, claims, &enc, key.alg.jwt_alg())
    }

    /// Header and claims of a genuine access token of ours, for a token
    /// minted now for `client` with a fresh `jti`.
    pub fn genuine_parts(&self, client: &TestClient) -> (Value, Value) {
        let key = self.stored_key(KeyState::Current);
        let now = self.now();
        let header = json!({"alg": key.alg.as_str(), "typ": "at+jwt", "kid": key.kid});
        let claims = json!({
            "iss": self.issuer,
            "sub": client.id,
            "aud": client.id,
            "client_id": client.id,
            "scope": "read",
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        });
        (header, claims)
    }
}

// ---- JWT helpers ----------------------------------------------------------

/// Compact JWS over raw JSON header and claims.
pub fn sign_raw(
    header: &Value,
    claims: &Value,
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{sig}")
}

/// The decoded JSON of part `i` (0 header, 1 claims) of a compact JWT.
pub fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("JWT part");
    serde_json::from_slice(&b64url_decode(part).expect("base64url")).expect("JSON")
}

pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// The JWK with `kid` in a JWK Set.
pub fn jwk<'a>(jwks: &'a Value, kid: &str) -> &'a Value {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"))
}

/// A verification key built independently from a JWK's public members.
pub fn decoding_key(jwk: &Value) -> jsonwebtoken::DecodingKey {
    let s = |f: &str| jwk[f].as_str().unwrap_or_else(|| panic!("JWK member {f}"));
    match s("kty") {
        "RSA" => jsonwebtoken::DecodingKey::from_rsa_components(s("n"), s("e")),
        "EC" => jsonwebtoken::DecodingKey::from_ec_components(s("x"), s("y")),
        "OKP" => jsonwebtoken::DecodingKey::from_ed_components(s("x")),
        other => panic!("unexpected kty {other}"),
    }
    .expect("decoding key")
}

/// Verify one of our access tokens against a JWK Set the way a resource
/// server would: pick the key by `kid`, the algorithm from the JWK.
pub fn verify_against_jwks(
    token: &str,
    jwks: &Value,
    issuer: &str,
    audience: &str,
) -> jsonwebtoken::TokenData<Value> {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwk = jwk(jwks, &kid);
    let alg: jsonwebtoken::Algorithm = jwk["alg"]
        .as_str()
        .expect("alg")
        .parse()
        .expect("known alg");
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    jsonwebtoken::decode::<Value>(token, &decoding_key(jwk), &v)
        .expect("the token verifies against the JWKS")
}

// ---- response helpers -------------------------------------------------------

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_string())
}

/// RFC 6749 §5.2: `error_description` is printable ASCII without `"` and `\`.
pub fn assert_description_charset(d: &str) {
    assert!(
        d.bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
        "error_description {d:?} has characters outside RFC 6749 §5.2"
    );
}

/// Assert an OAuth error answer; its body.
pub async fn assert_oauth_error(r: Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json"),
        "OAuth errors are JSON (status {got})"
    );
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert_description_charset(
        body["error_description"]
            .as_str()
            .expect("error_description"),
    );
    body
}

/// Assert a non-OAuth API error (`{"error","message"}`); its body.
pub async fn assert_api_error(r: Response, status: StatusCode, code: &str) -> Value {
    let got = r.status();
    let body: Value = r.json().await.expect("error JSON");
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}
