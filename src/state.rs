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
    /// Wrong user codes on the device verification page, per IP and per
    /// browser session (`[device]`).
    pub device_ip: RateLimiter,
    pub device_session: RateLimiter,
}

impl Limits {
    /// The policies of `[limits]` (today's values unless configured).
    pub fn new(
        settings: &LimitSettings,
        device: &crate::configuration::DeviceSettings,
        clock: SharedClock,
    ) -> Limits {
        Limits {
            account: RateLimiter::new(settings.account(), clock.clone()),
            ip: RateLimiter::new(settings.ip(), clock.clone()),
            device_ip: RateLimiter::new(device.ip_policy(), clock.clone()),
            device_session: RateLimiter::new(device.session_policy(), clock.clone()),
            totp: RateLimiter::new(settings.totp(), clock),
        }
    }

    /// On a cluster node: count failures with every other node, through
    /// the database and the change feed. Answers the feed's sink for them.
    pub fn share(
        self: &std::sync::Arc<Self>,
        pg: &tessera_actors::pg::Pg,
    ) -> (&'static str, tessera_actors::cluster::Sink) {
        self.account.share(pg, "account");
        self.ip.share(pg, "ip");
        self.totp.share(pg, "totp");
        self.device_ip.share(pg, "device_ip");
        self.device_session.share(pg, "device_session");
        let limits = self.clone();
        (
            tessera_actors::ratelimit::SHARED_TABLE,
            std::sync::Arc::new(move |id: &[u8], row: Option<&[u8]>| {
                tessera_actors::ratelimit::route(
                    &[
                        &limits.account,
                        &limits.ip,
                        &limits.totp,
                        &limits.device_ip,
                        &limits.device_session,
                    ],
                    id,
                    row,
                );
            }),
        )
    }
}

/// How often the failure limiters forget keys whose window has passed.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl AppState {
    /// Forget every limiter key whose window has passed and that is not
    /// locked: without this, each distinct login, address or IP that ever
    /// failed would stay in memory for the life of the process.
    pub fn prune_limits(&self) {
        for l in [
            &self.limits.account,
            &self.limits.ip,
            &self.limits.totp,
            &self.limits.device_ip,
            &self.limits.device_session,
            &self.account_mail.send_ip,
            &self.account_mail.send_email,
            &self.account_mail.verify_ip,
        ] {
            l.prune();
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub engine: Engine,
    /// Cookies without `Secure`/`__Host-` (plain-HTTP development).
    pub insecure_cookies: bool,
    pub limits: std::sync::Arc<Limits>,
    /// Links and rate limits of the mail-driven account flows.
    pub account_mail: crate::mail::AccountMail,
    pub ua: crate::ua::UaParser,
    pub admin_token_hash: [u8; 32],
    pub metrics: PrometheusHandle,
    pub discovery: String,
    pub openapi: String,
    /// Upstream OpenID providers users may log in with.
    pub upstreams: crate::federation::Upstreams,
    /// This node's membership, when it runs in a cluster.
    pub cluster: Option<tessera_actors::cluster::Cluster>,
    /// Clients' registered keys (`jwks`, `jwks_uri`).
    pub client_keys: crate::client_keys::ClientKeys,
    /// `jti`s of client assertions and request objects: each accepted
    /// once (on every node, with PostgreSQL).
    pub jtis: tessera_actors::single_use::SingleUse,
    /// Authorization requests pushed (PAR) or signed (JAR), waiting for or
    /// bound to a browser.
    pub pushed: tessera_actors::pushed::PushedRequests,
    pub par: crate::configuration::ParSettings,
    /// Device authorization grants in flight (RFC 8628), and `[device]`.
    pub devices: tessera_actors::device::DeviceGrants,
    pub device: crate::configuration::DeviceSettings,
    /// Dynamic client registration: its policy and rate limit.
    pub registration: crate::routes::oauth2::register::Registration,
    /// Client certificates (RFC 8705): where they come from, whom they
    /// chain to.
    pub mtls: crate::mtls::Mtls,
    /// Passkeys (WebAuthn): the relying party and ceremonies in flight.
    pub passkeys: crate::passkeys::Passkeys,
    /// The admin console's session limits (`[console]`).
    pub console: crate::configuration::ConsoleSettings,
}

impl AppState {
    /// What a JWT a client made (an assertion, a request object) must say
    /// to be for `audiences`, by `[client_auth]`.
    pub fn client_jwt_rules<'a>(
        &self,
        client_id: &'a str,
        audiences: &'a [&'a str],
        now: i64,
    ) -> tessera_actors::jose::claims::Expect<'a> {
        let s = self.client_keys.settings();
        tessera_actors::jose::claims::Expect {
            client_id,
            audiences,
            now,
            max_lifetime: s.assertion_max_lifetime,
            leeway: s.leeway,
        }
    }

    /// Use a checked client JWT's `jti` (if it has one) once, on every
    /// node with PostgreSQL: `replayed` when it was used before, `503`
    /// when it cannot be recorded (the `what` of the message).
    pub async fn use_jti_once(
        &self,
        fresh: &tessera_actors::jose::claims::Fresh,
        now: i64,
        replayed: tessera_actors::oauth::OAuthError,
        what: &str,
    ) -> Result<(), tessera_actors::oauth::OAuthError> {
        let Some(key) = fresh.jti_key else {
            return Ok(());
        };
        let until = fresh.exp.saturating_add(self.client_keys.settings().leeway);
        self.jtis.claim(key, until, now).await.map_err(|e| match e {
            tessera_actors::single_use::Refused::Replayed => replayed,
            tessera_actors::single_use::Refused::Unavailable => {
                tessera_actors::oauth::OAuthError::unavailable(format!(
                    "the {what} could not be recorded; try again"
                ))
            }
        })
    }

    /// Whether introspection must refuse to answer: a strict cluster node
    /// that may have missed a revocation says `503`, never a stale
    /// `active`. Answers the reason.
    pub fn refuse_introspection(&self) -> Option<String> {
        let c = self.cluster.as_ref()?;
        if !c.strict() {
            return None;
        }
        c.not_serving()
    }
}
