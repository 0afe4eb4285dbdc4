//! `[mail]`: outbound mail, and its check into the mailer's configuration.

use std::path::PathBuf;

use serde::Deserialize;

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
