//! `Mailer`: the outbound mail queue. A mail is accepted only once it is
//! durable in the `mail` tree, so a crash never loses one the caller was
//! told about. Deliveries run as futures on the mailer's own thread (an
//! HTTP worker or another actor never waits for a mail server); a failed
//! attempt is retried with exponential backoff (`retry_base × 2^n`,
//! capped), and after `max_attempts` (or at once, when the server refused
//! for good) the mail becomes a dead letter that stays in the tree for an
//! operator to see. After a restart the queue is reloaded and delivered.
//!
//! Over SMTP, delivery is at least once: a crash between a server's
//! acceptance and the removal of the mail from the tree sends it again on
//! restart (with the same `Message-ID`, so a receiver can drop the copy).
//! The file outbox is exactly once: a mail is written as `<mail id>.eml`,
//! whole or not at all, and never again once that file exists.

pub mod storage;
pub mod transport;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::store::StoreError;
pub use storage::{MailStore, SledMailStore};
pub use transport::{
    build_message, parse_mailbox, valid_recipient, Delivery, DeliveryError, SmtpConfig, SmtpTls,
    Transport, TransportSpec,
};

/// A mail to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Waiting for its next attempt.
    Queued,
    /// Given up on: kept for an operator, never retried.
    Dead,
}

/// A mail in the queue, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMail {
    pub id: uuid::Uuid,
    pub mail: Mail,
    pub created_at: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (engine clock).
    pub next_attempt_at: i64,
    pub state: MailState,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// The `From` of every mail.
    pub from: String,
    pub transport: TransportSpec,
    /// Attempts before a mail becomes a dead letter.
    pub max_attempts: u32,
    /// Delay after the first failure, seconds; doubles per further failure.
    pub retry_base: i64,
    /// Longest delay between two attempts, seconds.
    pub retry_max: i64,
    /// How often the queue is looked at for due retries (wall time).
    pub poll_interval: Duration,
    /// Longest one attempt may take before it counts as failed.
    pub attempt_timeout: Duration,
}

impl Default for MailerConfig {
    fn default() -> Self {
        MailerConfig {
            from: "tessera <noreply@localhost>".into(),
            transport: TransportSpec::File {
                dir: std::path::PathBuf::from("./data/outbox"),
            },
            max_attempts: 8,
            retry_base: 5,
            retry_max: 3600,
            poll_interval: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(60),
        }
    }
}

