//! The engine's account flows ask for their mails here: the templates and
//! the public URL the links are built from belong to the server.

use tessera_actors::flows::{AccountMails, RenderError};
use tessera_actors::mailer::Mail;

use super::AccountMail;
use crate::error::ApiError;

fn rendered(m: Result<Mail, ApiError>) -> Result<Mail, RenderError> {
    m.map_err(|e| RenderError(e.to_string()))
}

impl AccountMails for AccountMail {
    fn registration_code(
        &self,
        to: &str,
        username: &str,
        code: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError> {
        rendered(super::registration_code(to, username, code, ttl))
    }

    fn account_exists(&self, to: &str) -> Result<Mail, RenderError> {
        rendered(super::account_exists(to))
    }

    fn verify_email(
        &self,
        to: &str,
        username: &str,
        token: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError> {
        rendered(super::verify_email(
            to,
            username,
            &self.verify_link(token),
            ttl,
        ))
    }

    fn reset_password(
        &self,
        to: &str,
        username: &str,
        token: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError> {
        rendered(super::reset_password(
            to,
            username,
            &self.reset_link(token),
            ttl,
        ))
    }

    fn password_changed(&self, to: &str, username: &str, at: i64) -> Result<Mail, RenderError> {
        rendered(super::password_changed(to, username, at))
    }
}
