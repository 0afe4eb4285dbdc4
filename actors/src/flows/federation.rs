//! The local user for a login through an upstream OpenID provider. The
//! server verifies the upstream ID token and maps its claims; this finds
//! or makes the account and keeps the link.
//!
//! Users are matched, in order, by an earlier link of the same upstream
//! subject, then by a **verified** upstream e-mail equal to a local
//! account's; otherwise a new account is made (its password is a random
//! secret nobody knows). An unverified upstream e-mail that belongs to a
//! local account is refused: it never links, and e-mails are unique.

use std::sync::Arc;

use crate::directory::users::valid_email;
use crate::directory::{CreateUser, DirectoryError, NewUser, User, UserStatus};
use crate::engine::Engine;
use crate::federation::Link;
use crate::secret;

/// What the upstream ID token says about the user, claims already mapped.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamIdentity<'a> {
    /// The configured provider's name.
    pub provider: &'a str,
    /// The upstream `sub`.
    pub subject: &'a str,
    /// The mapped e-mail claim, trimmed, if present and non-empty.
    pub email: Option<&'a str>,
    pub email_verified: bool,
    /// The mapped username claim, if any.
    pub username: Option<&'a str>,
    /// The mapped display-name claim, if any.
    pub name: Option<&'a str>,
}

/// How the local user was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// By an earlier link of the same upstream subject.
    Linked,
    /// By a verified upstream e-mail, linked now.
    ByEmail,
    /// Made new, linked now.
    Created,
}

impl Found {
    /// The `result` label of the login metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Linked => "success",
            Found::ByEmail => "linked",
            Found::Created => "created",
        }
    }
}

/// Why no local user can stand for the upstream one.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamUserError {
    /// No e-mail claim, or not a usable address.
    #[error("the provider shared no usable e-mail address")]
    MissingEmail,
    /// The upstream e-mail is unverified and belongs to a local account.
    #[error("the upstream e-mail is unverified and belongs to a local account")]
    EmailUnverified,
    /// The e-mail was taken by an account made meanwhile.
    #[error("an account with this e-mail was just created")]
    EmailTaken,
    /// The password pool is saturated.
    #[error("the password pool is saturated")]
    Busy,
    /// The claims cannot make a valid account.
    #[error("the upstream claims do not make a valid account: {0}")]
    InvalidClaims(DirectoryError),
    /// The account or the link could not be stored.
    #[error("the login could not be recorded")]
    Unrecorded,
}

/// `[A-Za-z0-9._-]`, 3 to 56 characters, from the mapped claim or the
/// e-mail's local part.
pub fn username_base(claim: Option<&str>, email: &str) -> String {
    let source = claim.unwrap_or_else(|| email.split('@').next().unwrap_or_default());
    let mut s: String = source
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(56)
        .collect();
    if s.len() < 3 {
        s = "user".into();
    }
    s
}

impl Engine {
    /// The local user for this upstream identity, and how it was found.
    /// The caller still checks the account's status.
    pub async fn upstream_user(
        &self,
        id: UpstreamIdentity<'_>,
    ) -> Result<(Arc<User>, Found), UpstreamUserError> {
        if let Some(user) = self
            .federation_links
            .get(id.provider, id.subject)
            .and_then(|uid| self.users.get(&uid))
        {
            return Ok((user, Found::Linked));
        }
        let Some(email) = id.email.filter(|e| valid_email(e) && e.len() <= 254) else {
            return Err(UpstreamUserError::MissingEmail);
        };
        let existing = self
            .users
            .by_login(email)
            .filter(|u| u.email.eq_ignore_ascii_case(email));
        let (user, found) = match existing {
            Some(u) if id.email_verified => (u, Found::ByEmail),
            Some(_) => return Err(UpstreamUserError::EmailUnverified),
            None => (self.create_upstream_user(id, email).await?, Found::Created),
        };
        self.federation
            .send(Link {
                provider: id.provider.to_string(),
                subject: id.subject.to_string(),
                user_id: user.id,
            })
            .await
            .map_err(|_| UpstreamUserError::Unrecorded)?
            .map_err(|_| UpstreamUserError::Unrecorded)?;
        Ok((user, found))
    }

    /// A new active account for an upstream identity, under the first free
    /// username of a few candidates.
    async fn create_upstream_user(
        &self,
        id: UpstreamIdentity<'_>,
        email: &str,
    ) -> Result<Arc<User>, UpstreamUserError> {
        let base = username_base(id.username, email);
        let name = id
            .name
            .filter(|n| n.len() <= 200 && !n.chars().any(char::is_control))
            .map(str::to_string);
        // A password nobody knows: the account logs in through the provider
        // (or after a password reset).
        let hash = self
            .passwords
            .hash(secret::new_secret(""))
            .await
            .map_err(|_| UpstreamUserError::Busy)?;
        let candidates = std::iter::once(base.clone())
            .chain((2..=20).map(|i| format!("{base}-{i}")))
            .filter(|c| self.users.by_login(c).is_none())
            .take(1)
            .chain(std::iter::repeat_with(|| {
                format!(
                    "{base}-{}",
                    secret::new_id("").chars().take(8).collect::<String>()
                )
            }))
            .take(3);
        for username in candidates {
            let r = self
                .directory
                .send(CreateUser(NewUser {
                    username,
                    email: email.to_string(),
                    password_hash: hash.clone(),
                    email_verified: id.email_verified,
                    name: name.clone(),
                    status: UserStatus::Active,
                    ..Default::default()
                }))
                .await;
            match r {
                Ok(Ok(u)) => return Ok(u),
                Ok(Err(DirectoryError::Taken("username"))) => continue,
                // The e-mail appeared meanwhile (a concurrent login).
                Ok(Err(DirectoryError::Taken(_))) => return Err(UpstreamUserError::EmailTaken),
                Ok(Err(DirectoryError::Store(_))) | Err(_) => {
                    return Err(UpstreamUserError::Unrecorded)
                }
                Ok(Err(e)) => return Err(UpstreamUserError::InvalidClaims(e)),
            }
        }
        Err(UpstreamUserError::Unrecorded)
    }
}

#[cfg(test)]
mod tests {
    use super::username_base;

    // Moved here from the server's federation route with the function.
    #[test]
    fn usernames_are_cleaned() {
        assert_eq!(username_base(Some("alice"), "x@example.com"), "alice");
        assert_eq!(username_base(Some("Al ice!"), "x@example.com"), "Alice");
        assert_eq!(username_base(None, "bob.b@example.com"), "bob.b");
        assert_eq!(username_base(Some("é"), "x@example.com"), "user");
        assert_eq!(username_base(Some(&"a".repeat(100)), "x@e.com").len(), 56);
    }
}
