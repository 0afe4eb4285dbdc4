//! Upstream OpenID providers: discovery (cached, issuer checked byte for
//! byte), the JWKS (cached, refetched at most once a minute on an unknown
//! `kid`), the code exchange (`client_secret_basic` + PKCE) and ID token
//! verification. Every call has a timeout and a bounded response size.

pub mod settings;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_actors::federation::id_token::{self, Expected, IdTokenError, UpstreamKeys};

pub use settings::{ClaimMapping, FederationSettings, ProviderSettings};

/// Largest upstream document read (discovery, JWKS, token response).
const MAX_RESPONSE: usize = 256 * 1024;
/// Least seconds between two JWKS refetches caused by an unknown `kid`.
const REFETCH_INTERVAL: i64 = 60;

/// What an upstream call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Network failure, timeout, error status, oversized or malformed
    /// answer: the provider cannot be used right now.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The ID token was refused.
    #[error("ID token rejected: {0}")]
    Token(#[from] IdTokenError),
}

fn unavailable(msg: impl Into<String>) -> UpstreamError {
    UpstreamError::Unavailable(msg.into())
}

/// The parts of a discovery document we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

struct Cached<T> {
    value: T,
    fetched_at: i64,
}

/// One configured provider and its caches.
pub struct Upstream {
    pub name: String,
    pub settings: ProviderSettings,
    discovery: Mutex<Option<Cached<Arc<Discovery>>>>,
    jwks: Mutex<Option<Cached<Arc<UpstreamKeys>>>>,
    last_refetch: AtomicI64,
}

/// Every configured provider, the HTTP client, and our callback URL.
pub struct Upstreams {
    providers: BTreeMap<String, Upstream>,
    http: reqwest::Client,
    callback: String,
}

fn fresh<T: Clone>(slot: &Mutex<Option<Cached<T>>>, now: i64, ttl: i64) -> Option<T> {
    let guard = slot.lock().ok()?;
    guard
        .as_ref()
        .filter(|c| now >= c.fetched_at && now - c.fetched_at < ttl)
        .map(|c| c.value.clone())
}

fn store<T>(slot: &Mutex<Option<Cached<T>>>, value: T, now: i64) {
    if let Ok(mut g) = slot.lock() {
        *g = Some(Cached {
            value,
            fetched_at: now,
        });
    }
}

impl Upstreams {
    /// `public_url` is our own base URL: the callback is built from it,
    /// never from a request's `Host`.
    pub fn new(settings: &FederationSettings, public_url: &str) -> anyhow::Result<Upstreams> {
        settings.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let providers = settings
            .providers
            .iter()
            .map(|(name, p)| {
                (
                    name.clone(),
                    Upstream {
                        name: name.clone(),
                        settings: p.clone(),
                        discovery: Mutex::new(None),
                        jwks: Mutex::new(None),
                        last_refetch: AtomicI64::new(i64::MIN),
                    },
                )
            })
            .collect();
        Ok(Upstreams {
            providers,
            http,
            callback: format!("{}/auth/oidc/login", public_url.trim_end_matches('/')),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Upstream> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// Our redirect URI at every provider.
    pub fn callback(&self) -> &str {
        &self.callback
    }

    /// Read a JSON answer of at most [`MAX_RESPONSE`] bytes.
    async fn json(&self, rb: reqwest::RequestBuilder) -> Result<(u16, Value), UpstreamError> {
        let resp = rb
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(format!("request failed: {e}")))?;
        let status = resp.status().as_u16();
        let body = crate::outbound::read_limited(resp, MAX_RESPONSE)
            .await
            .map_err(unavailable)?;
        let v = serde_json::from_slice(&body).map_err(|_| unavailable("answer is not JSON"))?;
        Ok((status, v))
    }

    async fn get_json(&self, url: &str) -> Result<Value, UpstreamError> {
        let (status, v) = self.json(self.http.get(url)).await?;
        if status != 200 {
            return Err(unavailable(format!("{url} answered {status}")));
        }
        Ok(v)
    }

    /// The provider's discovery document, cached.
    pub async fn discovery(
        &self,
        up: &Upstream,
        now: i64,
    ) -> Result<Arc<Discovery>, UpstreamError> {
        if let Some(d) = fresh(&up.discovery, now, up.settings.cache_seconds) {
            return Ok(d);
        }
        let issuer = &up.settings.issuer;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc: Discovery = serde_json::from_value(self.get_json(&url).await?)
            .map_err(|_| unavailable("discovery document lacks a required field"))?;
        if doc.issuer != *issuer {
            return Err(unavailable(
                "the discovery document names another issuer than the one configured",
            ));
        }
        let insecure = up.settings.allow_insecure_http;
        for u in [
            &doc.authorization_endpoint,
            &doc.token_endpoint,
            &doc.jwks_uri,
        ] {
            if !settings::acceptable_url(u, insecure) {
                return Err(unavailable("discovery names an endpoint that is not https"));
            }
        }
        let doc = Arc::new(doc);
        store(&up.discovery, doc.clone(), now);
        Ok(doc)
    }

    /// The provider's keys, cached; `refetch` asks for a new copy (granted
    /// at most once per [`REFETCH_INTERVAL`]).
    async fn keys(
        &self,
        up: &Upstream,
        jwks_uri: &str,
        now: i64,
        refetch: bool,
    ) -> Result<Option<Arc<UpstreamKeys>>, UpstreamError> {
        if !refetch {
            if let Some(k) = fresh(&up.jwks, now, up.settings.cache_seconds) {
                return Ok(Some(k));
            }
        } else {
            let last = up.last_refetch.load(Ordering::SeqCst);
            if now.saturating_sub(last) < REFETCH_INTERVAL
                || up
                    .last_refetch
                    .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
            {
                return Ok(None);
            }
        }
        let keys = Arc::new(UpstreamKeys::parse(&self.get_json(jwks_uri).await?));
        store(&up.jwks, keys.clone(), now);
        Ok(Some(keys))
    }

    /// Exchange `code` for tokens; answers the ID token.
    pub async fn exchange(
        &self,
        up: &Upstream,
        disc: &Discovery,
        code: &str,
        verifier: &str,
    ) -> Result<String, UpstreamError> {
        // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let rb = self
            .http
            .post(&disc.token_endpoint)
            .basic_auth(
                enc(&up.settings.client_id),
                Some(enc(&up.settings.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.callback.as_str()),
                ("code_verifier", verifier),
            ]);
        let (status, v) = self.json(rb).await?;
        if status != 200 {
            let err = v.get("error").and_then(Value::as_str).unwrap_or("unknown");
            return Err(unavailable(format!(
                "the token endpoint answered {status} ({})",
                err.chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect::<String>()
            )));
        }
        v.get("id_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| unavailable("the token answer has no id_token"))
    }

    /// Verify `token` for `up`: keys from the JWKS (one refetch on an
    /// unknown `kid`), claims against the configuration and `nonce`.
    pub async fn verify(
        &self,
        up: &Upstream,
        disc: &Discovery,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let kid = id_token::header_kid(token)?;
        let expected = Expected {
            issuer: &up.settings.issuer,
            client_id: &up.settings.client_id,
            nonce,
            now,
            leeway: up.settings.leeway_seconds,
        };
        let mut keys = self
            .keys(up, &disc.jwks_uri, now, false)
            .await?
            .unwrap_or_default();
        if keys.find(kid.as_deref()).is_none() {
            if let Some(k) = self.keys(up, &disc.jwks_uri, now, true).await? {
                keys = k;
            }
        }
        Ok(id_token::verify(token, &keys, &expected)?)
    }
}
