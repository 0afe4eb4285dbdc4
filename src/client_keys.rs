//! The keys of clients that sign (private_key_jwt assertions, request
//! objects): registered by value (`jwks`, parsed once per registration) or
//! published at a `jwks_uri` (fetched with a timeout and a size limit,
//! cached, fetched again when the cache is old or when a JWT names a `kid`
//! the cached set lacks, at most once per `jwks_refetch_interval`). A key
//! set is never fetched per request, and only from `https://` (or from
//! loopback over `http://` when `allow_http_jwks_uri` is set).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tessera_actors::directory::Client;
use tessera_actors::jose::KeySet;
use tokio::sync::Mutex;

use crate::configuration::ClientAuthSettings;

/// Why a client's keys could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("the client has registered no keys (jwks or jwks_uri)")]
    NoKeys,
    /// Why is logged, not told to the caller.
    #[error("the client's jwks_uri could not be fetched")]
    Fetch(String),
}

/// A fetched key set and when it was fetched.
struct Fetched {
    keys: Arc<KeySet>,
    at: i64,
}

struct Remote {
    /// The last good set, if any.
    fetched: Option<Fetched>,
    /// When the last fetch (good or not) started.
    tried_at: i64,
}

pub struct ClientKeys {
    settings: ClientAuthSettings,
    http: reqwest::Client,
    /// Sets registered by value, by client id, with the record they were
    /// parsed from (a changed client is parsed again).
    inline: DashMap<String, (Arc<Client>, Arc<KeySet>)>,
    /// Sets fetched from a `jwks_uri`, by URI; one fetch at a time each.
    remote: DashMap<String, Arc<Mutex<Remote>>>,
}

impl ClientKeys {
    pub fn new(settings: &ClientAuthSettings) -> anyhow::Result<ClientKeys> {
        let timeout = Duration::from_secs(settings.jwks_timeout);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(ClientKeys {
            settings: settings.clone(),
            http,
            inline: DashMap::new(),
            remote: DashMap::new(),
        })
    }

    pub fn settings(&self) -> &ClientAuthSettings {
        &self.settings
    }

    /// The client's keys; a `kid` the cached set lacks may fetch it again.
    pub async fn keys(
        &self,
        client: &Arc<Client>,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<KeySet>, KeysError> {
        if let Some(jwks) = &client.jwks {
            if let Some(e) = self.inline.get(&client.client_id) {
                if Arc::ptr_eq(&e.0, client) {
                    return Ok(e.1.clone());
                }
            }
            // Checked when registered; lenient here so a set registered
            // under older rules still loads what it can.
            let keys = Arc::new(KeySet::parse_lenient(jwks));
            self.inline
                .insert(client.client_id.clone(), (client.clone(), keys.clone()));
            return Ok(keys);
        }
        let uri = client.jwks_uri.as_deref().ok_or(KeysError::NoKeys)?;
        let slot = self
            .remote
            .entry(uri.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Remote {
                    fetched: None,
                    tried_at: i64::MIN,
                }))
            })
            .clone();
        let mut remote = slot.lock().await;
        let s = &self.settings;
        if let Some(f) = &remote.fetched {
            let fresh = now.saturating_sub(f.at) < s.jwks_cache_seconds;
            let knows = kid.is_none_or(|k| f.keys.has_kid(k));
            let may_retry = now.saturating_sub(remote.tried_at) >= s.jwks_refetch_interval;
            if (fresh && knows) || !may_retry {
                return Ok(f.keys.clone());
            }
        } else if now.saturating_sub(remote.tried_at) < s.jwks_refetch_interval.min(5) {
            // A set that just failed to load is not fetched again at once.
            return Err(KeysError::Fetch(
                "the last fetch failed; try again later".into(),
            ));
        }
        remote.tried_at = now;
        match self.fetch(uri).await {
            Ok(keys) => {
                metrics::counter!("tessera_jwks_fetches_total", "outcome" => "ok").increment(1);
                let keys = Arc::new(keys);
                remote.fetched = Some(Fetched {
                    keys: keys.clone(),
                    at: now,
                });
                Ok(keys)
            }
            Err(why) => {
                metrics::counter!("tessera_jwks_fetches_total", "outcome" => "error").increment(1);
                tracing::warn!(client_id = %client.client_id, jwks_uri = uri, error = %why, "a client's jwks_uri could not be fetched");
                // An old set keeps working while the new one cannot be had.
                match &remote.fetched {
                    Some(f) => Ok(f.keys.clone()),
                    None => Err(KeysError::Fetch(why)),
                }
            }
        }
    }

    /// Whether the URI may be fetched: https, or http to loopback when
    /// allowed.
    fn allowed(&self, uri: &str) -> bool {
        if uri.starts_with("https://") {
            return true;
        }
        let Some(rest) = uri.strip_prefix("http://") else {
            return false;
        };
        if !self.settings.allow_http_jwks_uri {
            return false;
        }
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    async fn fetch(&self, uri: &str) -> Result<KeySet, String> {
        if !self.allowed(uri) {
            return Err("only https jwks_uri values are fetched".into());
        }
        let max = self.settings.jwks_max_bytes;
        let resp = self
            .http
            .get(uri)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("answered {}", resp.status()));
        }
        let body = crate::outbound::read_limited(resp, max).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "the answer is not JSON".to_string())?;
        let keys = KeySet::parse_lenient(&doc);
        if keys.is_empty() {
            return Err("the set holds no usable signature key".into());
        }
        Ok(keys)
    }
}
