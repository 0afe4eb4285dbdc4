//! The `/api/oauth` service (SPEC §4): first-party token endpoints for
//! the account's own tokens, registration and mail-driven account flows.

pub mod email;
pub mod register;
pub mod reset_password;
pub mod revoke;
pub mod token;
