//! `AuditLog`: the record of what administrators did — who (an actor name,
//! and whether through the admin API, the console or the CLI), from where,
//! what (a dotted action such as `client.secret.rotate`), to what, when, on
//! which node, and whether it was done or refused.
//!
//! - **Durable before the answer.** [`Record`] answers once the record is
//!   flushed (sled) or committed (PostgreSQL, through the group committer);
//!   an administrator's operation answers only after that.
//! - **Time-ordered ids.** An id is the record's time in microseconds
//!   (big-endian, so key order is time order) and 8 random bytes: the
//!   nodes of a cluster each write their own rows into one table without
//!   coordinating, and a listing reads them newest first by key.
//! - **Bounded.** Records older than `keep_days`, and all but the newest
//!   `keep_rows`, are swept at start and every `sweep_every`.
//! - Nothing keeps the log in memory: a listing reads the store, a page at
//!   a time, with a cursor (the last id seen).

pub mod pg;
pub mod storage;

use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::store::{decode, encode, StoreError};
pub use pg::PgAuditStore;
pub use storage::{AuditStore, SledAuditStore};

/// Through what an administrator acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The JSON admin API, with the admin token.
    Api,
    /// The admin console in a browser.
    Console,
    /// The `tessera` command on the server's machine.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Console => "console",
            Via::Cli => "cli",
        }
    }
}

/// Whether the action was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Not done: the input was refused, the target did not exist, or the
    /// store could not take it. `detail` says why, briefly.
    Refused,
}