impl MailerConfig {
    /// Delay before the attempt that follows the `failures`-th failure.
    pub fn backoff(&self, failures: u32) -> i64 {
        let shift = failures.saturating_sub(1).min(30);
        self.retry_base
            .saturating_mul(1i64 << shift)
            .min(self.retry_max)
            .max(1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queue a mail. Answers once it is durable.
#[derive(Message)]
#[rtype(result = "Result<uuid::Uuid, MailError>")]
pub struct Enqueue(pub Mail);

/// Look for due mails now (the mailer also does so on its own timer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

/// Every mail in the queue, dead letters included, oldest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<QueuedMail>, StoreError>")]
pub struct ListMail;

/// Concurrent deliveries at most.
const MAX_IN_FLIGHT: usize = 4;

pub struct Mailer {
    config: MailerConfig,
    store: Box<dyn MailStore>,
    clock: SharedClock,
    /// Built when the actor starts, on its own thread.
    transport: Option<Arc<dyn Transport>>,
    /// Mails waiting for an attempt (not dead), by id (time-ordered).
    queued: BTreeMap<uuid::Uuid, QueuedMail>,
    dead: usize,
    in_flight: HashSet<uuid::Uuid>,
}

/// How long a claimed attempt may outlive its own timeout before another
/// node may try the mail.
const CLAIM_MARGIN_SECS: i64 = 30;

impl Mailer {
    pub fn open(
        config: MailerConfig,
        store: Box<dyn MailStore>,
        clock: SharedClock,
    ) -> Result<Self, StoreError> {
        let mut m = Mailer {
            config,
            store,
            clock,
            transport: None,
            queued: BTreeMap::new(),
            dead: 0,
            in_flight: HashSet::new(),
        };
        m.reload()?;
        Ok(m)
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        self.queued.clear();
        self.in_flight.clear();
        self.dead = 0;
        for m in self.store.load_all()? {
            match m.state {
                MailState::Queued => {
                    self.queued.insert(m.id, m);
                }
                MailState::Dead => self.dead += 1,
            }
        }
        self.gauges();
        Ok(())
    }

    fn gauges(&self) {
        metrics::gauge!("tessera_mail_queued").set(self.queued.len() as f64);
        metrics::gauge!("tessera_mail_dead").set(self.dead as f64);
    }

    /// Start an attempt for every due mail, up to the concurrency bound.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        let Some(transport) = self.transport.clone() else {
            return;
        };
        let now = self.clock.now();
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len());
        let due: Vec<QueuedMail> = self
            .queued
            .values()
            .filter(|m| m.next_attempt_at <= now && !self.in_flight.contains(&m.id))
            .take(room)
            .cloned()
            .collect();
        for m in due {
            let id = m.id;
            // Several nodes may share the queue: one attempt at a time.
            let lease = now
                .saturating_add(self.config.attempt_timeout.as_secs() as i64)
                .saturating_add(CLAIM_MARGIN_SECS);
            match self.store.claim(&id, now, lease) {
                Ok(storage::Claim::Won) => {}
                Ok(storage::Claim::Leased(until)) => {
                    if let Some(q) = self.queued.get_mut(&id) {
                        q.next_attempt_at = until;
                    }
                    continue;
                }
                Ok(storage::Claim::Gone) => {
                    self.queued.remove(&id);
                    self.gauges();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(mail = %id, error = %e, "could not claim a mail; retrying later");
                    if let Some(q) = self.queued.get_mut(&id) {
                        q.next_attempt_at = now.saturating_add(CLAIM_MARGIN_SECS);
                    }
                    continue;
                }
            }
            self.in_flight.insert(id);
            let attempt = transport.deliver(&m);
            let limit = self.config.attempt_timeout;
            let timed = async move {
                match tokio::time::timeout(limit, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(DeliveryError::transient(format!(
                        "no answer within {} s",
                        limit.as_secs()
                    ))),
                }
            };
            ctx.spawn(
                timed
                    .into_actor(self)
                    .map(move |r, act, ctx| act.attempted(id, r, ctx)),
            );
        }
    }

    fn attempted(
        &mut self,
        id: uuid::Uuid,
        result: Result<(), DeliveryError>,
        ctx: &mut Context<Self>,
    ) {
        self.in_flight.remove(&id);
        match result {
            Ok(()) => {
                metrics::counter!("tessera_mail_sent_total").increment(1);
                if let Some(m) = self.queued.remove(&id) {
                    tracing::info!(mail = %id, attempts = m.attempts + 1, "mail delivered");
                }
                // Not flushed on purpose: a crash before sled's own flush
                // only sends the mail once more.
                if let Err(e) = self.store.delete(&id) {
                    tracing::error!(mail = %id, error = %e, "could not drop a delivered mail from the queue");
                }
                self.gauges();
                self.pump(ctx);
            }
            Err(e) => {
                metrics::counter!("tessera_mail_failed_total").increment(1);
                let now = self.clock.now();
                let max = self.config.max_attempts;
                let Some(m) = self.queued.get_mut(&id) else {
                    return;
                };
                m.attempts = m.attempts.saturating_add(1);
                m.last_error = Some(e.message.clone());
                let record = if e.permanent || m.attempts >= max {
                    m.state = MailState::Dead;
                    tracing::error!(
                        mail = %id,
                        attempts = m.attempts,
                        error = %e,
                        "mail undeliverable; kept as a dead letter"
                    );
                    let dead = m.clone();
                    self.queued.remove(&id);
                    self.dead += 1;
                    dead
                } else {
                    m.next_attempt_at = now.saturating_add(self.config.backoff(m.attempts));
                    tracing::warn!(
                        mail = %id,
                        attempts = m.attempts,
                        retry_at = m.next_attempt_at,
                        error = %e,
                        "mail delivery failed; will retry"
                    );
                    m.clone()
                };
                if let Err(e) = self.store.put(&record) {
                    tracing::error!(mail = %id, error = %e, "could not record a failed attempt");
                }
                self.gauges();
            }
        }
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(Mailer, "mailer");

impl Actor for Mailer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.transport.is_none() {
            match self.config.transport.build(&self.config.from) {
                Ok(t) => self.transport = Some(t),
                // Settings are validated before start; mails stay queued.
                Err(e) => tracing::error!(error = %e, "the mail transport could not be built"),
            }
        }
        ctx.run_interval(self.config.poll_interval, |act, ctx| act.pump(ctx));
        self.pump(ctx);
    }
}

