//! The checks every setting must pass, and the engine's configuration
//! built from them: one place, so a bad value stops the start with the
//! setting's name instead of misbehaving later.

use tessera_actors::domain::TokenFormat;
use tessera_actors::keys::{KeyAlg, KeyConfig};
use tessera_actors::EngineConfig;

use super::Settings;

impl Settings {
    pub fn validate(&self) -> anyhow::Result<()> {
        self.engine_config()?;
        self.limits.validate()?;
        self.federation.validate()?;
        self.tls.validate()?;
        self.client_auth.validate()?;
        self.par.validate()?;
        self.device.validate()?;
        self.registration.validate()?;
        self.console.validate()?;
        self.passkeys.validate()?;
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
            dpop: self.dpop.config()?,
            backchannel_logout: self.backchannel_logout.config()?,
            // A server names itself once it has bound its port (start-up
            // sets the cluster's node id); the CLI is the host.
            audit: self.audit.config(super::cluster::host_name())?,
        })
    }
}
