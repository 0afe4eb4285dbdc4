//! Token exchange (RFC 8693).

mod cascade;
mod dpop;
mod grant;
mod policy;
mod support;
