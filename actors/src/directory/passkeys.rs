//! Passkeys (WebAuthn credentials) on the user record, and the `Directory`
//! messages that change them.
//!
//! The credential itself is the relying-party library's serialised form,
//! kept here as an opaque JSON value: this crate never interprets it (the
//! server verifies ceremonies), it only stores, names, lists and removes
//! credentials, and records each use. Living on the user record, passkeys
//! need no table of their own: both store backends keep them, and the
//! nodes of a cluster see them change with the user.

use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::users::User;
use super::{invalid, Directory, DirectoryError};

/// Most passkeys one user may register.
pub const MAX_PASSKEYS: usize = 20;
/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest credential id accepted, in bytes of its base64url form
/// (WebAuthn ids are at most 1023 bytes).
const MAX_ID_LEN: usize = 1400;

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The credential id, base64url without padding.
    pub id: String,
    /// The user's name for it ("Laptop", "Phone").
    pub name: String,
    pub created_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
    /// The authenticator's signature counter after the last use (0 for
    /// authenticators without one).
    #[serde(default)]
    pub counter: u32,
    /// The credential may be synced or backed up (WebAuthn `BE` flag).
    #[serde(default)]
    pub backup_eligible: bool,
    /// The credential is backed up now (WebAuthn `BS` flag).
    #[serde(default)]
    pub backup_state: bool,
    /// The library's credential record, opaque here.
    pub credential: serde_json::Value,
}

impl StoredPasskey {
    /// The RFC 8176 method of a login with this passkey: `swk` for a
    /// credential that may leave its device (backup eligible: synced
    /// passkeys), `hwk` for one bound to a single authenticator.
    pub fn amr_key(&self) -> &'static str {
        if self.backup_eligible {
            "swk"
        } else {
            "hwk"
        }
    }
}

/// A passkey name: trimmed, 1-64 printable characters.
pub fn valid_name(name: &str) -> Result<String, DirectoryError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            format!("1-{MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(n.to_string())
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl User {
    /// The passkey with credential id `id`.
    pub fn passkey(&self, id: &str) -> Option<&StoredPasskey> {
        self.passkeys.iter().find(|p| p.id == id)
    }
    /// Whether a second factor can follow the password: TOTP or a passkey.
    pub fn has_second_factor(&self) -> bool {
        self.totp_enabled() || !self.passkeys.is_empty()
    }
}

/// Register a verified passkey. Refused when the credential id is already
/// registered (to this user or any other), or the user has
/// [`MAX_PASSKEYS`].
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct AddPasskey {
    pub user: uuid::Uuid,
    pub passkey: StoredPasskey,
}

/// Rename one of the user's passkeys.
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct RenamePasskey {
    pub user: uuid::Uuid,
    pub id: String,
    pub name: String,
}

/// Remove one passkey (`id`), or every passkey of the user (`None`).
/// Answers the user and how many were removed; an id the user does not
/// have is refused ([`no_such_passkey`]) and changes nothing.
#[derive(Message)]
#[rtype(result = "Result<(Arc<User>, usize), DirectoryError>")]
pub struct RemovePasskeys {
    pub user: uuid::Uuid,
    pub id: Option<String>,
}

/// Record a verified authentication: the new counter and backup flags,
/// and the library's updated credential. Refused when the stored counter
/// has moved on meanwhile (of two logins with one assertion, one wins).
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct UsePasskey {
    pub user: uuid::Uuid,
    pub id: String,
    /// The counter the assertion was checked against.
    pub seen_counter: u32,
    pub counter: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub credential: serde_json::Value,
}

/// The error for a credential id the user does not have.
pub fn no_such_passkey() -> DirectoryError {
    invalid("credential_id", "the user has no passkey with this id")
}

impl Handler<AddPasskey> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: AddPasskey, _: &mut Self::Context) -> Self::Result {
        let mut p = msg.passkey;
        let taken = valid_id(&p.id)
            && self
                .users
                .list()
                .iter()
                .any(|u| u.passkeys.iter().any(|k| k.id == p.id));
        self.update_with(msg.user, move |u, _| {
            if !valid_id(&p.id) {
                return Err(invalid("credential_id", "not a base64url credential id"));
            }
            p.name = valid_name(&p.name)?;
            if taken {
                return Err(DirectoryError::Taken("credential_id"));
            }
            if u.passkeys.len() >= MAX_PASSKEYS {
                return Err(DirectoryError::Conflict(
                    "the account has the most passkeys allowed; remove one first",
                ));
            }
            u.passkeys.push(p);
            Ok(())
        })
    }
}

impl Handler<RenamePasskey> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: RenamePasskey, _: &mut Self::Context) -> Self::Result {
        self.update_with(msg.user, move |u, _| {
            let name = valid_name(&msg.name)?;
            let p = u
                .passkeys
                .iter_mut()
                .find(|p| p.id == msg.id)
                .ok_or_else(no_such_passkey)?;
            p.name = name;
            Ok(())
        })
    }
}

impl Handler<RemovePasskeys> for Directory {
    type Result = AtomicResponse<Self, Result<(Arc<User>, usize), DirectoryError>>;
    fn handle(&mut self, msg: RemovePasskeys, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let current = self
                .users
                .get(&msg.user)
                .ok_or(DirectoryError::NoSuchUser)?;
            let mut u = (*current).clone();
            match &msg.id {
                Some(id) => u.passkeys.retain(|p| &p.id != id),
                None => u.passkeys.clear(),
            }
            let removed = current.passkeys.len() - u.passkeys.len();
            if msg.id.is_some() && removed == 0 {
                return Err(no_such_passkey());
            }
            if removed > 0 {
                u.updated_at = self.clock.now();
                if !self.store.replace_user(&current, &u)? {
                    return Err(DirectoryError::Conflict(
                        "the account changed meanwhile; try again",
                    ));
                }
            }
            Ok((Arc::new(u), removed))
        })();
        AtomicResponse::new(self.commit(write, |_, users, (u, _)| users.publish(u.clone())))
    }
}

impl Handler<UsePasskey> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: UsePasskey, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        self.update_with(msg.user, move |u, _| {
            let p = u
                .passkeys
                .iter_mut()
                .find(|p| p.id == msg.id)
                .ok_or_else(no_such_passkey)?;
            if p.counter != msg.seen_counter {
                return Err(DirectoryError::Conflict(
                    "the passkey was used meanwhile; try again",
                ));
            }
            p.counter = p.counter.max(msg.counter);
            p.backup_eligible |= msg.backup_eligible;
            p.backup_state = msg.backup_state;
            p.credential = msg.credential;
            p.last_used_at = Some(now);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(valid_name("  Laptop ").unwrap(), "Laptop");
        assert!(valid_name("").is_err());
        assert!(valid_name("   ").is_err());
        assert!(valid_name("a\nb").is_err());
        assert!(valid_name(&"é".repeat(64)).is_ok());
        assert!(valid_name(&"é".repeat(65)).is_err());
    }

    #[test]
    fn ids_are_base64url() {
        assert!(valid_id("AbC-_09"));
        assert!(!valid_id(""));
        assert!(!valid_id("a+b"));
        assert!(!valid_id("a=b"));
    }

    #[test]
    fn amr_follows_backup_eligibility() {
        let mut p = StoredPasskey {
            id: "x".into(),
            name: "n".into(),
            created_at: 0,
            last_used_at: None,
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            credential: serde_json::Value::Null,
        };
        assert_eq!(p.amr_key(), "hwk");
        p.backup_eligible = true;
        assert_eq!(p.amr_key(), "swk");
    }
}
