//! `SessionRegistry`: owns browser sessions (and logins waiting for their
//! second factor). The cookie holds a 256-bit secret; only its SHA-256 is
//! kept. Sessions have an idle timeout, pushed out by activity or `Extend`,
//! bounded by an absolute lifetime. Publishes a view keyed by the cookie
//! hash so every request resolves its session without a message.

pub mod messages;
pub mod record;
pub mod storage;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::clock::SharedClock;
use crate::secret::{self, prefix};
use crate::store::StoreError;
pub use messages::{
    AddClient, Close, CloseAllForUser, CompleteMfa, Extend, MergeBucket, Open, Rotate,
    SessionsEnded, SweepSessions, Touch,
};
pub use record::{
    Device, EndedSession, NameVersion, Session, SessionClient, SessionState, UserAgent,
};
pub use storage::{SessionStore, SledSessionStore};
pub use view::SessionsView;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Seconds of inactivity after which a session ends.
    pub idle_timeout: i64,
    /// Seconds after creation after which a session ends regardless.
    pub absolute_lifetime: i64,
    /// Seconds a password-verified login may wait for its second factor.
    pub mfa_timeout: i64,
}

/// Largest bucket, serialised.
pub const MAX_BUCKET_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such session")]
    NotFound,
    #[error("the session bucket would exceed 16 KiB")]
    BucketTooLarge,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a message changed: its answer, sessions to publish, ids to drop.
type Change<T> = (T, Vec<Arc<Session>>, Vec<uuid::Uuid>);

pub struct SessionRegistry {
    cfg: SessionConfig,
    store: Box<dyn SessionStore>,
    clock: SharedClock,
    view: Arc<SessionsView>,
    /// Told of every session that ends while clients hold it.
    ended_to: Option<Recipient<SessionsEnded>>,
    /// Sessions a message is ending, told before its answer.
    ending: Vec<EndedSession>,
}

/// Most clients recorded in one session.
pub const MAX_SESSION_CLIENTS: usize = 64;

impl SessionRegistry {
    pub fn open(
        cfg: SessionConfig,
        store: Box<dyn SessionStore>,
        clock: SharedClock,
        view: Arc<SessionsView>,
    ) -> Result<Self, StoreError> {
        let r = SessionRegistry {
            cfg,
            store,
            clock,
            view,
            ended_to: None,
            ending: Vec::new(),
        };
        r.reload()?;
        Ok(r)
    }

    /// Tell `to` of every session that ends while clients hold it.
    pub fn tell_ended(mut self, to: Recipient<SessionsEnded>) -> Self {
        self.ended_to = Some(to);
        self
    }

    /// Note that the stored session `id` is ending (its clients are told).
    fn ending(&mut self, id: &uuid::Uuid) {
        if let Some(e) = self.view.get(id).and_then(|s| s.ended()) {
            self.ending.push(e);
        }
    }

    fn reload(&self) -> Result<(), StoreError> {
        self.view.clear();
        let now = self.clock.now();
        for s in self.store.load_all()? {
            if s.is_live(now) {
                self.view.publish(Arc::new(s));
            }
        }
        Ok(())
    }

    fn write(&self, s: &Session) -> Result<(), SessionError> {
        self.store.put(s)?;
        Ok(())
    }

    fn remove(&self, id: &uuid::Uuid) -> Result<(), SessionError> {
        self.store.delete(id)?;
        Ok(())
    }

    fn live(&self, id: &uuid::Uuid) -> Result<Session, SessionError> {
        let s = self.view.get(id).ok_or(SessionError::NotFound)?;
        if !s.is_live(self.clock.now()) {
            return Err(SessionError::NotFound);
        }
        Ok((*s).clone())
    }