impl Supervised for Mailer {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "mailer could not reload its queue");
        }
    }
}

fn check(mail: &Mail) -> Result<(), MailError> {
    if !transport::valid_recipient(&mail.to) {
        return Err(MailError::Invalid {
            field: "to",
            message: "not a mail address",
        });
    }
    if mail.subject.chars().any(char::is_control) || mail.subject.len() > 998 {
        return Err(MailError::Invalid {
            field: "subject",
            message: "at most 998 bytes without control characters",
        });
    }
    Ok(())
}

impl Handler<Enqueue> for Mailer {
    type Result = ResponseActFuture<Self, Result<uuid::Uuid, MailError>>;

    fn handle(&mut self, msg: Enqueue, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let record = QueuedMail {
            id: uuid::Uuid::now_v7(),
            mail: msg.0,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            state: MailState::Queued,
            last_error: None,
        };
        let id = record.id;
        let written =
            check(&record.mail).and_then(|()| self.store.put(&record).map_err(MailError::from));
        if let Err(e) = written {
            return Box::pin(fut::ready(Err(e)));
        }
        Box::pin(
            self.store
                .durable()
                .into_actor(self)
                .map(move |r, act, ctx| match r {
                    Ok(()) => {
                        act.queued.insert(id, record);
                        act.gauges();
                        act.pump(ctx);
                        Ok(id)
                    }
                    Err(e) => {
                        // Not acknowledged: it must not be sent either.
                        let _ = act.store.delete(&id);
                        Err(e.into())
                    }
                }),
        )
    }
}

impl Handler<Tick> for Mailer {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        self.pump(ctx);
    }
}

/// What an operator does with a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetter {
    /// Queue it again, as if new: its attempts start over.
    Retry,
    /// Drop it for good.
    Discard,
}

/// Retry or discard the dead letter `id`; answers `false` when there is no
/// such dead letter (a queued mail is left alone). Durable before it
/// answers.
#[derive(Message)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct HandleDeadLetter {
    pub id: uuid::Uuid,
    pub action: DeadLetter,
}

impl Handler<HandleDeadLetter> for Mailer {
    type Result = ResponseActFuture<Self, Result<bool, StoreError>>;
    fn handle(&mut self, msg: HandleDeadLetter, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let Some(mut m) = self
                .store
                .load_all()?
                .into_iter()
                .find(|m| m.id == msg.id && m.state == MailState::Dead)
            else {
                return Ok(None);
            };
            match msg.action {
                DeadLetter::Retry => {
                    m.state = MailState::Queued;
                    m.attempts = 0;
                    m.next_attempt_at = self.clock.now();
                    self.store.put(&m)?;
                }
                DeadLetter::Discard => self.store.delete(&m.id)?,
            }
            Ok(Some((m, self.store.durable())))
        })();
        Box::pin(
            async move {
                match write {
                    Ok(Some((m, durable))) => durable.await.map(|()| Some(m)),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            .into_actor(self)
            .map(move |r, act, ctx| {
                let m = r?;
                let Some(m) = m else { return Ok(false) };
                act.dead = act.dead.saturating_sub(1);
                if msg.action == DeadLetter::Retry {
                    act.queued.insert(m.id, m);
                    act.pump(ctx);
                }
                act.gauges();
                Ok(true)
            }),
        )
    }
}

impl Handler<ListMail> for Mailer {
    type Result = Result<Vec<QueuedMail>, StoreError>;
    fn handle(&mut self, _: ListMail, _: &mut Self::Context) -> Self::Result {
        self.store.load_all()
    }
}

#[cfg(test)]
mod tests;
