//! The `/api/users` service (SPEC §4): what a logged-in user manages about
//! their own account — personal tokens, TOTP, their password.

pub mod otp;
pub mod password;
pub mod token;
