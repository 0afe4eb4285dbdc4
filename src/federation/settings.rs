//! `[federation.providers.NAME]`: the upstream OpenID providers users may
//! log in with, by name (the `client_id` of `GET /auth/openid`).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationSettings {
    pub providers: BTreeMap<String, ProviderSettings>,
}

/// One upstream provider.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The provider's issuer; its discovery document must name exactly this.
    pub issuer: String,
    /// Our client at the provider.
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for, space-separated; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// Which upstream claims fill the local account.
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Clock skew allowed on the ID token's `exp`, `nbf` and `iat`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: i64,
    /// Allow an `http://` issuer and endpoints on a loopback address
    /// (`127.0.0.1`, `[::1]`, `localhost`), for tests and development.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Seconds the discovery document and the JWKS are cached.
    #[serde(default = "default_cache")]
    pub cache_seconds: i64,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("claims", &self.claims)
            .field("leeway_seconds", &self.leeway_seconds)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("cache_seconds", &self.cache_seconds)
            .finish()
    }
}

/// Names of the upstream claims that give each local field.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMapping {
    pub username: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            username: "preferred_username".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
        }
    }
}

fn default_scopes() -> String {
    "openid email profile".into()
}
fn default_leeway() -> i64 {
    30
}
fn default_cache() -> i64 {
    3600
}

/// Whether `url` is `https://`, or `http://` on a loopback host when
/// `insecure` allows it.
pub fn acceptable_url(url: &str, insecure: bool) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    if u.username() != "" || u.password().is_some() || u.host().is_none() {
        return false;
    }
    match u.scheme() {
        "https" => true,
        "http" if insecure => matches!(
            u.host_str(),
            Some("127.0.0.1") | Some("[::1]") | Some("localhost")
        ),
        _ => false,
    }
}

impl FederationSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, p) in &self.providers {
            anyhow::ensure!(
                !name.is_empty()
                    && name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "federation.providers: {name:?} must be 1-64 of [A-Za-z0-9-_.]"
            );
            anyhow::ensure!(
                acceptable_url(&p.issuer, p.allow_insecure_http),
                "federation.providers.{name}.issuer must be an https URL \
                 (http only on a loopback host with allow_insecure_http)"
            );
            anyhow::ensure!(
                !p.client_id.is_empty() && !p.client_secret.is_empty(),
                "federation.providers.{name}: client_id and client_secret are required"
            );
            anyhow::ensure!(
                p.scopes.split_whitespace().any(|s| s == "openid"),
                "federation.providers.{name}.scopes must include openid"
            );
            anyhow::ensure!(
                (0..=300).contains(&p.leeway_seconds),
                "federation.providers.{name}.leeway_seconds must be between 0 and 300"
            );
            anyhow::ensure!(
                (1..=86_400).contains(&p.cache_seconds),
                "federation.providers.{name}.cache_seconds must be between 1 and 86400"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable_url;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(acceptable_url("https://idp.example.com", false));
        assert!(!acceptable_url("http://idp.example.com", false));
        assert!(!acceptable_url("http://idp.example.com", true));
        assert!(!acceptable_url("http://127.0.0.1:8080", false));
        assert!(acceptable_url("http://127.0.0.1:8080", true));
        assert!(acceptable_url("http://[::1]:8080/x", true));
        assert!(!acceptable_url("https://user:pw@idp.example.com", false));
        assert!(!acceptable_url("ftp://idp.example.com", true));
        assert!(!acceptable_url("not a url", true));
    }
}
