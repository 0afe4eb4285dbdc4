//! Settings: sane defaults with no file, an optional TOML file, then
//! `TESSERA_*` environment overrides (nested keys with `__`, e.g.
//! `TESSERA_TOKENS__ACCESS_TOKEN_TTL=600`), then command-line flags.

use std::path::PathBuf;

use serde::Deserialize;
use tessera_actors::domain::TokenFormat;
use tessera_actors::keys::{KeyAlg, KeyConfig};
use tessera_actors::EngineConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Where the embedded store lives.
    pub data_dir: PathBuf,
    /// Public base URL (the `iss`); defaults to `http://{bind}`.
    pub issuer: Option<String>,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Admin bearer token; generated into `{data_dir}/admin_token` when unset.
    pub admin_token: Option<String>,
    pub tokens: TokenSettings,
    pub keys: KeySettings,
    pub sessions: SessionSettings,
    pub accounts: AccountSettings,
    pub mail: MailSettings,
    pub log: LogSettings,
    pub store: StoreSettings,
    /// Upstream OpenID providers (`[federation.providers.NAME]`).
    pub federation: crate::federation::FederationSettings,
}

/// Outbound mail. With no `smtp_host`, mails are written as `.eml` files
/// into `outbox_dir` (default `{data_dir}/outbox`), so an embedded server
/// needs no mail server.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    pub smtp_host: Option<String>,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` or `none` (a local relay or a test server).
    pub smtp_tls: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// The `From` of every mail, `Name <address>` or `address`.
    pub from: String,
    /// Where the file outbox writes when no SMTP host is configured.
    pub outbox_dir: Option<PathBuf>,
    /// Attempts before a mail is kept as a dead letter.
    pub max_attempts: u32,
    /// Delay after the first failed attempt, seconds; doubles per failure
    /// (capped at an hour).
    pub retry_base_seconds: i64,
}

impl Default for MailSettings {
    fn default() -> Self {
        let d = tessera_actors::mailer::MailerConfig::default();
        MailSettings {
            smtp_host: None,
            smtp_port: None,
            smtp_tls: "starttls".into(),
            smtp_username: None,
            smtp_password: None,
            from: d.from,
            outbox_dir: None,
            max_attempts: d.max_attempts,
            retry_base_seconds: d.retry_base,
        }
    }
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("from", &self.from)
            .field("outbox_dir", &self.outbox_dir)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_seconds", &self.retry_base_seconds)
            .finish()
    }
}

