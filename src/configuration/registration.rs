//! `[registration]`: clients that register themselves (RFC 7591) and
//! manage their registration (RFC 7592).
//!
//! - `mode`: `closed` (the default: only administrators create clients),
//!   `initial_token` (a registration must carry an initial access token,
//!   issued through the admin API or `tessera registration-token create`),
//!   or `open` (anyone may register, rate-limited per IP address).
//! - `open_per_hour`: registration requests one IP address may make in
//!   `open` mode (refused ones count too); the next is answered `429` and
//!   the address waits an hour.
//! - `grant_types`: the grants a self-registered client may ask for.
//! - `scope`: the scopes a self-registered client may ask for; also what it
//!   gets when it asks for none.
//! - `auth_methods`: the `token_endpoint_auth_method`s it may use.

use serde::Deserialize;
use tessera_actors::directory::TokenAuthMethod;
use tessera_actors::domain::{GrantType, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    Closed,
    InitialToken,
    Open,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    pub mode: RegistrationMode,
    pub open_per_hour: u32,
    pub grant_types: Vec<GrantType>,
    pub scope: String,
    pub auth_methods: Vec<TokenAuthMethod>,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        RegistrationSettings {
            mode: RegistrationMode::Closed,
            open_per_hour: 10,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scope: "openid profile email offline_access".into(),
            auth_methods: vec![
                TokenAuthMethod::None,
                TokenAuthMethod::ClientSecretBasic,
                TokenAuthMethod::ClientSecretPost,
                TokenAuthMethod::ClientSecretJwt,
                TokenAuthMethod::PrivateKeyJwt,
            ],
        }
    }
}

impl RegistrationSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=100_000).contains(&self.open_per_hour),
            "registration.open_per_hour must be between 1 and 100000"
        );
        anyhow::ensure!(
            !self.grant_types.is_empty(),
            "registration.grant_types must name at least one grant"
        );
        anyhow::ensure!(
            !self.auth_methods.is_empty(),
            "registration.auth_methods must name at least one method"
        );
        self.scopes()?;
        Ok(())
    }

    /// The scopes a self-registered client may ask for.
    pub fn scopes(&self) -> anyhow::Result<Scope> {
        Scope::parse(&self.scope).map_err(|e| anyhow::anyhow!("registration.scope: {}", e.0))
    }

    /// Whether clients may register themselves at all.
    pub fn enabled(&self) -> bool {
        self.mode != RegistrationMode::Closed
    }
}
