//! Users: the record, the published view (by id and by login), and the
//! `Directory` messages that change them. Password hashes arrive already
//! computed (on the password pool); this actor never runs argon2.

use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::domain::Scope;

use super::{invalid, Directory, DirectoryError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    #[default]
    Active,
    /// Registered, e-mail not yet confirmed: cannot log in.
    Pending,
    Disabled,
}

/// TOTP enrolment: the secret (base32) and the last accepted time step, so
/// a code is accepted once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    pub secret: String,
    pub enabled: bool,
    pub last_step: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// PHC string, `$argon2id$...`.
    pub password_hash: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub role: Option<String>,
    pub company: Option<String>,
    /// Scopes the user's personal tokens may carry.
    pub scope: Scope,
    pub status: UserStatus,
    pub totp: Option<Totp>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Sessions and tokens older than this are dead (password change).
    pub credentials_changed_at: i64,
    /// Server roles: [`ADMIN_ROLE`] lets the user into the admin console.
    /// Not the free-text `role` (a job title from a profile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Registered passkeys (WebAuthn), each named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<super::passkeys::StoredPasskey>,
}

/// The role that makes a user an administrator of this server.
pub const ADMIN_ROLE: &str = "admin";

/// Every role a user may be given.
pub const KNOWN_ROLES: &[&str] = &[ADMIN_ROLE];

impl User {
    /// Whether the user holds [`ADMIN_ROLE`].
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN_ROLE)
    }
    pub fn totp_enabled(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.enabled)
    }
    pub fn mfa_methods(&self) -> Vec<&'static str> {
        let mut m = vec!["password"];
        if self.totp_enabled() {
            m.push("totp");
        }
        if !self.passkeys.is_empty() {
            m.push("passkey");
        }
        m
    }
}

/// A user to create. `password_hash` is already an argon2id PHC string.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub role: Option<String>,
    pub company: Option<String>,
    pub scope: Option<Scope>,
    pub status: UserStatus,
}

/// Validate a username: 3-64 of `[A-Za-z0-9._-]`, not shaped like an e-mail.
pub fn valid_username(u: &str) -> bool {
    (3..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A plausible e-mail address: one `@`, non-empty local and domain parts,
/// a dot in the domain, no spaces or controls, at most 254 bytes.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// Published view of users: by id, and by lower-cased username and e-mail.
#[derive(Default)]
pub struct UsersView {
    by_id: DashMap<uuid::Uuid, Arc<User>>,
    by_login: DashMap<String, uuid::Uuid>,
}

impl UsersView {
    pub fn get(&self, id: &uuid::Uuid) -> Option<Arc<User>> {
        self.by_id.get(id).map(|u| u.value().clone())
    }
    /// By username or e-mail, case-insensitively.
    pub fn by_login(&self, login: &str) -> Option<Arc<User>> {
        let id = *self.by_login.get(&login.trim().to_lowercase())?;
        self.get(&id)
    }
    pub fn list(&self) -> Vec<Arc<User>> {
        let mut v: Vec<Arc<User>> = self.by_id.iter().map(|e| e.value().clone()).collect();
        v.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.username.cmp(&b.username))
        });
        v
    }
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
    pub(super) fn clear(&self) {
        self.by_id.clear();
        self.by_login.clear();
    }
    pub(super) fn publish(&self, u: Arc<User>) {
        if let Some(old) = self.by_id.get(&u.id).map(|o| o.value().clone()) {
            self.by_login.remove(&old.username.to_lowercase());
            self.by_login.remove(&old.email.to_lowercase());
        }
        self.by_login.insert(u.username.to_lowercase(), u.id);
        self.by_login.insert(u.email.to_lowercase(), u.id);
        self.by_id.insert(u.id, u);
    }
    pub(super) fn unpublish(&self, id: &uuid::Uuid) {
        if let Some((_, u)) = self.by_id.remove(id) {
            self.by_login.remove(&u.username.to_lowercase());
            self.by_login.remove(&u.email.to_lowercase());
        }
    }
    fn taken(&self, login: &str, except: Option<uuid::Uuid>) -> bool {
        self.by_login
            .get(&login.to_lowercase())
            .is_some_and(|id| Some(*id.value()) != except)
    }
}

#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct CreateUser(pub NewUser);

#[derive(Message)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct DeleteUser(pub uuid::Uuid);

/// Replace the password hash; every session and token issued before now is
/// invalidated through `credentials_changed_at`.
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct SetPasswordHash {
    pub id: uuid::Uuid,
    pub password_hash: String,
}

