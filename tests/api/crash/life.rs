//! One server life as the harness drives it: its HTTP client and the
//! requests the workers and checks send, plus the seeded choices.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{LOGIN_USER, PASSWORD, REDIRECT};
use crate::process::{Server, ADMIN_TOKEN};

/// splitmix64: small, seedable, good enough for choosing timings.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(super) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(super) fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

/// Prints the seed when the test fails, so the run can be replayed.
pub(super) struct SeedOnFailure(pub(super) u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash harness failed; replay with TESSERA_CRASH_SEED={}",
                self.0
            );
        }
    }
}

pub(super) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[derive(Clone)]
pub(super) struct Cred {
    pub(super) id: String,
    pub(super) secret: String,
}

/// One server life: the address and a connection pool of its own.
#[derive(Clone)]
pub(super) struct Life {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
}

impl Life {
    pub(super) fn new(s: &Server) -> Life {
        Life {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("reqwest client"),
            base: s.address.clone(),
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) async fn admin_post(
        &self,
        path: &str,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
    }

    pub(super) async fn admin_get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin GET");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.expect("admin JSON")
    }

    pub(super) async fn token(
        &self,
        c: &Cred,
        params: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(params)
            .send()
            .await
    }

    pub(super) async fn introspect(&self, c: &Cred, token: &str) -> String {
        let r = self
            .http
            .post(self.url("/oauth2/token/introspect"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect");
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.expect("introspection body")
    }

    pub(super) async fn revoke(&self, c: &Cred, token: &str) -> reqwest::Result<StatusCode> {
        Ok(self
            .http
            .post(self.url("/oauth2/token/revoke"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&[("token", token)])
            .send()
            .await?
            .status())
    }

    /// A client made through the admin API as `spec` says.
    pub(super) async fn create_client(&self, spec: Value) -> Cred {
        let r = self
            .admin_post("/admin/clients", &spec)
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::CREATED, "{spec}");
        let v: Value = r.json().await.expect("client JSON");
        Cred {
            id: v["client_id"].as_str().expect("id").into(),
            secret: v["client_secret"].as_str().expect("secret").into(),
        }
    }

    /// A user `name` with [`PASSWORD`] and a verified address, which it
    /// answers.
    pub(super) async fn create_user(&self, name: &str) -> String {
        let r = self
            .admin_post(
                "/admin/users",
                &json!({
                    "username": name,
                    "email": format!("{name}@example.com"),
                    "password": PASSWORD,
                    "email_verified": true,
                }),
            )
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::CREATED);
        format!("{name}@example.com")
    }

    /// `POST /auth/login`: the session cookie.
    pub(super) async fn login(&self) -> String {
        let r = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({"login": LOGIN_USER, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login");
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let pair = v.split(';').next()?;
                let (n, val) = pair.split_once('=')?;
                (n.trim() == "tessera_session" && !val.trim().is_empty())
                    .then(|| val.trim().to_string())
            })
            .expect("a session cookie")
    }

    /// An authorization code and its PKCE verifier (`None` when the server
    /// went away).
    pub(super) async fn code(&self, rp: &Cred, session: &str) -> Option<(String, String)> {
        let verifier =
            tessera_actors::secret::b64url(&tessera_actors::secret::random_bytes::<32>());
        let challenge =
            tessera_actors::secret::b64url(&tessera_actors::secret::sha256(verifier.as_bytes()));
        let state = uuid::Uuid::new_v4().simple().to_string();
        let query = crate::flow::encode(&[
            ("response_type", "code"),
            ("client_id", rp.id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid read"),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let r = self
            .http
            .get(self.url(&format!("/oauth2/authorize?{query}")))
            .header("cookie", format!("tessera_session={session}"))
            .send()
            .await
            .ok()?;
        assert!(
            r.status() == StatusCode::FOUND || r.status() == StatusCode::SEE_OTHER,
            "authorize answered {}",
            r.status()
        );
        let loc = r.headers().get("location")?.to_str().ok()?.to_string();
        let (_, q) = loc.split_once('?')?;
        let code = form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.to_string());
        assert!(code.is_some(), "no code in {loc}");
        code.map(|c| (c, verifier))
    }

    pub(super) async fn exchange(
        &self,
        rp: &Cred,
        code: &str,
        verifier: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.token(
            rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    pub(super) async fn refresh(
        &self,
        rp: &Cred,
        token: &str,
    ) -> reqwest::Result<reqwest::Response> {
        self.token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
    }
}
