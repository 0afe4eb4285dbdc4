//! What every handler shares: the engine handle, the failure rate limits,
//! and the server's own settings and documents. Routes import this module,
//! never `startup` (which imports every route).

use metrics_exporter_prometheus::PrometheusHandle;
use tessera_actors::clock::SharedClock;
use tessera_actors::ratelimit::RateLimiter;
use tessera_actors::Engine;

use crate::configuration::LimitSettings;

/// Failure rate limits (SECURITY.md: per account and per IP, never a
/// permanent lock-out).
pub struct Limits {
    pub account: RateLimiter,
    pub ip: RateLimiter,
    pub totp: RateLimiter,
}

impl Limits {
    /// The policies of `[limits]` (today's values unless configured).
    pub fn new(settings: &LimitSettings, clock: SharedClock) -> Limits {
        Limits {
            account: RateLimiter::new(settings.account(), clock.clone()),
            ip: RateLimiter::new(settings.ip(), clock.clone()),
            totp: RateLimiter::new(settings.totp(), clock),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub engine: Engine,
    /// Cookies without `Secure`/`__Host-` (plain-HTTP development).
    pub insecure_cookies: bool,
    pub limits: Limits,
    /// Links and rate limits of the mail-driven account flows.
    pub account_mail: crate::mail::AccountMail,
    pub ua: crate::ua::UaParser,
    pub admin_token_hash: [u8; 32],
    pub metrics: PrometheusHandle,
    pub discovery: String,
    pub openapi: String,
    /// Upstream OpenID providers users may log in with.
    pub upstreams: crate::federation::Upstreams,
}
