//! The plain sections: `[tokens]`, `[keys]`, `[sessions]`, `[accounts]`,
//! `[store]`, `[log]`, each with today's defaults. They are checked together
//! in `engine.rs`, where they become the engine's configuration.

use serde::Deserialize;

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

/// Which backend keeps the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded store under `data_dir` (the default).
    #[default]
    Sled,
    /// A PostgreSQL database at `store.database_url`.
    Postgres,
}

/// The store: embedded (sled) or PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// `sled` (default) or `postgres`.
    pub backend: Backend,
    /// With `postgres`: `postgres://user:password@host:port/db`; TLS with
    /// `?sslmode=require` (or `verify-full`).
    pub database_url: Option<String>,
    /// With `postgres`: connections in the pool.
    pub pool_size: u32,
    /// With `postgres`: longest a statement may run, in milliseconds; past
    /// it the request answers `503` instead of hanging.
    pub statement_timeout_ms: u64,
    /// With `postgres`: apply pending migrations at start. With `false`,
    /// `tessera migrate` does, and an out-of-date schema refuses to start.
    pub migrate: bool,
    /// With `sled`: bytes that must stay free on the data directory's
    /// filesystem. Below it, writes answer `503` without touching the disk,
    /// and they come back by themselves once space is freed.
    pub reserve_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        let pg = tessera_actors::pg::PgOptions::new("");
        StoreSettings {
            backend: Backend::Sled,
            database_url: None,
            pool_size: pg.pool_size,
            statement_timeout_ms: u64::try_from(pg.statement_timeout.as_millis()).unwrap_or(5000),
            migrate: pg.migrate,
            reserve_bytes: tessera_actors::store::DEFAULT_RESERVE_BYTES,
        }
    }
}

impl StoreSettings {
    /// How PostgreSQL is reached; an error names what is missing.
    pub fn pg_options(&self) -> anyhow::Result<tessera_actors::pg::PgOptions> {
        let Some(url) = self.database_url.as_deref().filter(|u| !u.is_empty()) else {
            anyhow::bail!(
                "store.backend = \"postgres\" needs store.database_url \
                 (or TESSERA_STORE__DATABASE_URL), e.g. postgres://tessera@127.0.0.1:5432/tessera"
            );
        };
        if self.pool_size == 0 {
            anyhow::bail!("store.pool_size must be at least 1");
        }
        if self.statement_timeout_ms == 0 {
            anyhow::bail!("store.statement_timeout_ms must be at least 1");
        }
        Ok(tessera_actors::pg::PgOptions {
            url: url.to_string(),
            pool_size: self.pool_size,
            statement_timeout: std::time::Duration::from_millis(self.statement_timeout_ms),
            migrate: self.migrate,
            origin: None,
            application_name: "tessera".into(),
        })
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