    /// Persist durably, then publish; the actor handles nothing else until
    /// then, so the view sees this session's changes in order.
    fn commit<T: 'static>(
        &mut self,
        write: Result<Change<T>, SessionError>,
    ) -> AtomicResponse<Self, Result<T, SessionError>> {
        let durable = self.store.durable();
        let view = self.view.clone();
        let ended = std::mem::take(&mut self.ending);
        let tell = match (&self.ended_to, ended.is_empty()) {
            (Some(to), false) => Some((to.clone(), ended)),
            _ => None,
        };
        AtomicResponse::new(Box::pin(
            async move {
                let (out, publish, unpublish) = write?;
                // The clients' news is durable before the session's end is:
                // a crash in between tells them of a session still alive
                // rather than forgetting to.
                if let Some((to, ended)) = tell {
                    match to.send(SessionsEnded(ended)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "back-channel logouts could not be queued")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "back-channel logouts could not be queued")
                        }
                    }
                }
                durable.await?;
                for id in &unpublish {
                    view.unpublish(id);
                }
                for s in publish {
                    view.publish(s);
                }
                metrics::gauge!("tessera_sessions_active").set(view.len() as f64);
                Ok(out)
            }
            .into_actor(self),
        ))
    }

    fn sweep(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let dead = self.view.dead(now);
        let ended: Vec<EndedSession> = dead
            .iter()
            .filter_map(|id| self.view.get(id).and_then(|s| s.ended()))
            .collect();
        if let (Some(to), false) = (&self.ended_to, ended.is_empty()) {
            to.do_send(SessionsEnded(ended));
        }
        for id in &dead {
            self.store.delete(id)?;
            self.view.unpublish(id);
        }
        metrics::gauge!("tessera_sessions_active").set(self.view.len() as f64);
        Ok(dead.len())
    }

    fn new_session(&self, o: &Open) -> (Session, String) {
        let now = self.clock.now();
        let secret = secret::new_secret(prefix::SESSION);
        let pending = o.pending_mfa;
        let s = Session {
            id: uuid::Uuid::new_v4(),
            key: secret::token_key(&secret),
            user_id: o.user_id,
            state: if pending {
                SessionState::PendingMfa
            } else {
                SessionState::Active
            },
            created_at: now,
            last_seen_at: now,
            expires_at: now
                + if pending {
                    self.cfg.mfa_timeout
                } else {
                    self.cfg.idle_timeout
                },
            absolute_expires_at: now
                + if pending {
                    self.cfg.mfa_timeout
                } else {
                    self.cfg.absolute_lifetime
                },
            auth_time: now,
            amr: o.amr.clone(),
            ip: o.ip.clone(),
            user_agent: o.user_agent.clone(),
            application_id: o.application_id.clone(),
            bucket: serde_json::Map::new(),
            clients: Vec::new(),
        };
        (s, secret)
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(SessionRegistry, "session_registry");

impl Actor for SessionRegistry {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            if let Err(e) = act.sweep() {
                tracing::error!(error = %e, "session sweep failed; restarting");
                ctx.stop();
            }
        });
    }
}

impl Supervised for SessionRegistry {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "session registry could not reload");
        }
    }
}

impl Handler<Open> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<(Arc<Session>, String), SessionError>>;
    fn handle(&mut self, msg: Open, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let (s, secret) = self.new_session(&msg);
            self.write(&s)?;
            let mut gone = Vec::new();
            if let Some(old) = msg.replaces {
                self.ending(&old);
                self.remove(&old)?;
                gone.push(old);
            }
            let s = Arc::new(s);
            Ok(((s.clone(), secret), vec![s], gone))
        })();
        self.commit(write)
    }
}

impl Handler<CompleteMfa> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<(Arc<Session>, String), SessionError>>;
    fn handle(&mut self, msg: CompleteMfa, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let pending = self.live(&msg.id)?;
            if pending.state != SessionState::PendingMfa {
                return Err(SessionError::NotFound);
            }
            let mut amr = pending.amr.clone();
            amr.extend(msg.amr);
            let open = Open {
                user_id: pending.user_id,
                amr,
                ip: pending.ip.clone(),
                user_agent: pending.user_agent.clone(),
                application_id: pending.application_id.clone(),
                pending_mfa: false,
                replaces: Some(pending.id),
            };
            let (s, secret) = self.new_session(&open);
            self.write(&s)?;
            self.remove(&pending.id)?;
            let s = Arc::new(s);
            Ok(((s.clone(), secret), vec![s], vec![pending.id]))
        })();
        self.commit(write)
    }
}

impl Handler<Touch> for SessionRegistry {
    type Result = ();
    fn handle(&mut self, msg: Touch, _: &mut Self::Context) {
        let now = self.clock.now();
        let Ok(mut s) = self.live(&msg.0) else { return };
        if s.state != SessionState::Active || now - s.last_seen_at < 60 {
            return;
        }
        s.last_seen_at = now;
        s.expires_at = (now + self.cfg.idle_timeout).min(s.absolute_expires_at);
        // Not awaited: losing a touch in a crash only shortens a session.
        if self.write(&s).is_ok() {
            self.view.publish(Arc::new(s));
        }
    }
}

impl Handler<Extend> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<Arc<Session>, SessionError>>;
    fn handle(&mut self, msg: Extend, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now();
        let idle = self.cfg.idle_timeout;
        let write = (|| {
            let mut s = self.live(&msg.0)?;
            s.last_seen_at = now;
            s.expires_at = (now + idle).min(s.absolute_expires_at);
            self.write(&s)?;
            let s = Arc::new(s);
            Ok((s.clone(), vec![s], vec![]))
        })();
        self.commit(write)
    }
}

