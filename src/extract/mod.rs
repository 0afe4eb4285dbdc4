//! Request extractors: OAuth forms, client authentication, the admin token.

pub mod admin;
pub mod body;
pub mod client_auth;
pub mod csrf;
pub mod dpop;
pub mod form;
pub mod session;

pub use admin::AdminAuth;
pub use client_auth::{authenticate_client, AuthMethod, ClientAuth};
pub use form::OAuthForm;
pub use session::{Caller, CallerVia, PasswordCaller};
