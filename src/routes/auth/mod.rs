//! Browser login (password, then TOTP when enrolled) and RP-initiated
//! logout (SPEC §1-§2).

pub mod federation;
pub mod login;
pub mod logout;
