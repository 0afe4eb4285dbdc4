//! `LogoutQueue`: OIDC Back-Channel Logout 1.0. When a browser session
//! ends (logout, a deletion through the sessions API, a user disabled or
//! deleted, a password change, idle or absolute expiry), every client
//! that was given an authorization in it and registered a
//! `backchannel_logout_uri` is sent a logout token (§2.4), a JWT signed
//! with the server's current key, `typ: logout+jwt`.
//!
//! Delivery is a persisted queue, like the mailer's: a session's end is
//! acknowledged only once its deliveries are durable, and the POSTs run
//! in the background on this actor's own thread, so a slow or dead client
//! never delays anyone's logout. An attempt that gets neither `200` nor
//! `204` (or no answer within the timeout) is retried with exponential
//! backoff (`retry_base × 2^n`, capped at `retry_max`); after
//! `max_attempts` the delivery is kept as a dead letter for an operator.
//! After a restart the queue is reloaded and delivered: at least once.
//!
//! Deliveries to one client are attempted one at a time, oldest first (a
//! later logout never overtakes an earlier one); different clients are
//! served concurrently, up to `concurrency` attempts at once. The token
//! is signed afresh for each attempt (`iat`, `exp`), with the delivery's
//! id as its `jti`, so a receiver may drop a copy it has seen. Processes
//! sharing a PostgreSQL database claim each row before an attempt: one
//! of them sends it.

pub mod pg;
pub mod storage;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::directory::ClientsView;
use crate::keys::{JwtType, KeysView};
use crate::sessions::{EndedSession, SessionsEnded};
use crate::store::StoreError;
pub use pg::PgLogoutStore;
pub use storage::{Claim, LogoutStore, SledLogoutStore};

/// The `events` member of every logout token (§2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Queued,
    /// Given up on: kept for an operator, never retried.
    Dead,
}

/// One logout token to deliver to one client, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Also the token's `jti`: the same for every attempt.
    pub id: uuid::Uuid,
    /// Order among the deliveries to the same client.
    pub seq: i64,
    pub client_id: String,
    /// The user (`sub`).
    pub sub: String,
    /// The session as the client knows it (`sid`).
    pub sid: Option<uuid::Uuid>,
    pub created_at: i64,
    pub attempts: u32,
    /// When the next attempt is due (engine clock).
    pub next_attempt_at: i64,
    pub state: DeliveryState,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LogoutConfig {
    /// Longest one POST may take before it counts as failed.
    pub timeout: Duration,
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// Delay after the first failure, seconds; doubles per further failure.
    pub retry_base: i64,
    /// Longest delay between two attempts, seconds.
    pub retry_max: i64,
    /// Attempts in flight at once (each to a different client).
    pub concurrency: usize,
    /// Lifetime of a logout token (`exp - iat`), seconds.
    pub token_ttl: i64,
    /// How often the queue is looked at for due retries (wall time).
    pub poll_interval: Duration,
}

