//! # tessera-actors — the engine
//!
//! # Layout
//!
//! Every piece of state has exactly one owner, an actix actor supervised on
//! its own arbiter. Owners write (through their own storage trait first,
//! then, once the write is durable, to the concurrent read view they
//! publish); everyone else reads the views or sends messages.
//!
//! - [`keys`] — `KeyRotator`: signing keys (current, next, retired until
//!   their last token expires), automatic and manual rotation; publishes the
//!   signer, the verifier set and the JWKS.
//! - [`directory`] — `Directory`: OAuth clients, users, entities and their
//!   members, API keys, TOTP secrets, consents and mailed one-time codes;
//!   publishes the client, user, consent and entity views that client
//!   authentication, login and API key checks read.
//! - [`tokens`] — `TokenIssuer`: authorization codes, refresh-token
//!   families, access-token records, personal and entity tokens; publishes
//!   the token index introspection answers from.
//! - [`revocation`] — `RevocationList`: revoked token ids and families; acks
//!   only after a group-committed flush; publishes the revoked set.
//! - [`sessions`] — `SessionRegistry`: browser sessions and logins waiting
//!   for their second factor; publishes the session view every request
//!   resolves its cookie against.
//! - [`logout`] — `LogoutQueue`: OIDC back-channel logout tokens for the
//!   clients of every session that ends, through a persisted queue retried
//!   with backoff, dead letters kept.
//! - [`mailer`] — `Mailer`: the persisted outbound mail queue, delivered
//!   over SMTP or into a file outbox, retried with backoff, dead letters
//!   kept.
//! - [`federation`] — `Federation`: upstream logins in flight (by the hash
//!   of their `state`, bound to the browser, single use) and the durable
//!   links from an upstream subject to a local user; upstream ID token
//!   verification.
//! - [`audit`] — `AuditLog`: what administrators did, written durably
//!   before their operation answers, listed newest first, bounded by age
//!   and count.
//! - [`grants`] — one file per grant type, turning a request into tokens.
//! - [`flows`] — the engine's public operations, one file per workflow:
//!   registration, passwords and resets, deleting or disabling a user,
//!   upstream (federated) users, personal tokens, introspection and
//!   revocation. Every `impl Engine` a caller uses is there; a server
//!   handler or a CLI command makes one call and maps the answer.
//! - [`introspection`] — what RFC 7662 answers and the JWT checks behind
//!   it; the hot path (the operations are in [`flows::introspection`]).
//! - [`stores`] — every owner's storage trait gathered into one value the
//!   engine starts with; the one place a backend is chosen.
//! - [`store`] — the sled backend: open and corruption checks, tree
//!   ownership, codecs, the free-space reserve and group-committed
//!   durability.
//! - [`pg`] — the PostgreSQL backend: the same storage traits over one
//!   table per record kind, group-committed writes, conditional single-use
//!   updates, bounded expiry sweeps, embedded migrations, and the
//!   change feed's events.
//! - [`cluster`] — several nodes on one database: each listens to the
//!   change feed and hands the owners what the others wrote, heartbeats,
//!   knows when it may not answer, and holds strict revocations until
//!   every live node applied them.
//! - [`engine`] — starts it all and hands out one [`engine::Engine`] handle.
//! - [`timing`] — the engine's actor addresses stamp each message, so every
//!   actor's mailbox wait and handling time are exported as metrics.
//! - [`jose`] — clients' JWK Sets and JWS checks (client assertions,
//!   request objects): the algorithm from the key, never from the token.
//! - [`single_use`] — values accepted once (DPoP proofs, assertion and
//!   request object `jti`s): bounded in memory, claimed in the database
//!   when shared.
//! - [`pushed`] — authorization requests pushed (PAR) or signed (JAR),
//!   held until a browser brings them, then bound to that browser.
//! - [`totp`] — TOTP enrolment (secret, otpauth URL, QR code) and
//!   replay-refusing code checks.
//! - [`domain`], [`secret`], [`clock`], [`oauth`] — validated values,
//!   secrets and hashing, the injectable clock, protocol errors.
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

pub mod audit;
pub mod ceremonies;
pub mod clock;
pub mod cluster;
pub mod device;
pub mod directory;
pub mod domain;
pub mod dpop;
pub mod engine;
pub mod federation;
pub mod flows;
pub mod grants;
pub mod idmap;
pub mod introspection;
pub mod jose;
pub mod keys;
pub mod logout;
pub mod mailer;
pub mod oauth;
pub mod password;
pub mod pg;
pub mod pushed;
pub mod ratelimit;
pub mod revocation;
pub mod secret;
pub mod sessions;
pub mod single_use;
pub mod store;
pub mod stores;
pub mod timing;
pub mod tokens;
pub mod totp;

pub use engine::{AccountsConfig, ActionError, Engine, EngineConfig, EngineError};