/// What a caller records; the owner adds the id, the time and the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: String,
    pub via: Via,
    pub ip: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// One record as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 32 hex digits; ordered as the records' times are.
    pub id: String,
    /// Unix seconds (engine clock).
    pub at: i64,
    /// The node that did it (the cluster's node id, else the host name).
    pub node: String,
    pub actor: String,
    pub via: Via,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Most bytes of a free-text field kept in a record (a longer one is cut
/// at a character boundary).
const MAX_FIELD: usize = 512;

fn clip(s: String) -> String {
    if s.len() <= MAX_FIELD {
        return s;
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// A record's key: microseconds (big-endian) then 8 random bytes.
pub type AuditKey = [u8; 16];

pub fn key_hex(k: &AuditKey) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(32);
    for b in k {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A cursor or record id back into a key; `None` unless 32 hex digits.
pub fn parse_key(s: &str) -> Option<AuditKey> {
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut k = [0u8; 16];
    for (i, slot) in k.iter_mut().enumerate() {
        *slot = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(k)
}

/// A key of `micros` (big-endian) then `tail`.
fn make_key(micros: u64, tail: [u8; 8]) -> AuditKey {
    let mut k = [0u8; 16];
    for (slot, b) in k
        .iter_mut()
        .zip(micros.to_be_bytes().into_iter().chain(tail))
    {
        *slot = b;
    }
    k
}

/// The smallest key at or after `secs`.
fn key_at(secs: i64) -> AuditKey {
    let micros = u64::try_from(secs.max(0))
        .unwrap_or(0)
        .saturating_mul(1_000_000);
    make_key(micros, [0; 8])
}

#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// This node's name in its records.
    pub node: String,
    /// Records older than this many days are deleted (0: kept by age).
    pub keep_days: u32,
    /// At most this many records are kept, the newest (0: no bound).
    pub keep_rows: u64,
    /// How often the retention sweep runs.
    pub sweep_every: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            node: "local".into(),
            keep_days: 90,
            keep_rows: 1_000_000,
            sweep_every: Duration::from_secs(600),
        }
    }
}

/// Write one record; answers it once durable.
#[derive(Message)]
#[rtype(result = "Result<AuditRecord, StoreError>")]
pub struct Record(pub AuditEntry);

/// A page of the log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only records older than this one (the previous page's `next`).
    pub before: Option<AuditKey>,
    /// At most this many (1-500; the default is 50).
    pub limit: usize,
    /// Only this actor's records.
    pub actor: Option<String>,
    /// Only this action, or the actions under it (`client` matches
    /// `client.create` and `client.secret.rotate`).
    pub action: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Where the next page starts, if there may be one.
    pub next: Option<String>,
}

#[derive(Message)]
#[rtype(result = "Result<AuditPage, StoreError>")]
pub struct ListAudit(pub AuditQuery);

/// Apply the retention bounds now; answers how many records went.
#[derive(Message)]
#[rtype(result = "Result<u64, StoreError>")]
pub struct SweepAudit;

/// Rows read from the store per step of a listing.
const SCAN_STEP: usize = 500;
/// Most rows one listing reads while filtering: a filter matching little
/// answers a short page with a cursor rather than reading the whole log.
const SCAN_MAX: usize = 20_000;

impl AuditQuery {
    fn matches(&self, r: &AuditRecord) -> bool {
        self.actor.as_deref().is_none_or(|a| r.actor == a)
            && self.action.as_deref().is_none_or(|a| {
                r.action == a
                    || r.action
                        .strip_prefix(a)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

pub struct AuditLog {
    config: AuditConfig,
    store: Box<dyn AuditStore>,
    clock: SharedClock,
    /// The last key's time, so this node's keys only grow.
    last_micros: u64,
}

impl AuditLog {
    pub fn open(
        config: AuditConfig,
        store: Box<dyn AuditStore>,
        clock: SharedClock,
    ) -> Result<Self, StoreError> {
        Ok(AuditLog {
            config,
            store,
            clock,
            last_micros: 0,
        })
    }

    fn next_key(&mut self, at: i64) -> AuditKey {
        let sub = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_micros()))
            .unwrap_or(0);
        let micros = u64::try_from(at.max(0))
            .unwrap_or(0)
            .saturating_mul(1_000_000)
            .saturating_add(sub)
            .max(self.last_micros.saturating_add(1));
        self.last_micros = micros;
        // The low half of a random UUID: no two nodes' keys collide.
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        make_key(micros, random.to_be_bytes())
    }

    fn sweep(&self) -> Result<u64, StoreError> {
        let before = (self.config.keep_days > 0).then(|| {
            key_at(
                self.clock
                    .now()
                    .saturating_sub(i64::from(self.config.keep_days) * 86_400),
            )
        });
        let keep = (self.config.keep_rows > 0).then_some(self.config.keep_rows);
        let n = self.store.sweep(before, keep)?;
        if n > 0 {
            metrics::counter!("tessera_audit_swept_total").increment(n);
            tracing::info!(records = n, "audit log records past retention deleted");
        }
        Ok(n)
    }

    fn list(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = if q.limit == 0 { 50 } else { q.limit.min(500) };
        let mut out = Vec::new();
        let mut cursor = q.before;
        let mut scanned = 0usize;
        loop {
            let rows = self.store.page(cursor, SCAN_STEP)?;
            let exhausted = rows.len() < SCAN_STEP;
            for (k, v) in rows {
                scanned += 1;
                cursor = Some(k);
                let rec: AuditRecord = decode(&v)?;
                if q.matches(&rec) {
                    out.push(rec);
                    if out.len() == limit {
                        return Ok(AuditPage {
                            records: out,
                            next: Some(key_hex(&k)),
                        });
                    }
                }
            }
            if exhausted {
                return Ok(AuditPage {
                    records: out,
                    next: None,
                });
            }
            if scanned >= SCAN_MAX {
                return Ok(AuditPage {
                    records: out,
                    next: cursor.as_ref().map(key_hex),
                });
            }
        }
    }
}

crate::timing::timed_actor!(AuditLog, "audit");

impl Actor for AuditLog {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        if let Err(e) = self.sweep() {
            tracing::warn!(error = %e, "audit log sweep failed");
        }
        ctx.run_interval(self.config.sweep_every, |me, _| {
            if let Err(e) = me.sweep() {
                tracing::warn!(error = %e, "audit log sweep failed");
            }
        });
    }
}

impl Supervised for AuditLog {}

impl Handler<Record> for AuditLog {
    type Result = ResponseFuture<Result<AuditRecord, StoreError>>;
    fn handle(&mut self, msg: Record, _: &mut Self::Context) -> Self::Result {
        let e = msg.0;
        let at = self.clock.now();
        let key = self.next_key(at);
        let rec = AuditRecord {
            id: key_hex(&key),
            at,
            node: self.config.node.clone(),
            actor: clip(e.actor),
            via: e.via,
            ip: e.ip.map(clip),
            action: clip(e.action),
            target: e.target.map(clip),
            outcome: e.outcome,
            detail: e.detail.map(clip),
        };
        let durable = encode(&rec).map(|v| self.store.write(key, v));
        Box::pin(async move {
            durable?.await?;
            metrics::counter!("tessera_audit_records_total", "outcome" => match rec.outcome {
                Outcome::Ok => "ok",
                Outcome::Refused => "refused",
            })
            .increment(1);
            Ok(rec)
        })
    }
}

impl Handler<ListAudit> for AuditLog {
    type Result = Result<AuditPage, StoreError>;
    fn handle(&mut self, msg: ListAudit, _: &mut Self::Context) -> Self::Result {
        self.list(&msg.0)
    }
}

impl Handler<SweepAudit> for AuditLog {
    type Result = Result<u64, StoreError>;
    fn handle(&mut self, _: SweepAudit, _: &mut Self::Context) -> Self::Result {
        self.sweep()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_and_order_by_time() {
        let a = key_at(100);
        let b = key_at(101);
        assert!(a < b);
        assert_eq!(&a[..8], &100_000_000u64.to_be_bytes());
        assert_eq!(&a[8..], &[0u8; 8]);
        assert_eq!(parse_key(&key_hex(&b)), Some(b));
        assert_eq!(parse_key("zz"), None);
        assert_eq!(parse_key(&"g".repeat(32)), None);
    }

    #[test]
    fn an_action_filter_matches_the_action_and_those_under_it() {
        let q = AuditQuery {
            action: Some("client".into()),
            ..AuditQuery::default()
        };
        let rec = |action: &str| AuditRecord {
            id: String::new(),
            at: 0,
            node: String::new(),
            actor: "a".into(),
            via: Via::Api,
            ip: None,
            action: action.into(),
            target: None,
            outcome: Outcome::Ok,
            detail: None,
        };
        assert!(q.matches(&rec("client")));
        assert!(q.matches(&rec("client.secret.rotate")));
        assert!(!q.matches(&rec("clients.x")));
        assert!(!q.matches(&rec("user.roles.set")));
    }

    #[test]
    fn long_fields_are_cut_at_a_character_boundary() {
        let s = "é".repeat(400);
        let c = clip(s);
        assert!(c.len() <= MAX_FIELD);
        assert!(c.chars().all(|ch| ch == 'é'));
    }
}