impl Default for LogoutConfig {
    fn default() -> Self {
        LogoutConfig {
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            retry_base: 5,
            retry_max: 3600,
            concurrency: 32,
            token_ttl: 120,
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl LogoutConfig {
    /// Delay before the attempt that follows the `failures`-th failure.
    pub fn backoff(&self, failures: u32) -> i64 {
        let shift = failures.saturating_sub(1).min(30);
        self.retry_base
            .saturating_mul(1i64 << shift)
            .min(self.retry_max)
            .max(1)
    }
}

/// Why an attempt failed; a permanent failure is not retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostError {
    pub message: String,
    pub permanent: bool,
}

impl PostError {
    pub fn transient(message: impl Into<String>) -> Self {
        PostError {
            message: message.into(),
            permanent: false,
        }
    }
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A POST of `logout_token=…` to a client's `backchannel_logout_uri`;
/// `Ok` when it answered `200` or `204`. Provided by the server (its HTTP
/// client); until one is set, deliveries wait in the queue.
pub trait LogoutTransport: Send + Sync + 'static {
    fn post(
        &self,
        uri: &str,
        logout_token: String,
    ) -> Pin<Box<dyn Future<Output = Result<(), PostError>> + Send>>;
}

/// Start delivering through `transport`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseTransport(pub Arc<dyn LogoutTransport>);

/// Look for due deliveries now (the queue also does so on its own timer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

/// Every delivery in the queue, dead letters included.
#[derive(Message)]
#[rtype(result = "Result<Vec<Delivery>, StoreError>")]
pub struct ListDeliveries;

#[derive(Debug, Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    events: serde_json::Value,
}

/// How long a claimed attempt may outlive its own timeout before another
/// process may try the delivery.
const CLAIM_MARGIN_SECS: i64 = 30;

/// How often a queue shared with other processes is read again.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

pub struct LogoutQueue {
    config: LogoutConfig,
    store: Box<dyn LogoutStore>,
    clock: SharedClock,
    keys: Arc<KeysView>,
    clients: Arc<ClientsView>,
    issuer: Arc<str>,
    transport: Option<Arc<dyn LogoutTransport>>,
    /// Deliveries waiting (not dead), per client, oldest first.
    queues: BTreeMap<String, VecDeque<Delivery>>,
    dead: usize,
    /// Clients with an attempt in flight.
    in_flight: HashSet<String>,
    last_seq: i64,
    refreshed: Instant,
}

impl LogoutQueue {
    pub fn open(
        config: LogoutConfig,
        store: Box<dyn LogoutStore>,
        clock: SharedClock,
        keys: Arc<KeysView>,
        clients: Arc<ClientsView>,
        issuer: &str,
    ) -> Result<Self, StoreError> {
        let mut q = LogoutQueue {
            config,
            store,
            clock,
            keys,
            clients,
            issuer: Arc::from(issuer),
            transport: None,
            queues: BTreeMap::new(),
            dead: 0,
            in_flight: HashSet::new(),
            last_seq: 0,
            refreshed: Instant::now(),
        };
        q.reload()?;
        Ok(q)
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let mut all = self.store.load_all()?;
        all.sort_by_key(|a| (a.seq, a.id));
        self.queues.clear();
        self.dead = 0;
        for d in all {
            self.last_seq = self.last_seq.max(d.seq);
            match d.state {
                DeliveryState::Queued => self
                    .queues
                    .entry(d.client_id.clone())
                    .or_default()
                    .push_back(d),
                DeliveryState::Dead => self.dead += 1,
            }
        }
        self.refreshed = Instant::now();
        self.gauges();
        Ok(())
    }

    fn queued(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    fn gauges(&self) {
        metrics::gauge!("tessera_backchannel_logout_queued").set(self.queued() as f64);
        metrics::gauge!("tessera_backchannel_logout_dead").set(self.dead as f64);
    }

    /// A new order number: after every one seen, and about the wall time
    /// in microseconds, so that processes sharing the queue agree roughly.
    fn next_seq(&mut self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        self.last_seq = wall.max(self.last_seq.saturating_add(1));
        self.last_seq
    }

    /// The deliveries a session's end calls for: one per client holding it
    /// that registered a `backchannel_logout_uri`. The id is derived from
    /// the session and the client, so the same end noticed twice (by two
    /// processes of a cluster) is queued once.
    fn deliveries(&mut self, ended: &[EndedSession]) -> Vec<Delivery> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for e in ended {
            for c in &e.clients {
                let registered = self
                    .clients
                    .get(&c.client_id)
                    .is_some_and(|cl| cl.backchannel_logout_uri.is_some());
                if !registered {
                    continue;
                }
                let mut seed = e.session_id.as_bytes().to_vec();
                seed.extend_from_slice(c.client_id.as_bytes());
                let hash = crate::secret::sha256(&seed);
                let mut bytes = [0u8; 16];
                for (b, h) in bytes.iter_mut().zip(hash.iter()) {
                    *b = *h;
                }
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                if out.iter().any(|d: &Delivery| d.id == id) || self.knows(&c.client_id, &id) {
                    continue;
                }
                let seq = self.next_seq();
                out.push(Delivery {
                    id,
                    seq,
                    client_id: c.client_id.clone(),
                    sub: e.user_id.to_string(),
                    sid: Some(c.sid),
                    created_at: now,
                    attempts: 0,
                    next_attempt_at: now,
                    state: DeliveryState::Queued,
                    last_error: None,
                });
            }
        }
        out
    }

    fn knows(&self, client_id: &str, id: &uuid::Uuid) -> bool {
        self.queues
            .get(client_id)
            .is_some_and(|q| q.iter().any(|d| d.id == *id))
    }

    fn accept(&mut self, ds: Vec<Delivery>) {
        for d in ds {
            if self.knows(&d.client_id, &d.id) {
                continue;
            }
            self.queues
                .entry(d.client_id.clone())
                .or_default()
                .push_back(d);
        }
        self.gauges();
    }

