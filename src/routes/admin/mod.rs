//! `/admin/*`: administration with the admin bearer token.

pub mod clients;
pub mod entities;
pub mod keys;
pub mod registration;
pub mod users;
