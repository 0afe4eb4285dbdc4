//! # tessera — the HTTP server
//!
//! # Layout
//!
//! - [`state`] — `AppState`, what every handler shares.
//! - [`startup`] — `Application::build(settings)` binds (port 0 works),
//!   starts the engine and serves until stopped.
//! - [`configuration`] — defaults, optional TOML, `TESSERA_*` overrides.
//! - [`routes`] — one module per API family; handlers are thin: parse,
//!   call the engine (a read view or one actor message), map the answer.
//! - [`extract`] — OAuth forms, client authentication, the admin token,
//!   CSRF tokens of browser forms.
//! - [`browser`] — what browser-facing routes share: HTML negotiation,
//!   safe `return_to`, opening a login session.
//! - [`error`] — OAuth (RFC 6749 §5.2) and API error bodies.
//! - [`client_keys`] — clients' registered keys: JWK Sets by value, and
//!   `jwks_uri` fetches, bounded and cached.
//! - [`outbound`] — reading answers of servers tessera calls, bounded.
//! - [`federation`] — upstream OpenID providers: discovery, JWKS, code
//!   exchange and ID token checks for `/auth/openid`.
//! - [`mail`] — the mails of the account flows (askama templates in
//!   `templates/mail/`), their links and rate limits.
//! - [`views`] — server-rendered HTML (login, MFA, consent, errors): askama
//!   templates in `templates/` and the page structs that fill them; the
//!   page *handlers* are in `routes/pages/`.
//! - [`totp`] — TOTP enrolment and code checks the JSON API and the
//!   account page share.
//! - [`telemetry`] — logging, Prometheus metrics, per-route timing.
//! - [`tls`] — HTTPS in the server: the rustls configuration, certificate
//!   reload without restart, client certificates captured per connection.
//! - [`cli`] — the administrative subcommands run from a shell.
//! - [`ua`] — `User-Agent` parsing (ua-parser regexes embedded by
//!   `build.rs` from the `uaparser` package) for the session list.
//!
//! The engine itself (actors, store, keys, tokens) is the `tessera-actors`
//! crate.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

/// What this binary is: its version, the commit it was built from and the
/// store backends it carries (`tessera --version`, `tessera_build_info`).
pub mod build_info {
    /// The crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// The commit built (12 hex digits), or `unknown` (see `build.rs`).
    pub const COMMIT: &str = env!("TESSERA_GIT_COMMIT");
    /// Every store backend is compiled in; `[store]` picks one at start.
    pub const BACKENDS: &str = "sled,postgres";
    /// `tessera --version`'s text after the program name.
    pub const LONG_VERSION: &str = concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("TESSERA_GIT_COMMIT"),
        "; backends: sled, postgres)"
    );
}

pub mod audit;
pub mod backchannel;
pub mod backend;
pub mod browser;
pub mod cli;
pub mod client_keys;
pub mod configuration;
pub mod error;
pub mod extract;
pub mod federation;
pub mod mail;
pub mod mtls;
pub mod outbound;
pub mod passkeys;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod totp;
pub mod ua;
pub mod views;
