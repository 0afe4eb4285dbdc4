//! Passwords: an operator setting one (admin API, CLI), a user changing
//! their own, and the mailed reset (request, then confirm).
//!
//! The reset request answers the same and costs the same whether or not
//! an active account has the address: a token is made and hashed and a
//! mail rendered either way, and the unknown path waits for as many
//! durable flushes as the known one writes (the code, the queued mail).

use std::sync::Arc;

use super::{AccountMails, FlowError};
use crate::directory::codes::RESET_PREFIX;
use crate::directory::{
    CodeEffect, CodeError, CodePurpose, CodeRef, IssueCode, RedeemCode, SetPasswordHash, User,
    UserStatus,
};
use crate::engine::Engine;
use crate::password::check_policy;
use crate::secret;

/// A new password outside the policy; the reason is a human sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub &'static str);

/// A new password that meets the policy (checked once, at the edge).
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(password: String) -> Result<NewPassword, PolicyError> {
        check_policy(&password).map_err(PolicyError)?;
        Ok(NewPassword(password))
    }

    /// The password itself, for the hashing pool.
    pub(super) fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// The address a reset is asked for: trimmed, present, at most 254 bytes.
pub fn reset_address(email: &str) -> Result<&str, FlowError> {
    let email = email.trim();
    if email.is_empty() || email.len() > 254 {
        return Err(crate::directory::invalid("email", "an e-mail address is required").into());
    }
    Ok(email)
}

impl Engine {
    /// Set a user's password (an operator's act: no notice is mailed) and
    /// end their access everywhere. Answers the user and how many browser
    /// sessions were closed.
    pub async fn set_password(
        &self,
        user: uuid::Uuid,
        password: NewPassword,
    ) -> Result<(Arc<User>, usize), FlowError> {
        let password_hash = self.passwords.hash(password.0).await?;
        let user = self
            .directory
            .send(SetPasswordHash {
                id: user,
                password_hash,
            })
            .await??;
        let closed = self.end_user_access(user.id).await?;
        Ok((user, closed))
    }

    /// A user changes their own password (the caller checked the present
    /// one, or holds a recovery token): set it, end every session and
    /// token, and mail the owner a notice (a notice that cannot be queued
    /// is logged; the change stands). Answers the sessions closed.
    pub async fn change_password(
        &self,
        user: &User,
        password: NewPassword,
        mails: &dyn AccountMails,
    ) -> Result<usize, FlowError> {
        let (_, closed) = self.set_password(user.id, password).await?;
        self.notify_password_changed(user, mails).await?;
        Ok(closed)
    }

    /// Mail a reset link to the active account with this address (see
    /// [`reset_address`]), or do the same work for nothing.
    pub async fn request_password_reset(
        &self,
        email: &str,
        mails: &dyn AccountMails,
    ) -> Result<(), FlowError> {
        let ttl = self.config.accounts.code_ttl;
        match self
            .user_by_email(email)
            .filter(|u| u.status == UserStatus::Active)
        {
            Some(user) => {
                let issued = self
                    .directory
                    .send(IssueCode {
                        user: user.id,
                        purpose: CodePurpose::Reset,
                        ttl,
                        attempts: 1,
                        application_id: None,
                    })
                    .await??;
                let mail =
                    mails.reset_password(&issued.email, &user.username, &issued.secret, ttl)?;
                self.queue_mail(mail).await?;
            }
            None => {
                // What the known path does, without anything to keep: a
                // token made and hashed, a mail rendered, and the two
                // durable writes waited for.
                let t = secret::new_secret(RESET_PREFIX);
                std::hint::black_box(secret::sha256(t.as_bytes()));
                let _ = mails.reset_password(email, "", &t, ttl);
                self.health.durable().await?;
                self.health.durable().await?;
            }
        }
        Ok(())
    }

    /// Spend a mailed reset token: the new password is set in the same
    /// durable write, every session and token of the user ends, and the
    /// owner is mailed a notice. A token that cannot be one costs no
    /// argon2 run. Answers the user.
    pub async fn reset_password(
        &self,
        token: String,
        password: NewPassword,
        mails: &dyn AccountMails,
    ) -> Result<Arc<User>, FlowError> {
        let redeemed = if token.starts_with(RESET_PREFIX) && token.len() <= 128 {
            let hash = self.passwords.hash(password.0).await?;
            self.directory
                .send(RedeemCode {
                    purpose: CodePurpose::Reset,
                    code: CodeRef::Link(token),
                    effect: CodeEffect::SetPassword(hash),
                })
                .await?
        } else {
            Err(CodeError::Invalid)
        };
        let user = match redeemed {
            Ok(r) => r.user,
            Err(CodeError::Invalid) => return Err(FlowError::InvalidCode(CodePurpose::Reset)),
            Err(CodeError::Directory(e)) => return Err(e.into()),
        };
        // The new hash is durable; now end every session and token.
        self.end_user_access(user.id).await?;
        self.notify_password_changed(&user, mails).await?;
        Ok(user)
    }

    /// The owner hears of a password change, whoever made it. A notice
    /// that cannot be queued is logged, not returned: the change itself is
    /// done and durable.
    async fn notify_password_changed(
        &self,
        user: &User,
        mails: &dyn AccountMails,
    ) -> Result<(), FlowError> {
        let notice = mails.password_changed(&user.email, &user.username, self.clock.now())?;
        if let Err(e) = self.queue_mail(notice).await {
            tracing::error!(user = %user.id, error = %e, "could not queue the password-changed notice");
        }
        Ok(())
    }

    /// The user whose address (not username) is `email`.
    pub fn user_by_email(&self, email: &str) -> Option<Arc<User>> {
        self.users
            .by_login(email)
            .filter(|u| u.email.eq_ignore_ascii_case(email.trim()))
    }
}
