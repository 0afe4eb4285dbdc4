//! `[passkeys]`: WebAuthn's relying party.
//!
//! - `rp_id`: the domain passkeys are bound to. Defaults to the host of
//!   the public URL (`accounts.public_url`, else the issuer); a loopback
//!   address (`127.0.0.1`, `::1`) becomes `localhost`, since WebAuthn
//!   needs a domain. Changing it later orphans every registered passkey.
//! - `origins`: the exact origins (`https://login.example.com`) pages run
//!   on. Defaults to the public URL's origin (with `localhost` for a
//!   loopback address). Each must be `rp_id` or a subdomain of it.
//! - `rp_name`: the name authenticators show; defaults to `tessera`.
//! - `reauth_max_age`: seconds after a login within which a session may add
//!   or remove passkeys (older: sign in again). Default 600.
//! - `ceremony_ttl`: seconds between a ceremony's options and its answer.
//!   Default 300.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    pub rp_id: Option<String>,
    pub origins: Vec<String>,
    pub rp_name: String,
    pub reauth_max_age: i64,
    pub ceremony_ttl: i64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        PasskeySettings {
            rp_id: None,
            origins: Vec::new(),
            rp_name: "tessera".into(),
            reauth_max_age: 600,
            ceremony_ttl: 300,
        }
    }
}

impl PasskeySettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (60..=86400).contains(&self.reauth_max_age),
            "passkeys.reauth_max_age must be between 60 and 86400 seconds"
        );
        anyhow::ensure!(
            (30..=600).contains(&self.ceremony_ttl),
            "passkeys.ceremony_ttl must be between 30 and 600 seconds"
        );
        anyhow::ensure!(
            !self.rp_name.trim().is_empty() && self.rp_name.len() <= 64,
            "passkeys.rp_name must be 1-64 bytes"
        );
        if let Some(id) = &self.rp_id {
            anyhow::ensure!(
                !id.is_empty()
                    && id.len() <= 253
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'),
                "passkeys.rp_id must be a domain name (e.g. example.com)"
            );
        }
        Ok(())
    }

    /// The relying party id and origins for a server whose public URL is
    /// `public_url`: the configured ones, else derived from it. `None` when
    /// none can be derived (an address other than loopback, no override).
    pub fn relying_party(&self, public_url: &str) -> anyhow::Result<Option<(String, Vec<String>)>> {
        let url = webauthn_rs::prelude::Url::parse(public_url)
            .map_err(|e| anyhow::anyhow!("the public URL {public_url:?} is not a URL: {e}"))?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let ip: Option<std::net::IpAddr> = host.parse().ok();
        let derived_host = match ip {
            None if !host.is_empty() => Some(host.to_ascii_lowercase()),
            Some(a) if a.is_loopback() => Some("localhost".to_string()),
            _ => None,
        };
        let origins = if self.origins.is_empty() {
            match &derived_host {
                Some(h) => {
                    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                    vec![format!("{}://{h}{port}", url.scheme())]
                }
                None => Vec::new(),
            }
        } else {
            self.origins.clone()
        };
        let rp_id = match (&self.rp_id, derived_host) {
            (Some(id), _) => id.to_ascii_lowercase(),
            (None, Some(h)) => h,
            (None, None) => return Ok(None),
        };
        if origins.is_empty() {
            return Ok(None);
        }
        Ok(Some((rp_id, origins)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_the_public_url() {
        let s = PasskeySettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(
            s.relying_party("https://login.example.com").unwrap(),
            Some((
                "login.example.com".into(),
                vec!["https://login.example.com".into()]
            ))
        );
        assert_eq!(
            s.relying_party("http://127.0.0.1:8080").unwrap(),
            Some(("localhost".into(), vec!["http://localhost:8080".into()]))
        );
        assert_eq!(s.relying_party("http://10.1.2.3:8080").unwrap(), None);
    }

    #[test]
    fn overrides_win() {
        let s = PasskeySettings {
            rp_id: Some("example.com".into()),
            origins: vec!["https://id.example.com".into()],
            ..PasskeySettings::default()
        };
        assert_eq!(
            s.relying_party("http://10.1.2.3:8080").unwrap(),
            Some(("example.com".into(), vec!["https://id.example.com".into()]))
        );
        let bad = PasskeySettings {
            rp_id: Some("https://example.com".into()),
            ..PasskeySettings::default()
        };
        assert!(bad.validate().is_err());
        let short = PasskeySettings {
            reauth_max_age: 5,
            ..PasskeySettings::default()
        };
        assert!(short.validate().is_err());
    }
}
