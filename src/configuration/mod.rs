//! Settings: sane defaults with no file, an optional TOML file, then
//! `TESSERA_*` environment overrides (nested keys with `__`, e.g.
//! `TESSERA_TOKENS__ACCESS_TOKEN_TTL=600`), then command-line flags.
//!
//! - `mod.rs` — [`Settings`], loading, and the URLs derived from it.
//! - `sections.rs` — `[tokens]`, `[keys]`, `[sessions]`, `[accounts]`,
//!   `[store]`, `[log]`.
//! - `mail.rs` — `[mail]`; `limits.rs` — `[limits]` (failure rate limits).
//! - `tls.rs` — `[tls]` (HTTPS, certificate reload, the health listener).
//! - `engine.rs` — the checks, and the engine's configuration.
//! - `env.rs` — which `TESSERA_*` variables are settings.
//!
//! Unknown keys in a file are fatal (a typo must not pass silently); an
//! environment variable that is not a key is ignored with a warning.

mod audit;
mod backchannel;
mod client_auth;
mod cluster;
mod console;
mod device;
mod dpop;
mod engine;
mod env;
mod limits;
mod mail;
mod par;
mod passkeys;
mod registration;
mod sections;
mod tls;

use std::path::PathBuf;

use serde::Deserialize;

pub use audit::AuditSettings;
pub use backchannel::BackchannelLogoutSettings;
pub use client_auth::ClientAuthSettings;
pub use cluster::{ClusterSettings, Revocation};
pub use console::ConsoleSettings;
pub use device::DeviceSettings;
pub use dpop::DpopSettings;
pub use limits::{LimitSettings, PolicySettings};
pub use mail::MailSettings;
pub use par::ParSettings;
pub use passkeys::PasskeySettings;
pub use registration::{RegistrationMode, RegistrationSettings};
pub use sections::{
    AccountSettings, Backend, KeySettings, LogSettings, SessionSettings, StoreSettings,
    TokenSettings,
};
pub use tls::TlsSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Where the embedded store lives.
    pub data_dir: PathBuf,
    /// Public base URL (the `iss`); defaults to `http://{bind}`
    /// (`https://{bind}` with TLS).
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
    /// Failure rate limits of logins, TOTP codes and recovery.
    pub limits: LimitSettings,
    /// Upstream OpenID providers (`[federation.providers.NAME]`).
    pub federation: crate::federation::FederationSettings,
    /// Several nodes on one PostgreSQL database.
    pub cluster: ClusterSettings,
    /// Sender-constrained tokens (RFC 9449).
    pub dpop: DpopSettings,
    /// Clients that authenticate with JWTs, and their registered keys.
    pub client_auth: ClientAuthSettings,
    /// Pushed authorization requests and request objects.
    pub par: ParSettings,
    /// The device authorization grant (RFC 8628).
    pub device: DeviceSettings,
    /// Clients that register themselves (RFC 7591, RFC 7592).
    pub registration: RegistrationSettings,
    /// HTTPS: certificate files, their reload, the plain health listener.
    pub tls: TlsSettings,
    /// OIDC back-channel logout deliveries.
    pub backchannel_logout: BackchannelLogoutSettings,
    /// The admin console's sessions.
    pub console: ConsoleSettings,
    /// Passkeys (WebAuthn): the relying party and re-authentication age.
    pub passkeys: PasskeySettings,
    /// The audit log's retention.
    pub audit: AuditSettings,
    /// `TESSERA_*` environment variables that are not settings and were
    /// left out; the server warns about each once logging is up.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

impl Settings {
    /// How the store under `data_dir` is opened.
    pub fn store_options(&self) -> tessera_actors::store::StoreOptions {
        tessera_actors::store::StoreOptions {
            reserve_bytes: self.store.reserve_bytes,
        }
    }
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
            limits: LimitSettings::default(),
            federation: Default::default(),
            cluster: ClusterSettings::default(),
            dpop: DpopSettings::default(),
            client_auth: ClientAuthSettings::default(),
            par: ParSettings::default(),
            device: DeviceSettings::default(),
            registration: RegistrationSettings::default(),
            tls: TlsSettings::default(),
            backchannel_logout: BackchannelLogoutSettings::default(),
            console: ConsoleSettings::default(),
            passkeys: PasskeySettings::default(),
            audit: AuditSettings::default(),
            ignored_env: Vec::new(),
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file if given, then `TESSERA_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        Self::load_with_env(file, std::env::vars())
    }

    /// [`Settings::load`] over the given environment instead of the
    /// process's.
    pub fn load_with_env(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Settings> {
        let mut b = config::Config::builder();
        if let Some(f) = file {
            b = b.add_source(
                config::File::from(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let (keys, ignored) = env::split(vars);
        b = b.add_source(env::source(keys));
        let mut s: Settings = b.build()?.try_deserialize()?;
        s.ignored_env = ignored;
        s.validate()?;
        Ok(s)
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

    /// `https` when the server speaks TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.enabled() {
            "https"
        } else {
            "http"
        }
    }

    pub fn issuer(&self) -> String {
        let i = self
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{}://{}", self.scheme(), self.bind));
        i.trim_end_matches('/').to_string()
    }
}