/// Fields to change on a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub scope: Option<Scope>,
    pub status: Option<UserStatus>,
    pub totp: Option<Option<Totp>>,
}

#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct UpdateUser {
    pub id: uuid::Uuid,
    pub patch: UserPatch,
}

fn check_profile(n: &Option<String>, field: &'static str) -> Result<(), DirectoryError> {
    match n {
        Some(v) if v.len() > 200 || v.chars().any(char::is_control) => {
            Err(invalid(field, "at most 200 printable characters"))
        }
        _ => Ok(()),
    }
}

impl Handler<CreateUser> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: CreateUser, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let n = msg.0;
            if !valid_username(&n.username) {
                return Err(invalid(
                    "username",
                    "3-64 characters of letters, digits, '.', '_' or '-'",
                ));
            }
            if !valid_email(&n.email) {
                return Err(invalid("email", "not a valid e-mail address"));
            }
            if !n.password_hash.starts_with("$argon2id$") {
                return Err(invalid("password_hash", "not an argon2id hash"));
            }
            for (v, f) in [
                (&n.name, "name"),
                (&n.given_name, "given_name"),
                (&n.family_name, "family_name"),
                (&n.role, "role"),
                (&n.company, "company"),
            ] {
                check_profile(v, f)?;
            }
            if self.users.taken(&n.username, None) {
                return Err(DirectoryError::Taken("username"));
            }
            if self.users.taken(&n.email, None) {
                return Err(DirectoryError::Taken("email"));
            }
            let now = self.clock.now();
            let u = User {
                id: uuid::Uuid::new_v4(),
                username: n.username,
                email: n.email,
                email_verified: n.email_verified,
                password_hash: n.password_hash,
                name: n.name,
                given_name: n.given_name,
                family_name: n.family_name,
                role: n.role,
                company: n.company,
                scope: n.scope.unwrap_or_default(),
                status: n.status,
                totp: None,
                created_at: now,
                updated_at: now,
                credentials_changed_at: now,
                roles: Vec::new(),
                passkeys: Vec::new(),
            };
            self.store.put_user(&u)?;
            // AtomicResponse keeps this actor on this message until the
            // write is durable and published, so two creates cannot both
            // pass the uniqueness check.
            Ok(Arc::new(u))
        })();
        AtomicResponse::new(self.commit(write, |_, users, u| users.publish(u.clone())))
    }
}

impl Handler<DeleteUser> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: DeleteUser, _: &mut Self::Context) -> Self::Result {
        let id = msg.0;
        let write = match self.store.delete_user(&id) {
            Ok(true) => Ok(id),
            Ok(false) => Err(DirectoryError::NoSuchUser),
            Err(e) => Err(e.into()),
        };
        let r = self.commit(write, |_, users, id| users.unpublish(id));
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|_| ()))))
    }
}

impl Directory {
    pub(super) fn update_with(
        &mut self,
        id: uuid::Uuid,
        f: impl FnOnce(&mut User, &UsersView) -> Result<(), DirectoryError>,
    ) -> AtomicResponse<Self, Result<Arc<User>, DirectoryError>> {
        let write = (|| {
            let current = self.users.get(&id).ok_or(DirectoryError::NoSuchUser)?;
            let mut u = (*current).clone();
            f(&mut u, &self.users)?;
            u.updated_at = self.clock.now();
            // Conditional on the record the change was decided on: of two
            // writers using one TOTP step, exactly one wins.
            if !self.store.replace_user(&current, &u)? {
                return Err(DirectoryError::Conflict(
                    "the account changed meanwhile; try again",
                ));
            }
            Ok(Arc::new(u))
        })();
        AtomicResponse::new(self.commit(write, |_, users, u| users.publish(u.clone())))
    }
}

impl Handler<SetPasswordHash> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: SetPasswordHash, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        self.update_with(msg.id, move |u, _| {
            if !msg.password_hash.starts_with("$argon2id$") {
                return Err(invalid("password_hash", "not an argon2id hash"));
            }
            u.password_hash = msg.password_hash;
            u.credentials_changed_at = now;
            Ok(())
        })
    }
}

