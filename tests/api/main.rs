//! The integration test suite: one binary, the real server on port 0 over
//! a temporary store, a hand-driven clock, and plain HTTP.
//!
//! - `helpers` — `spawn_app()`, the `TestApp` handle and HTTP helpers.
//! - `process` — the `tessera` binary as a child process.

mod helpers;
mod process;

mod account_revocation;
mod admin;
mod cli;
mod client_auth;
mod concurrency;
mod discovery;
mod durability;
mod faults;
mod fuzz;
mod input;
mod introspection;
mod jwt;
mod keys;
mod ops;
mod revocation;
mod sessions;
mod sessions_lifecycle;
mod token;
mod users_admin;

mod authorize_errors;
mod code_exchange;
mod code_flow;
mod flow;
mod login;
mod logout;
mod oidc_client;
mod refresh;
