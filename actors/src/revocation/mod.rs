//! `RevocationList`: owns revoked token ids and revoked families (grants),
//! each kept until the latest expiry of anything it covers. A revocation is
//! acknowledged only after a durable, group-committed flush, and it reaches
//! the published set before the acknowledgement, so once a caller has its
//! answer no introspection anywhere in the process can see the token active.

pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::clock::SharedClock;
use dashmap::DashMap;

use crate::idmap::{new_map, IdMap};
use crate::store::StoreError;
pub use storage::{RevocationStore, SledRevocationStore};

/// The published revoked set: id → the instant after which it can be forgotten.
pub struct RevokedSet {
    map: IdMap<i64>,
    /// Subject → cutoff: every token of that subject issued at or before
    /// the cutoff is dead (password change, account deletion).
    subjects: DashMap<String, (i64, i64)>,
}

impl Default for RevokedSet {
    fn default() -> Self {
        RevokedSet {
            map: new_map(),
            subjects: DashMap::new(),
        }
    }
}

impl RevokedSet {
    /// Whether every token of `sub` issued at `iat` is revoked: issued in
    /// a second before the cutoff. (Tokens of the cutoff's own second that
    /// were live then are revoked one by one by `Engine::end_user_access`;
    /// ones issued after the change in that second stay good.)
    pub fn subject_revoked(&self, sub: &str, iat: i64) -> bool {
        !self.subjects.is_empty() && self.subjects.get(sub).is_some_and(|c| iat < c.0)
    }
    pub fn contains(&self, id: u128) -> bool {
        id != 0 && self.map.contains_key(&id)
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    fn insert(&self, id: u128, until: i64) {
        self.map
            .entry(id)
            .and_modify(|u| *u = (*u).max(until))
            .or_insert(until);
    }
}

pub struct RevocationList {
    store: Box<dyn RevocationStore>,
    clock: SharedClock,
    view: Arc<RevokedSet>,
    /// The cluster, when strict: a revocation is answered only once every
    /// live node applied it.
    strict: Option<crate::cluster::Cluster>,
}

impl RevocationList {
    pub fn open(
        store: Box<dyn RevocationStore>,
        clock: SharedClock,
        view: Arc<RevokedSet>,
    ) -> Result<Self, StoreError> {
        let r = RevocationList {
            store,
            clock,
            view,
            strict: None,
        };
        r.reload()?;
        Ok(r)
    }

    fn reload(&self) -> Result<(), StoreError> {
        for (id, until) in self.store.load()? {
            self.view.insert(id, until);
        }
        for (sub, cutoff, until) in self.store.load_subjects()? {
            self.view.subjects.insert(sub, (cutoff, until));
        }
        metrics::gauge!("tessera_revoked_entries").set(self.view.len() as f64);
        Ok(())
    }

    fn sweep(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let gone: Vec<u128> = self
            .view
            .map
            .iter()
            .filter(|e| *e.value() < now)
            .map(|e| *e.key())
            .collect();
        if !gone.is_empty() {
            self.store.remove(&gone)?;
            for id in &gone {
                self.view.map.remove_if(id, |_, until| *until < now);
            }
        }
        let subjects: Vec<String> = self
            .view
            .subjects
            .iter()
            .filter(|e| e.value().1 < now)
            .map(|e| e.key().clone())
            .collect();
        for sub in &subjects {
            self.store.remove_subject(sub)?;
            self.view.subjects.remove(sub);
        }
        metrics::gauge!("tessera_revoked_entries").set(self.view.len() as f64);
        Ok(gone.len() + subjects.len())
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(RevocationList, "revocation_list");

impl Actor for RevocationList {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            if let Err(e) = act.sweep() {
                tracing::error!(error = %e, "revocation sweep failed; restarting");
                ctx.stop();
            }
        });
    }
}

impl Supervised for RevocationList {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "revocation list could not reload");
        }
    }
}

/// Revoke ids (token ids or family ids), each remembered until `until`
/// (the latest expiry of what it covers). Answers once durable and visible.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Revoke(pub Vec<(u128, i64)>);

/// Revoke every token of a subject (a user id) issued before `cutoff`; remembered until `until` (when all of them have expired).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RevokeSubject {
    pub sub: String,
    pub cutoff: i64,
    pub until: i64,
}