    /// In a cluster: take in what other processes queued, forget what they
    /// delivered.
    fn refresh(&mut self) {
        if !self.store.shared() || self.refreshed.elapsed() < REFRESH_EVERY {
            return;
        }
        self.refreshed = Instant::now();
        let mut all = match self.store.load_all() {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the logout queue; retrying later");
                return;
            }
        };
        all.sort_by_key(|a| (a.seq, a.id));
        let mut fresh: BTreeMap<String, VecDeque<Delivery>> = BTreeMap::new();
        let mut dead = 0;
        for d in all {
            self.last_seq = self.last_seq.max(d.seq);
            match d.state {
                DeliveryState::Queued => {
                    // What this process knows of it (its retry time) wins.
                    let mine = self
                        .queues
                        .get(&d.client_id)
                        .and_then(|q| q.iter().find(|m| m.id == d.id))
                        .cloned();
                    fresh
                        .entry(d.client_id.clone())
                        .or_default()
                        .push_back(mine.unwrap_or(d));
                }
                DeliveryState::Dead => dead += 1,
            }
        }
        // An attempt in flight keeps its delivery until it is answered.
        for c in &self.in_flight {
            if let Some(q) = self.queues.get(c) {
                if let Some(front) = q.front() {
                    let f = fresh.entry(c.clone()).or_default();
                    if !f.iter().any(|d| d.id == front.id) {
                        f.push_front(front.clone());
                    }
                }
            }
        }
        self.queues = fresh;
        self.dead = dead;
        self.gauges();
    }

    fn mint(&self, d: &Delivery, now: i64) -> Result<String, String> {
        let signer = self
            .keys
            .signer()
            .ok_or_else(|| "no signing key is loaded yet".to_string())?;
        let claims = LogoutClaims {
            iss: &self.issuer,
            aud: &d.client_id,
            iat: now,
            exp: now.saturating_add(self.config.token_ttl),
            jti: d.id.to_string(),
            sub: &d.sub,
            sid: d.sid.map(|s| s.to_string()),
            events: serde_json::json!({ LOGOUT_EVENT: {} }),
        };
        signer
            .sign(JwtType::LogoutToken, &claims)
            .map_err(|e| e.to_string())
    }

    /// Start an attempt for the oldest delivery of every client that has
    /// none in flight and whose delivery is due, up to the bound.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let Some(transport) = self.transport.clone() else {
            return;
        };
        self.refresh();
        let now = self.clock.now();
        let room = self.config.concurrency.saturating_sub(self.in_flight.len());
        let due: Vec<Delivery> = self
            .queues
            .iter()
            .filter(|(c, _)| !self.in_flight.contains(*c))
            .filter_map(|(_, q)| q.front())
            .filter(|d| d.next_attempt_at <= now)
            .take(room)
            .cloned()
            .collect();
        for d in due {
            let uri = self
                .clients
                .get(&d.client_id)
                .and_then(|c| c.backchannel_logout_uri.clone());
            let Some(uri) = uri else {
                // The client is gone or no longer wants logout tokens.
                tracing::info!(client_id = %d.client_id, delivery = %d.id, "back-channel logout dropped: the client has no backchannel_logout_uri");
                metrics::counter!("tessera_backchannel_logout_dropped_total").increment(1);
                self.remove(&d);
                if let Err(e) = self.store.delete(&d.id) {
                    tracing::error!(delivery = %d.id, error = %e, "could not drop a logout delivery");
                }
                continue;
            };
            let lease = now
                .saturating_add(self.config.timeout.as_secs() as i64)
                .saturating_add(CLAIM_MARGIN_SECS);
            match self.store.claim(&d, now, lease) {
                Ok(Claim::Won) => {}
                // Another process has it, or an older delivery to the
                // client waits: looked at again at the next round.
                Ok(Claim::Leased(_)) => continue,
                Ok(Claim::Gone) => {
                    self.remove(&d);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(delivery = %d.id, error = %e, "could not claim a logout delivery; retrying later");
                    continue;
                }
            }
            let token = match self.mint(&d, now) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(delivery = %d.id, error = %e, "could not sign a logout token; retrying later");
                    continue;
                }
            };
            self.in_flight.insert(d.client_id.clone());
            let attempt = transport.post(&uri, token);
            let limit = self.config.timeout;
            let timed = async move {
                match tokio::time::timeout(limit, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(PostError::transient(format!(
                        "no answer within {} ms",
                        limit.as_millis()
                    ))),
                }
            };
            let (client, id) = (d.client_id.clone(), d.id);
            ctx.spawn(
                timed
                    .into_actor(self)
                    .map(move |r, act, ctx| act.attempted(&client, id, r, ctx)),
            );
        }
    }

    fn remove(&mut self, d: &Delivery) {
        if let Some(q) = self.queues.get_mut(&d.client_id) {
            q.retain(|x| x.id != d.id);
            if q.is_empty() {
                self.queues.remove(&d.client_id);
            }
        }
        self.gauges();
    }

    fn attempted(
        &mut self,
        client: &str,
        id: uuid::Uuid,
        result: Result<(), PostError>,
        ctx: &mut Context<Self>,
    ) {
        self.in_flight.remove(client);
        let current = self
            .queues
            .get(client)
            .and_then(|q| q.iter().find(|d| d.id == id))
            .cloned();
        let Some(mut d) = current else {
            self.pump(ctx);
            return;
        };
        match result {
            Ok(()) => {
                metrics::counter!("tessera_backchannel_logout_sent_total").increment(1);
                tracing::info!(client_id = %client, delivery = %id, attempts = d.attempts + 1, "back-channel logout delivered");
                self.remove(&d);
                // Not flushed on purpose: a crash before the store's own
                // flush only sends the token once more.
                if let Err(e) = self.store.delete(&id) {
                    tracing::error!(delivery = %id, error = %e, "could not drop a delivered logout token from the queue");
                }
            }
            Err(e) => {
                metrics::counter!("tessera_backchannel_logout_failed_total").increment(1);
                let now = self.clock.now();
                d.attempts = d.attempts.saturating_add(1);
                d.last_error = Some(e.message.clone());
                if e.permanent || d.attempts >= self.config.max_attempts {
                    d.state = DeliveryState::Dead;
                    tracing::error!(client_id = %client, delivery = %id, attempts = d.attempts, error = %e, "back-channel logout undeliverable; kept as a dead letter");
                    self.remove(&d);
                    self.dead += 1;
                } else {
                    metrics::counter!("tessera_backchannel_logout_retried_total").increment(1);
                    d.next_attempt_at = now.saturating_add(self.config.backoff(d.attempts));
                    tracing::warn!(client_id = %client, delivery = %id, attempts = d.attempts, retry_at = d.next_attempt_at, error = %e, "back-channel logout failed; will retry");
                    if let Some(slot) = self
                        .queues
                        .get_mut(client)
                        .and_then(|q| q.iter_mut().find(|x| x.id == id))
                    {
                        *slot = d.clone();
                    }
                }
                if let Err(e) = self.store.put(&d) {
                    tracing::error!(delivery = %id, error = %e, "could not record a failed logout delivery");
                }
                self.gauges();
            }
        }
        self.pump(ctx);
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(LogoutQueue, "logout_queue");

impl Actor for LogoutQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.config.poll_interval, |act, ctx| act.pump(ctx));
        self.pump(ctx);
    }
}