impl Handler<Rotate> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<(Arc<Session>, String), SessionError>>;
    fn handle(&mut self, msg: Rotate, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let old = self.live(&msg.0)?;
            let secret = secret::new_secret(prefix::SESSION);
            let mut s = old.clone();
            s.id = uuid::Uuid::new_v4();
            s.key = secret::token_key(&secret);
            s.last_seen_at = self.clock.now();
            self.write(&s)?;
            self.remove(&old.id)?;
            let s = Arc::new(s);
            Ok(((s.clone(), secret), vec![s], vec![old.id]))
        })();
        self.commit(write)
    }
}

impl Handler<Close> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<(), SessionError>>;
    fn handle(&mut self, msg: Close, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            if self.view.get(&msg.0).is_none() {
                return Err(SessionError::NotFound);
            }
            self.ending(&msg.0);
            self.remove(&msg.0)?;
            Ok(((), vec![], vec![msg.0]))
        })();
        self.commit(write)
    }
}

impl Handler<CloseAllForUser> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<usize, SessionError>>;
    fn handle(&mut self, msg: CloseAllForUser, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let ids: Vec<uuid::Uuid> = self
                .view
                .of_user(&msg.user_id)
                .into_iter()
                .map(|s| s.id)
                .filter(|id| Some(*id) != msg.except)
                .collect();
            for id in &ids {
                self.ending(id);
                self.remove(id)?;
            }
            Ok((ids.len(), vec![], ids))
        })();
        self.commit(write)
    }
}

impl Handler<AddClient> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<(), SessionError>>;
    fn handle(&mut self, msg: AddClient, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let mut s = self.live(&msg.id)?;
            let sid = s.id;
            match s.clients.iter_mut().find(|c| c.client_id == msg.client_id) {
                // Known with this sid: nothing to write.
                Some(c) if c.sid == sid => return Ok(((), vec![], vec![])),
                // Known from before a rotation: its newest ID tokens carry this sid.
                Some(c) => c.sid = sid,
                None => {
                    if s.clients.len() >= MAX_SESSION_CLIENTS {
                        // The oldest is forgotten: a session is rarely this wide.
                        s.clients.remove(0);
                    }
                    s.clients.push(SessionClient {
                        client_id: msg.client_id,
                        sid,
                    });
                }
            }
            self.write(&s)?;
            let s = Arc::new(s);
            Ok(((), vec![s], vec![]))
        })();
        self.commit(write)
    }
}

impl Handler<MergeBucket> for SessionRegistry {
    type Result = AtomicResponse<Self, Result<Arc<Session>, SessionError>>;
    fn handle(&mut self, msg: MergeBucket, _: &mut Self::Context) -> Self::Result {
        let write = (|| {
            let mut s = self.live(&msg.id)?;
            let mut merged: HashMap<String, serde_json::Value> =
                s.bucket.clone().into_iter().collect();
            for (k, v) in msg.patch {
                if v.is_null() {
                    merged.remove(&k);
                } else {
                    merged.insert(k, v);
                }
            }
            let bucket: serde_json::Map<String, serde_json::Value> = merged.into_iter().collect();
            if serde_json::to_vec(&bucket).map_or(usize::MAX, |b| b.len()) > MAX_BUCKET_BYTES {
                return Err(SessionError::BucketTooLarge);
            }
            s.bucket = bucket;
            self.write(&s)?;
            let s = Arc::new(s);
            Ok((s.clone(), vec![s], vec![]))
        })();
        self.commit(write)
    }
}

impl Handler<SweepSessions> for SessionRegistry {
    type Result = Result<usize, StoreError>;
    fn handle(&mut self, _: SweepSessions, _: &mut Self::Context) -> Self::Result {
        self.sweep()
    }
}

/// Sessions other nodes opened, changed or ended, from the cluster's feed.
impl Handler<crate::cluster::Apply> for SessionRegistry {
    type Result = ();
    fn handle(&mut self, msg: crate::cluster::Apply, _: &mut Self::Context) {
        let now = self.clock.now();
        for c in msg.0.iter() {
            if c.table != crate::pg::tables::Table::Sessions {
                continue;
            }
            match &c.payload {
                Some(v) => match crate::store::decode::<Session>(v) {
                    Ok(s) if s.is_live(now) => self.view.publish(Arc::new(s)),
                    Ok(s) => self.view.unpublish(&s.id),
                    Err(e) => {
                        tracing::error!(error = %e, "a session from the feed could not be read")
                    }
                },
                None => {
                    if let Ok(id) = uuid::Uuid::from_slice(&c.id) {
                        self.view.unpublish(&id);
                    }
                }
            }
        }
        metrics::gauge!("tessera_sessions_active").set(self.view.len() as f64);
    }
}
