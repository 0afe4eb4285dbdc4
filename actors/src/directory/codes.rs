//! One-time codes and links mailed by the account flows: the 6-digit
//! registration code, the e-mail verification link and the password reset
//! link. `Directory` owns them (tree `account_codes`) because redeeming one
//! changes a user in the same durable write: a code is never spent without
//! its effect, nor the effect had twice.
//!
//! Rules: one live code per user and purpose (a new one voids the old);
//! single use; expiry after the configured lifetime; a code is bound to its
//! purpose and to the address it was mailed to. Links carry 256 random bits
//! and are stored as SHA-256. A 6-digit code cannot carry 256 bits, so it is
//! stored as an HMAC under a random per-code key and what protects it is the
//! attempt budget: after the configured number of wrong tries it is void.
//!
//! The store finds a record by purpose and user, or by a link token's
//! SHA-256; see [`super::storage`] for the sled layout.

use std::sync::Arc;

use actix::prelude::*;
use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::secret::{self, SecretHash};

use super::{invalid, Directory, DirectoryError, User, UserStatus};

/// Prefix of an e-mail verification link token.
pub const VERIFY_EMAIL_PREFIX: &str = "tes_ve_";
/// Prefix of a password reset link token.
pub const RESET_PREFIX: &str = "tes_pr_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    /// The 6-digit code that activates a pending registration.
    Registration,
    /// The password reset link.
    Reset,
    /// The e-mail verification link.
    VerifyEmail,
}

impl CodePurpose {
    /// A stable name for keys and columns.
    pub fn tag(self) -> &'static str {
        match self {
            CodePurpose::Registration => "registration",
            CodePurpose::Reset => "reset",
            CodePurpose::VerifyEmail => "verify_email",
        }
    }
}

/// A mailed code as stored: one per user and purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub purpose: CodePurpose,
    pub user_id: uuid::Uuid,
    /// The address the code was mailed to: it only works while the user
    /// still has that address.
    pub email: String,
    /// SHA-256 of a link token, or HMAC-SHA256 of a numeric code.
    pub hash: SecretHash,
    /// The HMAC key of a numeric code.
    pub key: Option<SecretHash>,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts_left: u32,
    /// The client a registration was made for.
    pub application_id: Option<String>,
}

fn numeric_mac(key: &SecretHash, user: &uuid::Uuid, code: &str) -> SecretHash {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(b"registration:");
    ctx.update(user.as_bytes());
    ctx.update(code.as_bytes());
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    if let Some(src) = tag.as_ref().get(..32) {
        out.copy_from_slice(src);
    }
    out
}