impl Supervised for LogoutQueue {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.in_flight.clear();
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "the logout queue could not reload");
        }
    }
}

impl Handler<SessionsEnded> for LogoutQueue {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    fn handle(&mut self, msg: SessionsEnded, _: &mut Self::Context) -> Self::Result {
        let ds = self.deliveries(&msg.0);
        if ds.is_empty() {
            return Box::pin(fut::ready(Ok(())));
        }
        if let Err(e) = self.store.add(&ds) {
            return Box::pin(fut::ready(Err(e)));
        }
        Box::pin(
            self.store
                .durable()
                .into_actor(self)
                .map(move |r, act, ctx| {
                    r?;
                    act.accept(ds);
                    act.pump(ctx);
                    Ok(())
                }),
        )
    }
}

impl Handler<UseTransport> for LogoutQueue {
    type Result = ();
    fn handle(&mut self, msg: UseTransport, ctx: &mut Self::Context) {
        self.transport = Some(msg.0);
        self.pump(ctx);
    }
}

impl Handler<Tick> for LogoutQueue {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

impl Handler<ListDeliveries> for LogoutQueue {
    type Result = Result<Vec<Delivery>, StoreError>;
    fn handle(&mut self, _: ListDeliveries, _: &mut Self::Context) -> Self::Result {
        self.store.load_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let c = LogoutConfig {
            retry_base: 5,
            retry_max: 60,
            ..LogoutConfig::default()
        };
        let waits: Vec<i64> = (1..=6).map(|n| c.backoff(n)).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(c.backoff(u32::MAX), 60);
    }

    #[test]
    fn a_delivery_record_reads_back_whole() {
        let d = Delivery {
            id: uuid::Uuid::new_v4(),
            seq: 7,
            client_id: "rp".into(),
            sub: uuid::Uuid::new_v4().to_string(),
            sid: Some(uuid::Uuid::new_v4()),
            created_at: 1,
            attempts: 2,
            next_attempt_at: 3,
            state: DeliveryState::Dead,
            last_error: Some("the client answered 500".into()),
        };
        let back: Delivery = crate::store::decode(&crate::store::encode(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