impl Handler<UpdateUser> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: UpdateUser, _: &mut Self::Context) -> Self::Result {
        let p = msg.patch;
        self.update_with(msg.id, move |u, users| {
            if let Some(e) = p.email {
                if !valid_email(&e) {
                    return Err(invalid("email", "not a valid e-mail address"));
                }
                if users.taken(&e, Some(u.id)) {
                    return Err(DirectoryError::Taken("email"));
                }
                if !e.eq_ignore_ascii_case(&u.email) {
                    u.email_verified = false;
                }
                u.email = e;
            }
            if let Some(v) = p.email_verified {
                u.email_verified = v;
            }
            for (src, dst, field) in [
                (p.name, &mut u.name, "name"),
                (p.given_name, &mut u.given_name, "given_name"),
                (p.family_name, &mut u.family_name, "family_name"),
            ] {
                if let Some(v) = src {
                    check_profile(&v, field)?;
                    *dst = v;
                }
            }
            if let Some(s) = p.scope {
                u.scope = s;
            }
            if let Some(s) = p.status {
                u.status = s;
            }
            if let Some(t) = p.totp {
                u.totp = t;
            }
            Ok(())
        })
    }
}

/// Record that a TOTP time step was used, refusing a step not after the
/// last one used: of two parallel logins with the same code, one wins.
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct UseTotpStep {
    pub id: uuid::Uuid,
    pub step: u64,
}

impl Handler<UseTotpStep> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: UseTotpStep, _: &mut Self::Context) -> Self::Result {
        self.update_with(msg.id, move |u, _| match u.totp.as_mut() {
            Some(t) if t.last_step < msg.step => {
                t.last_step = msg.step;
                Ok(())
            }
            _ => Err(invalid("code", "this code was already used")),
        })
    }
}

/// A step of TOTP enrolment. Codes are checked by the caller against the
/// published record (a pure computation); the actor re-checks that the
/// record is still the one the code was checked against, so a racing
/// enrolment cannot switch the secret under a confirmation.
#[derive(Debug, Clone)]
pub enum TotpChange {
    /// Store a new, not yet enabled secret. Refused while TOTP is enabled.
    Begin { secret: String },
    /// Enable the pending `secret`, having accepted a code at `step`.
    Confirm { secret: String, step: u64 },
    /// Turn TOTP off, having accepted a code at `step`.
    Disable { step: u64 },
}

#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct ChangeTotp {
    pub id: uuid::Uuid,
    pub change: TotpChange,
}

impl Handler<ChangeTotp> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: ChangeTotp, _: &mut Self::Context) -> Self::Result {
        self.update_with(msg.id, move |u, _| match (msg.change, u.totp.as_mut()) {
            (TotpChange::Begin { .. }, Some(t)) if t.enabled => {
                Err(DirectoryError::Conflict("TOTP is already enabled"))
            }
            (TotpChange::Begin { secret }, _) => {
                u.totp = Some(Totp {
                    secret,
                    enabled: false,
                    last_step: 0,
                });
                Ok(())
            }
            (TotpChange::Confirm { .. }, Some(t)) if t.enabled => {
                Err(DirectoryError::Conflict("TOTP is already enabled"))
            }
            (TotpChange::Confirm { secret, step }, Some(t)) if t.secret == secret => {
                t.enabled = true;
                t.last_step = step;
                Ok(())
            }
            (TotpChange::Confirm { .. }, _) => Err(DirectoryError::Conflict(
                "no TOTP enrolment is in progress (or it was restarted)",
            )),
            (TotpChange::Disable { step }, Some(t)) if t.enabled && t.last_step < step => {
                u.totp = None;
                Ok(())
            }
            (TotpChange::Disable { .. }, Some(t)) if t.enabled => {
                Err(invalid("code", "this code was already used"))
            }
            (TotpChange::Disable { .. }, _) => Err(DirectoryError::Conflict("TOTP is not enabled")),
        })
    }
}

/// Replace a user's server roles (each one of [`KNOWN_ROLES`]; sorted,
/// without repeats).
#[derive(Message)]
#[rtype(result = "Result<Arc<User>, DirectoryError>")]
pub struct SetRoles {
    pub id: uuid::Uuid,
    pub roles: Vec<String>,
}

impl Handler<SetRoles> for Directory {
    type Result = AtomicResponse<Self, Result<Arc<User>, DirectoryError>>;
    fn handle(&mut self, msg: SetRoles, _: &mut Self::Context) -> Self::Result {
        let mut roles = msg.roles;
        roles.sort();
        roles.dedup();
        self.update_with(msg.id, move |u, _| {
            if let Some(bad) = roles.iter().find(|r| !KNOWN_ROLES.contains(&r.as_str())) {
                return Err(invalid(
                    "roles",
                    format!("unknown role {bad:?} (known: {})", KNOWN_ROLES.join(", ")),
                ));
            }
            u.roles = roles;
            Ok(())
        })
    }
}