/// Six uniformly random decimal digits.
fn six_digits() -> String {
    // Rejection sampling keeps every code equally likely.
    const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000);
    loop {
        let n = u32::from_le_bytes(secret::random_bytes::<4>());
        if n < LIMIT {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Mint a code for a user; the previous one of that purpose is void.
#[derive(Message)]
#[rtype(result = "Result<IssuedCode, DirectoryError>")]
pub struct IssueCode {
    pub user: uuid::Uuid,
    pub purpose: CodePurpose,
    /// Lifetime, seconds.
    pub ttl: i64,
    /// Wrong tries a numeric code survives.
    pub attempts: u32,
    pub application_id: Option<String>,
}

/// The secret to mail: six digits, or a link token. Shown once.
#[derive(Debug, Clone)]
pub struct IssuedCode {
    pub secret: String,
    pub expires_at: i64,
    /// The address it must be mailed to.
    pub email: String,
}

/// What a presented code names.
#[derive(Debug, Clone)]
pub enum CodeRef {
    /// The registration code mailed to `email`.
    Numeric { email: String, code: String },
    /// A link token.
    Link(String),
}

/// What redeeming the code does, in the same durable write.
#[derive(Debug, Clone)]
pub enum CodeEffect {
    /// Registration: the account becomes active, its e-mail verified.
    Activate,
    /// Password reset: the new argon2id hash; older sessions and tokens die
    /// through `credentials_changed_at`.
    SetPassword(String),
    /// E-mail verification.
    VerifyEmail,
}

#[derive(Message)]
#[rtype(result = "Result<Redeemed, CodeError>")]
pub struct RedeemCode {
    pub purpose: CodePurpose,
    pub code: CodeRef,
    pub effect: CodeEffect,
}

#[derive(Debug, Clone)]
pub struct Redeemed {
    pub user: Arc<User>,
    pub application_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Unknown, used, expired, for another purpose or address, or wrong.
    #[error("the code is wrong, used or expired")]
    Invalid,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Replace the username and password of a registration that is still
/// pending (the same address registering again: the newest wins, and only
/// the mailed code proves it).
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct RenewPending {
    pub id: uuid::Uuid,
    pub username: String,
    pub password_hash: String,
}

/// What one redemption wrote, before it is mapped to the answer.
enum Outcome {
    Done(Redeemed),
    Rejected,
}

impl Directory {
    fn issue_code(&mut self, msg: IssueCode) -> Result<IssuedCode, DirectoryError> {
        let user = self
            .users
            .get(&msg.user)
            .ok_or(DirectoryError::NoSuchUser)?;
        if msg.ttl <= 0 || msg.attempts == 0 {
            return Err(invalid(
                "ttl",
                "a code needs a positive lifetime and attempts",
            ));
        }
        if let Some(old) = self.store.code(msg.purpose, &msg.user)? {
            // Void whatever is there now, whether or not it is still `old`.
            self.store.replace_code(&old, None)?;
        }
        let now = self.clock.now();
        let (secret_value, hash, mac_key) = match msg.purpose {
            CodePurpose::Registration => {
                let code = six_digits();
                let k = secret::random_bytes::<32>();
                let h = numeric_mac(&k, &msg.user, &code);
                (code, h, Some(k))
            }
            CodePurpose::Reset | CodePurpose::VerifyEmail => {
                let prefix = if msg.purpose == CodePurpose::Reset {
                    RESET_PREFIX
                } else {
                    VERIFY_EMAIL_PREFIX
                };
                let t = secret::new_secret(prefix);
                let h = secret::sha256(t.as_bytes());
                (t, h, None)
            }
        };
        let rec = CodeRecord {
            purpose: msg.purpose,
            user_id: msg.user,
            email: user.email.clone(),
            hash,
            key: mac_key,
            created_at: now,
            expires_at: now.saturating_add(msg.ttl),
            attempts_left: msg.attempts,
            application_id: msg.application_id,
        };
        self.store.put_code(&rec)?;
        Ok(IssuedCode {
            secret: secret_value,
            expires_at: rec.expires_at,
            email: rec.email,
        })
    }

    /// Find the record a presented code names, without judging it yet.
    fn find_code(
        &self,
        purpose: CodePurpose,
        code: &CodeRef,
    ) -> Result<Option<CodeRecord>, DirectoryError> {
        Ok(match code {
            CodeRef::Numeric { email, .. } => {
                let Some(u) = self.users.by_login(email) else {
                    return Ok(None);
                };
                if !u.email.eq_ignore_ascii_case(email.trim()) {
                    // Named by username, not by the address it was mailed to.
                    return Ok(None);
                }
                self.store.code(purpose, &u.id)?
            }
            CodeRef::Link(token) => self
                .store
                .code_by_link(&secret::sha256(token.trim().as_bytes()))?,
        })
    }

    fn redeem(&mut self, msg: RedeemCode) -> Result<Outcome, DirectoryError> {
        let Some(found) = self.find_code(msg.purpose, &msg.code)? else {
            return Ok(Outcome::Rejected);
        };
        let mut rec = found.clone();
        let now = self.clock.now();
        let matches = match (&msg.code, rec.key) {
            (CodeRef::Numeric { code, .. }, Some(k)) => {
                let presented = numeric_mac(&k, &rec.user_id, code.trim());
                bool::from(presented.ct_eq(&rec.hash))
            }
            (CodeRef::Link(token), None) => secret::verify_secret(token.trim(), &rec.hash),
            _ => false,
        };
        let user = self.users.get(&rec.user_id);
        let usable = rec.purpose == msg.purpose
            && now < rec.expires_at
            && rec.attempts_left > 0
            && user
                .as_ref()
                .is_some_and(|u| u.email.eq_ignore_ascii_case(&rec.email));
        if !usable {
            // Expired, or its user or address is gone: void it.
            self.store.replace_code(&found, None)?;
            return Ok(Outcome::Rejected);
        }
        let Some(user) = user else {
            return Ok(Outcome::Rejected);
        };
        if !matches {
            rec.attempts_left = rec.attempts_left.saturating_sub(1);
            let left = (rec.attempts_left > 0).then_some(&rec);
            self.store.replace_code(&found, left)?;
            return Ok(Outcome::Rejected);
        }
        // Spent exactly once: of two redemptions racing, one wins.
        if !self.store.replace_code(&found, None)? {
            return Ok(Outcome::Rejected);
        }
        let mut u = (*user).clone();
        match msg.effect {
            CodeEffect::Activate => {
                if u.status == UserStatus::Disabled {
                    return Ok(Outcome::Rejected);
                }
                u.status = UserStatus::Active;
                u.email_verified = true;
            }
            CodeEffect::SetPassword(hash) => {
                if !hash.starts_with("$argon2id$") {
                    return Err(invalid("password_hash", "not an argon2id hash"));
                }
                u.password_hash = hash;
                u.credentials_changed_at = now;
            }
            CodeEffect::VerifyEmail => u.email_verified = true,
        }
        u.updated_at = now;
        self.store.put_user(&u)?;
        Ok(Outcome::Done(Redeemed {
            user: Arc::new(u),
            application_id: rec.application_id,
        }))
    }

    fn renew_pending(&mut self, msg: RenewPending) -> Result<Arc<User>, DirectoryError> {
        let user = self.users.get(&msg.id).ok_or(DirectoryError::NoSuchUser)?;
        if user.status != UserStatus::Pending {
            return Err(DirectoryError::Conflict("the account is not pending"));
        }
        if !super::users::valid_username(&msg.username) {
            return Err(invalid(
                "username",
                "3-64 characters of letters, digits, '.', '_' or '-'",
            ));
        }
        if !msg.password_hash.starts_with("$argon2id$") {
            return Err(invalid("password_hash", "not an argon2id hash"));
        }
        if self
            .users
            .by_login(&msg.username)
            .is_some_and(|other| other.id != msg.id)
        {
            return Err(DirectoryError::Taken("username"));
        }
        let now = self.clock.now();
        let mut u = (*user).clone();
        u.username = msg.username;
        u.password_hash = msg.password_hash;
        u.credentials_changed_at = now;
        u.updated_at = now;
        self.store.put_user(&u)?;
        Ok(Arc::new(u))
    }
}

impl Handler<IssueCode> for Directory {
    type Result = AtomicResponse<Self, Result<IssuedCode, DirectoryError>>;
    fn handle(&mut self, msg: IssueCode, _: &mut Self::Context) -> Self::Result {
        let write = self.issue_code(msg);
        AtomicResponse::new(self.commit(write, |_, _, _| {}))
    }
}

impl Handler<RedeemCode> for Directory {
    type Result = AtomicResponse<Self, Result<Redeemed, CodeError>>;
    fn handle(&mut self, msg: RedeemCode, _: &mut Self::Context) -> Self::Result {
        let write = self.redeem(msg);
        let r = self.commit(write, |_, users, o| {
            if let Outcome::Done(r) = o {
                users.publish(r.user.clone());
            }
        });
        AtomicResponse::new(Box::pin(r.map(|r, _, _| match r {
            Ok(Outcome::Done(d)) => Ok(d),
            Ok(Outcome::Rejected) => Err(CodeError::Invalid),
            Err(e) => Err(e.into()),
        })))
    }
}

impl Handler<RenewPending> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: RenewPending, _: &mut Self::Context) -> Self::Result {
        let write = self.renew_pending(msg);
        AtomicResponse::new(self.commit(write, |_, users, u| users.publish(u.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digit_codes_are_six_digits() {
        for _ in 0..200 {
            let c = six_digits();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn numeric_macs_depend_on_key_user_and_code() {
        let k = [7u8; 32];
        let u = uuid::Uuid::new_v4();
        let h = numeric_mac(&k, &u, "123456");
        assert_eq!(h, numeric_mac(&k, &u, "123456"));
        assert_ne!(h, numeric_mac(&k, &u, "123457"));
        assert_ne!(h, numeric_mac(&[8u8; 32], &u, "123456"));
        assert_ne!(h, numeric_mac(&k, &uuid::Uuid::new_v4(), "123456"));
    }
}
