//! `/admin/*`: administration with the admin bearer token.

pub mod audit;
pub mod clients;
pub mod entities;
pub mod keys;
pub mod operations;
pub mod ops;
pub mod passkeys;
pub mod registration;
pub mod tokens;
pub mod users;
