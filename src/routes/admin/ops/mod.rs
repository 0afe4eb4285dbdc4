//! The admin operations: each one the engine call and its audit record,
//! shared by the JSON admin API (`crate::routes::admin`), the admin
//! console and, where the CLI offers the same, the CLI. Every operation
//! that changes something takes a [`Who`](crate::audit::Who) and writes
//! exactly one audit record — done or refused — before it answers; reads
//! (lists, lookups) write none.
//!
//! Actions recorded: `client.create`, `client.update`, `client.delete`,
//! `client.secret.rotate`; `user.create`, `user.update`, `user.delete`,
//! `user.password.set`, `user.roles.set`, `user.totp.reset`,
//! `user.sessions.end`; `session.end`; `token.revoke`, `grant.revoke`;
//! `key.rotate`; `entity.create`, `entity.delete`, `entity.member.set`,
//! `entity.member.remove`, `apikey.create`, `apikey.revoke`;
//! `registration_token.create`, `registration_token.revoke`; `mail.retry`,
//! `mail.discard`.

pub mod audit;
pub mod clients;
pub mod cluster;
pub mod entities;
pub mod keys;
pub mod mail;
pub mod registration;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::error::ApiError;

/// An id from a path: malformed and unknown are both `404`.
pub(crate) fn parse_id(s: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(s).map_err(|_| ApiError::not_found(format!("no such {what}")))
}
