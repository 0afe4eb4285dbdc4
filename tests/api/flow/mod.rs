//! Support for the browser-flow modules (`code_flow`, `authorize_errors`,
//! `code_exchange`, `refresh`, `login`, `logout`, `oidc_client`): users made
//! through the engine, relying parties registered through the admin API, a
//! cookie-holding `Browser`, PKCE, HTML form scraping and token calls.

mod authorize;
mod browser;
mod token;
mod users;

pub use authorize::*;
pub use browser::*;
pub use token::*;
pub use users::*;

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_COOKIE: &str = "tessera_session";
pub const CSRF_COOKIE: &str = "tessera_login_csrf";
pub const REDIRECT: &str = "https://rp.example.com/cb";
pub const POST_LOGOUT: &str = "https://rp.example.com/logged-out";
pub const SCOPE: &str = "openid profile email read";