impl MailSettings {
    /// The mailer's configuration; `data_dir` places the default outbox.
    pub fn mailer_config(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<tessera_actors::mailer::MailerConfig> {
        use tessera_actors::mailer::{
            parse_mailbox, MailerConfig, SmtpConfig, SmtpTls, TransportSpec,
        };
        parse_mailbox(&self.from).map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        let tls: SmtpTls = self
            .smtp_tls
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.smtp_tls: {e}"))?;
        anyhow::ensure!(
            (1..=100).contains(&self.max_attempts),
            "mail.max_attempts must be between 1 and 100"
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.retry_base_seconds),
            "mail.retry_base_seconds must be between 1 and 3600"
        );
        anyhow::ensure!(
            self.smtp_username.is_some() == self.smtp_password.is_some(),
            "mail.smtp_username and mail.smtp_password go together"
        );
        let transport = match self.smtp_host.as_deref().map(str::trim) {
            Some(host) if !host.is_empty() => {
                anyhow::ensure!(
                    !host.contains(['/', ' ', '@']),
                    "mail.smtp_host must be a host name or address"
                );
                anyhow::ensure!(self.smtp_port != Some(0), "mail.smtp_port must not be 0");
                TransportSpec::Smtp(SmtpConfig {
                    host: host.to_string(),
                    port: self.smtp_port.unwrap_or_else(|| tls.default_port()),
                    tls,
                    username: self.smtp_username.clone(),
                    password: self.smtp_password.clone(),
                    timeout: std::time::Duration::from_secs(30),
                })
            }
            _ => TransportSpec::File {
                dir: self
                    .outbox_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("outbox")),
            },
        };
        Ok(MailerConfig {
            from: self.from.clone(),
            transport,
            max_attempts: self.max_attempts,
            retry_base: self.retry_base_seconds,
            ..MailerConfig::default()
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Allow self-service registration; `403` when off.
    pub registration_enabled: bool,
    /// The built-in first-party client that account tokens are issued to.
    pub client_id: String,
    /// Lifetime of personal refresh tokens, seconds.
    pub personal_token_ttl: i64,
    /// Lifetime of mailed codes and links, seconds.
    pub code_ttl: i64,
    /// Wrong tries a mailed code survives.
    pub code_attempts: u32,
    /// Lifetime of an entity token created without an expiry, seconds.
    pub entity_token_ttl: i64,
    /// Longest an entity token's expiry may be set ahead, seconds.
    pub entity_token_max_ttl: i64,
    /// Public base URL for links in mail; defaults to the issuer. Links are
    /// never built from a request's `Host`.
    pub public_url: Option<String>,
    /// Where `/api/oauth/valid_email/{token}` sends the browser (`301`);
    /// defaults to `{public_url}/`.
    pub email_verified_redirect: Option<String>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        let d = tessera_actors::AccountsConfig::default();
        AccountSettings {
            registration_enabled: d.registration_enabled,
            client_id: d.client_id,
            personal_token_ttl: d.personal_token_ttl,
            code_ttl: d.code_ttl,
            code_attempts: d.code_attempts,
            entity_token_ttl: d.entity_token_ttl,
            entity_token_max_ttl: d.entity_token_max_ttl,
            public_url: None,
            email_verified_redirect: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Seconds of inactivity that end a browser session.
    pub idle_timeout: i64,
    /// Seconds after which a session ends regardless of activity.
    pub absolute_lifetime: i64,
    /// Seconds a login may wait for its TOTP code.
    pub mfa_timeout: i64,
    /// Send cookies without `Secure` (plain-HTTP development). Defaults to
    /// true only when the issuer is `http://`.
    pub insecure_cookies: Option<bool>,
    /// Concurrent password hashes (default: cores) and how many more may wait.
    pub password_workers: Option<usize>,
    pub password_queue: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_timeout: 1800,
            absolute_lifetime: 36_000,
            mfa_timeout: 300,
            insecure_cookies: None,
            password_workers: None,
            password_queue: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Access token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Longest per-client access token lifetime, seconds.
    pub max_access_token_ttl: i64,
    /// `jwt` (RFC 9068) or `opaque`.
    pub access_token_format: String,
    /// Longest a refresh-token family may live, seconds.
    pub max_family_lifetime: i64,
    /// Lifetime of one refresh token, seconds.
    pub refresh_token_ttl: i64,
    pub id_token_ttl: i64,
    /// Authorization code lifetime, seconds (at most 600).
    pub code_ttl: i64,
    /// Rotate refresh tokens of confidential clients too.
    pub rotate_confidential_refresh: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub algorithm: String,
    /// Seconds a key signs before the next takes over.
    pub rotation_period: i64,
}

/// The embedded store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Bytes that must stay free on the data directory's filesystem. Below
    /// it, writes answer `503` without touching the disk, and they come back
    /// by themselves once space is freed.
    pub reserve_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            reserve_bytes: tessera_actors::store::DEFAULT_RESERVE_BYTES,
        }
    }
}

