//! The integration test suite: one binary, the real server on port 0 over
//! a temporary store, a hand-driven clock, and plain HTTP.
//!
//! - `helpers` — `spawn_app()`, the `TestApp` handle and HTTP helpers.
//! - `testdb` — the suite's backend (`TESSERA_TEST_BACKEND`) and a fresh
//!   PostgreSQL database per test.
//! - `process` — the `tessera` binary as a child process.
//! - `smtp_sink` — a loopback SMTP server that keeps what it receives, and
//!   `spawn_app_with_mail()`.

mod helpers;
mod process;
mod smtp_sink;
mod testdb;

mod account_revocation;
mod accounts;
mod admin;
mod admin_ops;
mod api_oauth_tokens;
mod backchannel;
mod claims;
mod cli;
mod cli_remote;
mod client_auth;
mod client_jwt;
mod cluster;
mod concurrency;
mod configuration;
mod console;
mod crash;
mod dcr;
mod device;
mod discovery;
mod disk_full;
mod dpop;
mod durability;
mod entities;
mod faults;
mod federation;
mod first_contact;
mod fuzz;
mod fuzz_props;
mod input;
mod introspection;
mod jwt;
mod keys;
mod mtls;
mod ops;
mod personal_tokens;
mod postgres;
mod revocation;
mod schema_regressions;
mod sessions;
mod sessions_lifecycle;
mod tls;
mod token;
mod token_exchange;
mod totp_enrol;
mod users_admin;

mod authorize_errors;
mod code_exchange;
mod code_flow;
mod flow;
mod login;
mod logout;
mod mail;
mod metrics_dashboard;
mod oidc_client;
mod pages;
mod par;
mod passkeys;
mod refresh;
mod resource_indicators;
mod security;
mod signed_introspection;
