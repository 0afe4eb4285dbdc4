//! Browser login (password, then TOTP or a passkey when enrolled; or a
//! passkey alone) and RP-initiated logout (SPEC §1-§2).

pub mod federation;
pub mod login;
pub mod logout;
pub mod passkey;