impl Settings {
    /// How the store under `data_dir` is opened.
    pub fn store_options(&self) -> tessera_actors::store::StoreOptions {
        tessera_actors::store::StoreOptions {
            reserve_bytes: self.store.reserve_bytes,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info` or `tessera=debug`.
    pub level: String,
    /// Log as JSON lines.
    pub json: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            issuer: None,
            workers: None,
            admin_token: None,
            tokens: TokenSettings::default(),
            keys: KeySettings::default(),
            sessions: SessionSettings::default(),
            accounts: AccountSettings::default(),
            mail: MailSettings::default(),
            log: LogSettings::default(),
            store: StoreSettings::default(),
            federation: Default::default(),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            access_token_ttl: 3600,
            max_access_token_ttl: 86_400,
            access_token_format: "jwt".into(),
            max_family_lifetime: 90 * 86_400,
            refresh_token_ttl: 30 * 86_400,
            id_token_ttl: 3600,
            code_ttl: 60,
            rotate_confidential_refresh: true,
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            algorithm: "RS256".into(),
            rotation_period: 30 * 86_400,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            json: false,
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file if given, then `TESSERA_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        let mut b = config::Config::builder();
        if let Some(f) = file {
            b = b.add_source(
                config::File::from(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        // `TESSERA_CONFIG` names the file (the `--config` flag's variable)
        // and `TESSERA_URL` a running server (the `--url` flag's): they are
        // not settings; leave them out or `deny_unknown_fields` trips.
        let vars = std::env::vars()
            .filter(|(k, _)| k != "TESSERA_CONFIG" && k != "TESSERA_URL")
            .collect();
        b = b.add_source(
            config::Environment::with_prefix("TESSERA")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        );
        let s: Settings = b.build()?.try_deserialize()?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.engine_config()?;
        self.federation.validate()?;
        Ok(())
    }

    pub fn engine_config(&self) -> anyhow::Result<EngineConfig> {
        let t = &self.tokens;
        anyhow::ensure!(
            t.access_token_ttl > 0,
            "tokens.access_token_ttl must be positive"
        );
        anyhow::ensure!(
            t.refresh_token_ttl > 0 && t.id_token_ttl > 0 && t.max_family_lifetime >= t.refresh_token_ttl,
            "tokens: refresh_token_ttl and id_token_ttl must be positive, max_family_lifetime at least refresh_token_ttl"
        );
        anyhow::ensure!(
            (1..=600).contains(&t.code_ttl),
            "tokens.code_ttl must be between 1 and 600 seconds"
        );
        anyhow::ensure!(
            t.max_access_token_ttl >= t.access_token_ttl,
            "tokens.max_access_token_ttl must be at least tokens.access_token_ttl"
        );
        anyhow::ensure!(
            self.keys.rotation_period >= 60,
            "keys.rotation_period must be at least 60 seconds"
        );
        let se = &self.sessions;
        anyhow::ensure!(
            se.idle_timeout > 0 && se.absolute_lifetime >= se.idle_timeout && se.mfa_timeout > 0,
            "sessions: idle_timeout and mfa_timeout must be positive and absolute_lifetime at least idle_timeout"
        );
        let a = &self.accounts;
        anyhow::ensure!(
            a.personal_token_ttl > 0 && a.code_ttl > 0 && a.code_attempts > 0,
            "accounts: personal_token_ttl, code_ttl and code_attempts must be positive"
        );
        anyhow::ensure!(
            a.entity_token_ttl > 0 && a.entity_token_max_ttl >= a.entity_token_ttl,
            "accounts: entity_token_ttl must be positive and entity_token_max_ttl at least entity_token_ttl"
        );
        anyhow::ensure!(
            tessera_actors::domain::valid_client_id(&a.client_id),
            "accounts.client_id must be 1-128 characters of [A-Za-z0-9-._~]"
        );
        let alg: KeyAlg = self.keys.algorithm.parse().map_err(anyhow::Error::msg)?;
        let format: TokenFormat = t.access_token_format.parse().map_err(anyhow::Error::msg)?;
        Ok(EngineConfig {
            issuer: self.issuer(),
            access_token_ttl: t.access_token_ttl,
            max_access_token_ttl: t.max_access_token_ttl,
            access_token_format: format,
            max_family_lifetime: t.max_family_lifetime,
            refresh_token_ttl: t.refresh_token_ttl,
            id_token_ttl: t.id_token_ttl,
            code_ttl: t.code_ttl,
            rotate_confidential_refresh: t.rotate_confidential_refresh,
            keys: KeyConfig {
                alg,
                rotation_period: self.keys.rotation_period,
                // A retired key verifies until the longest-lived token it can
                // have signed is gone, plus a minute of margin.
                retire_after: t.max_access_token_ttl.max(t.id_token_ttl) + 60,
            },
            sessions: tessera_actors::sessions::SessionConfig {
                idle_timeout: self.sessions.idle_timeout,
                absolute_lifetime: self.sessions.absolute_lifetime,
                mfa_timeout: self.sessions.mfa_timeout,
            },
            password_workers: self
                .sessions
                .password_workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            password_queue: self.sessions.password_queue,
            accounts: tessera_actors::AccountsConfig {
                registration_enabled: self.accounts.registration_enabled,
                client_id: self.accounts.client_id.clone(),
                personal_token_ttl: self.accounts.personal_token_ttl,
                code_ttl: self.accounts.code_ttl,
                code_attempts: self.accounts.code_attempts,
                entity_token_ttl: self.accounts.entity_token_ttl,
                entity_token_max_ttl: self.accounts.entity_token_max_ttl,
            },
            mail: self.mail.mailer_config(&self.data_dir)?,
        })
    }

    /// The base of every link sent by mail.
    pub fn public_url(&self) -> String {
        self.accounts
            .public_url
            .clone()
            .unwrap_or_else(|| self.issuer())
            .trim_end_matches('/')
            .to_string()
    }

    /// Where a verified e-mail link lands.
    pub fn email_verified_redirect(&self) -> String {
        self.accounts
            .email_verified_redirect
            .clone()
            .unwrap_or_else(|| format!("{}/auth/email-verified", self.public_url()))
    }

    /// Whether cookies go without `Secure` and the `__Host-` prefix.
    pub fn insecure_cookies(&self) -> bool {
        self.sessions
            .insecure_cookies
            .unwrap_or_else(|| self.issuer().starts_with("http://"))
    }

    pub fn issuer(&self) -> String {
        let i = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind));
        i.trim_end_matches('/').to_string()
    }
}
