//! The engine's public operations: every workflow that drives more than
//! one owner (the directory, the token issuer, the revocation list, the
//! session registry, the mailer), and every `impl Engine` method a caller
//! outside the crate uses. A handler or a CLI command parses its input,
//! makes one call here and maps the answer; the order of the steps, and
//! the cost a flow must show whatever its outcome, live next to the
//! writes they concern.
//!
//! - [`registration`] — self-service registration (mailed code, redeemed
//!   for an active account) and the direct account API.
//! - [`password`] — setting and changing a password, the mailed reset.
//! - [`users`] — deleting a user, disabling one, ending a user's access.
//! - [`federation`] — the local user for an upstream login: by link, by
//!   verified e-mail, or made new.
//! - [`entities`] — ending entity tokens when an entity or a membership
//!   ends.
//! - [`personal`] — personal tokens, and revoking a token with its family.
//! - [`introspection`] — RFC 7662/7009 over the published views.
//! - [`account_client`] — the built-in first-party client.
//!
//! Mails are rendered by the caller (the templates live with the server):
//! a flow asks an [`AccountMails`] for the mail it needs and queues it
//! itself, so what a flow mails is part of what it costs.

pub mod account_client;
pub mod entities;
pub mod federation;
pub mod introspection;
pub mod password;
pub mod personal;
pub mod registration;
pub mod users;

use crate::directory::{CodePurpose, DirectoryError};
use crate::engine::{ActionError, Engine};
use crate::mailer::{Enqueue, Mail, MailError};
use crate::password::PoolError;
use crate::store::StoreError;

pub use password::{NewPassword, PolicyError};

/// A mail could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("the mail could not be rendered: {0}")]
pub struct RenderError(pub String);

/// The account mails, rendered by whoever owns the templates. Links are
/// built there too, from the token a flow hands over: the public URL is
/// the server's configuration.
pub trait AccountMails: Sync {
    /// The 6-digit code that activates a registration.
    fn registration_code(
        &self,
        to: &str,
        username: &str,
        code: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError>;
    /// Sent instead of a code when the registering address has an account.
    fn account_exists(&self, to: &str) -> Result<Mail, RenderError>;
    /// The e-mail verification link for `token`.
    fn verify_email(
        &self,
        to: &str,
        username: &str,
        token: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError>;
    /// The password reset link for `token`.
    fn reset_password(
        &self,
        to: &str,
        username: &str,
        token: &str,
        ttl: i64,
    ) -> Result<Mail, RenderError>;
    /// The notice that a password was changed (`at`: Unix time).
    fn password_changed(&self, to: &str, username: &str, at: i64) -> Result<Mail, RenderError>;
}

/// A flow failed; nothing after the failing step ran (unless the step
/// says otherwise, as a notice mail that is only logged).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A field is invalid, a username or address is taken, no such user.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The new password is outside the policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Self-service registration is disabled.
    #[error("self-service registration is disabled")]
    RegistrationDisabled,
    /// `applicationId` names no registered client.
    #[error("applicationId names no registered client")]
    UnknownApplication,
    /// Tokens cannot be issued now (the account client is missing, the
    /// account is not active, the issuer refused).
    #[error("{0}")]
    Unavailable(String),
    /// The code or link is unknown, used, expired or wrong.
    #[error("the code is wrong, used or expired")]
    InvalidCode(CodePurpose),
    #[error(transparent)]
    Password(#[from] PoolError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a component is restarting: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// Ending a user's sessions and tokens failed.
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl Engine {
    /// Queue a mail; answers once it is durable.
    pub(crate) async fn queue_mail(&self, mail: Mail) -> Result<(), FlowError> {
        self.mailer.send(Enqueue(mail)).await??;
        Ok(())
    }
}