impl Handler<RevokeSubject> for RevocationList {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: RevokeSubject, _: &mut Self::Context) -> Self::Result {
        let cutoff = self
            .view
            .subjects
            .get(&msg.sub)
            .map_or(msg.cutoff, |c| c.0.max(msg.cutoff));
        let until = self
            .view
            .subjects
            .get(&msg.sub)
            .map_or(msg.until, |c| c.1.max(msg.until));
        let written = self.store.put_subject(&msg.sub, cutoff, until);
        let durable = self.store.durable();
        let view = self.view.clone();
        let strict = self.strict.clone();
        Box::pin(async move {
            written?;
            durable.await?;
            view.subjects.insert(msg.sub, (cutoff, until));
            metrics::counter!("tessera_revocations_total").increment(1);
            settle(strict).await
        })
    }
}

/// In strict mode, wait until every live node has applied everything this
/// node committed so far (the revocation just made durable included).
async fn settle(strict: Option<crate::cluster::Cluster>) -> Result<(), StoreError> {
    match strict {
        Some(c) => {
            let seq = c.committed_seq();
            c.settle(seq).await
        }
        None => Ok(()),
    }
}

/// Make revocations strict (a cluster in strict mode).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseCluster(pub crate::cluster::Cluster);

impl Handler<UseCluster> for RevocationList {
    type Result = ();
    fn handle(&mut self, msg: UseCluster, _: &mut Self::Context) {
        self.strict = msg.0.strict().then_some(msg.0);
    }
}

/// Forget entries whose tokens have all expired. Answers how many went.
#[derive(Message)]
#[rtype(result = "Result<usize, StoreError>")]
pub struct Sweep;

impl Handler<Revoke> for RevocationList {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: Revoke, _: &mut Self::Context) -> Self::Result {
        let entries: Vec<(u128, i64)> = msg.0.into_iter().filter(|(id, _)| *id != 0).collect();
        let written = self.store.put(&entries);
        let durable = self.store.durable();
        let view = self.view.clone();
        let strict = self.strict.clone();
        Box::pin(async move {
            written?;
            durable.await?;
            // Adding to the set is idempotent and order-free, so concurrent
            // revocations may publish in any order.
            for (id, until) in &entries {
                view.insert(*id, *until);
            }
            metrics::counter!("tessera_revocations_total").increment(entries.len() as u64);
            settle(strict).await
        })
    }
}

impl Handler<Sweep> for RevocationList {
    type Result = Result<usize, StoreError>;
    fn handle(&mut self, _: Sweep, _: &mut Self::Context) -> Self::Result {
        self.sweep()
    }
}

/// Revocations other nodes made, from the cluster's feed. A deletion is
/// another node's sweep of an entry whose tokens have all expired.
impl Handler<crate::cluster::Apply> for RevocationList {
    type Result = ();
    fn handle(&mut self, msg: crate::cluster::Apply, _: &mut Self::Context) {
        use crate::pg::tables::Table;
        for c in msg.0.iter() {
            let applied = match (c.table, &c.payload) {
                (Table::Revoked, Some(v)) => <[u8; 16]>::try_from(c.id.as_slice())
                    .map_err(|_| StoreError::Decode("revocation key is not 16 bytes".into()))
                    .and_then(|k| {
                        let until: i64 = crate::store::decode(v)?;
                        self.view.insert(u128::from_be_bytes(k), until);
                        Ok(())
                    }),
                (Table::Revoked, None) => {
                    if let Ok(k) = <[u8; 16]>::try_from(c.id.as_slice()) {
                        let now = self.clock.now();
                        self.view
                            .map
                            .remove_if(&u128::from_be_bytes(k), |_, until| *until < now);
                    }
                    Ok(())
                }
                (Table::RevokedSubjects, Some(v)) => String::from_utf8(c.id.clone())
                    .map_err(|_| StoreError::Decode("subject is not UTF-8".into()))
                    .and_then(|sub| {
                        let (cutoff, until): (i64, i64) = crate::store::decode(v)?;
                        let merged = self
                            .view
                            .subjects
                            .get(&sub)
                            .map_or((cutoff, until), |c| (c.0.max(cutoff), c.1.max(until)));
                        self.view.subjects.insert(sub, merged);
                        Ok(())
                    }),
                (Table::RevokedSubjects, None) => {
                    if let Ok(sub) = std::str::from_utf8(&c.id) {
                        let now = self.clock.now();
                        self.view.subjects.remove_if(sub, |_, v| v.1 < now);
                    }
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = applied {
                tracing::error!(error = %e, "a revocation from the feed could not be applied");
            }
        }
        metrics::gauge!("tessera_revoked_entries").set(self.view.len() as f64);
    }
}
