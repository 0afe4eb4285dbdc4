//! `Federation`: logins through upstream OpenID providers.
//!
//! Owns two things:
//! - the pending logins, in memory: one per `state` sent upstream (stored
//!   by the hash of `state`), bound to the browser by the hash of a cookie
//!   secret, expiring, taken at most once. Lost on restart, which only means
//!   a login in flight starts over.
//! - the links from an upstream subject (provider name and `sub`) to a local
//!   user, durable in their own tree and published as [`LinksView`], so the
//!   same upstream account maps to the same local user even after its
//!   e-mail changes.
//!
//! [`id_token`] verifies the upstream ID token.

pub mod id_token;
pub mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use dashmap::DashMap;

use crate::clock::SharedClock;
use crate::secret::{sha256, SecretHash};
use crate::store::StoreError;
use storage::link_key;
pub use storage::{FederationLink, FederationStore, SledFederationStore};

/// Most logins that may be in flight at once; more are refused until some
/// finish or expire (a flood of `/auth/openid` cannot grow memory).
pub const MAX_PENDING: usize = 50_000;

/// A login sent upstream and not yet back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PendingLogin {
    /// The configured provider name.
    pub provider: String,
    /// PKCE verifier for the code exchange.
    pub verifier: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// Where the browser goes once logged in (a local path).
    pub return_to: Option<String>,
    /// SHA-256 of the browser-binding cookie.
    pub binding: SecretHash,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("too many logins in progress")]
    Busy,
    #[error("unknown, used or expired state")]
    UnknownState,
    #[error("the state belongs to another browser")]
    WrongBrowser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Published links: `provider \0 sub` → local user id.
#[derive(Default)]
pub struct LinksView {
    map: DashMap<String, uuid::Uuid>,
}

impl LinksView {
    pub fn get(&self, provider: &str, subject: &str) -> Option<uuid::Uuid> {
        self.map.get(&link_key(provider, subject)).map(|v| *v)
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

pub struct Federation {
    store: Box<dyn FederationStore>,
    clock: SharedClock,
    links: Arc<LinksView>,
    pending: HashMap<SecretHash, PendingLogin>,
}

impl Federation {
    pub fn open(
        store: Box<dyn FederationStore>,
        clock: SharedClock,
        links: Arc<LinksView>,
    ) -> Result<Federation, StoreError> {
        let f = Federation {
            store,
            clock,
            links,
            pending: HashMap::new(),
        };
        f.reload()?;
        Ok(f)
    }

    fn reload(&self) -> Result<(), StoreError> {
        self.links.map.clear();
        for l in self.store.load_all()? {
            self.links
                .map
                .insert(link_key(&l.provider, &l.subject), l.user_id);
        }
        metrics::gauge!("tessera_federation_links").set(self.links.len() as f64);
        Ok(())
    }

    fn sweep(&mut self) {
        let now = self.clock.now();
        self.pending.retain(|_, p| p.expires_at > now);
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(Federation, "federation");

impl Actor for Federation {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(60), |a, _| a.sweep());
    }
}

impl Supervised for Federation {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "federation links could not reload");
        }
    }
}

/// Remember a login sent upstream under the hash of its `state`.
#[derive(Message)]
#[rtype(result = "Result<(), FederationError>")]
pub struct BeginLogin {
    pub state: String,
    pub login: PendingLogin,
}

impl Handler<BeginLogin> for Federation {
    type Result = Result<(), FederationError>;
    fn handle(&mut self, msg: BeginLogin, _: &mut Self::Context) -> Self::Result {
        if self.pending.len() >= MAX_PENDING {
            self.sweep();
            if self.pending.len() >= MAX_PENDING {
                return Err(FederationError::Busy);
            }
        }
        let key = sha256(msg.state.as_bytes());
        // Shared with the other nodes of a cluster: the callback may
        // reach any of them.
        self.store.put_pending(&key, &msg.login)?;
        self.pending.insert(key, msg.login);
        Ok(())
    }
}

/// Take the login of `state` (once), presented with the browser's binding
/// cookie. A wrong browser leaves the login in place: a stolen `state`
/// cannot be used, nor burn the victim's login.
#[derive(Message)]
#[rtype(result = "Result<PendingLogin, FederationError>")]
pub struct TakeLogin {
    pub state: String,
    pub binding: Option<String>,
}

impl Handler<TakeLogin> for Federation {
    type Result = Result<PendingLogin, FederationError>;
    fn handle(&mut self, msg: TakeLogin, _: &mut Self::Context) -> Self::Result {
        let key = sha256(msg.state.as_bytes());
        let now = self.clock.now();
        if !self.pending.contains_key(&key) {
            // Started on another node of a cluster.
            if let Some(p) = self.store.get_pending(&key)? {
                self.pending.insert(key, p);
            }
        }
        let (expired, bound) = match self.pending.get(&key) {
            None => return Err(FederationError::UnknownState),
            Some(p) => (
                p.expires_at <= now,
                msg.binding
                    .as_deref()
                    .is_some_and(|b| crate::secret::verify_secret(b, &p.binding)),
            ),
        };
        if expired {
            self.pending.remove(&key);
            return Err(FederationError::UnknownState);
        }
        if !bound {
            return Err(FederationError::WrongBrowser);
        }
        let login = self
            .pending
            .remove(&key)
            .ok_or(FederationError::UnknownState)?;
        // Once in the whole cluster: the node whose delete takes the row
        // wins; another node's copy is spent.
        if !self.store.take_pending(&key)? {
            return Err(FederationError::UnknownState);
        }
        Ok(login)
    }
}

/// Link an upstream subject to a local user (replacing any older link).
/// Durable and published before it answers.
#[derive(Message)]
#[rtype(result = "Result<(), FederationError>")]
pub struct Link {
    pub provider: String,
    pub subject: String,
    pub user_id: uuid::Uuid,
}

impl Handler<Link> for Federation {
    type Result = AtomicResponse<Self, Result<(), FederationError>>;
    fn handle(&mut self, msg: Link, _: &mut Self::Context) -> Self::Result {
        let key = link_key(&msg.provider, &msg.subject);
        let durable = self.store.put_durable(&FederationLink {
            provider: msg.provider,
            subject: msg.subject,
            user_id: msg.user_id,
        });
        let links = self.links.clone();
        AtomicResponse::new(Box::pin(
            async move {
                durable.await?;
                links.map.insert(key, msg.user_id);
                metrics::gauge!("tessera_federation_links").set(links.len() as f64);
                Ok(())
            }
            .into_actor(self),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn pending(binding: &str, expires_at: i64) -> PendingLogin {
        PendingLogin {
            provider: "up".into(),
            verifier: "v".into(),
            nonce: "n".into(),
            return_to: None,
            binding: sha256(binding.as_bytes()),
            expires_at,
        }
    }

    #[actix_rt::test]
    async fn pending_logins_are_single_use_bound_and_expiring() {
        let dir =
            std::env::temp_dir().join(format!("tessera-federation-test-{}", uuid::Uuid::new_v4()));
        let store = crate::store::Store::open(&dir).unwrap();
        let clock = ManualClock::default();
        let now = clock.now();
        let links = Arc::new(LinksView::default());
        let sled = || Box::new(SledFederationStore::new(&store).unwrap());
        let fed = Federation::open(sled(), Arc::new(clock.clone()), links.clone())
            .unwrap()
            .start();
        for (state, exp) in [("s1", now + 600), ("s2", now + 600), ("s3", now + 10)] {
            fed.send(BeginLogin {
                state: state.into(),
                login: pending("cookie", exp),
            })
            .await
            .unwrap()
            .unwrap();
        }
        let take = |state: &str, binding: Option<&str>| TakeLogin {
            state: state.into(),
            binding: binding.map(str::to_string),
        };
        // Another browser, or none: refused, and the login stays.
        assert!(matches!(
            fed.send(take("s1", Some("other"))).await.unwrap(),
            Err(FederationError::WrongBrowser)
        ));
        assert!(matches!(
            fed.send(take("s1", None)).await.unwrap(),
            Err(FederationError::WrongBrowser)
        ));
        let got = fed.send(take("s1", Some("cookie"))).await.unwrap().unwrap();
        assert_eq!(got.provider, "up");
        // Once only.
        assert!(matches!(
            fed.send(take("s1", Some("cookie"))).await.unwrap(),
            Err(FederationError::UnknownState)
        ));
        assert!(matches!(
            fed.send(take("nope", Some("cookie"))).await.unwrap(),
            Err(FederationError::UnknownState)
        ));
        clock.advance(11);
        assert!(matches!(
            fed.send(take("s3", Some("cookie"))).await.unwrap(),
            Err(FederationError::UnknownState)
        ));
        fed.send(take("s2", Some("cookie"))).await.unwrap().unwrap();

        // Links are durable: a reopened actor sees them.
        let user = uuid::Uuid::new_v4();
        fed.send(Link {
            provider: "up".into(),
            subject: "sub-1".into(),
            user_id: user,
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(links.get("up", "sub-1"), Some(user));
        assert_eq!(links.get("up", "sub-2"), None);
        assert_eq!(links.get("other", "sub-1"), None);
        let again = Arc::new(LinksView::default());
        Federation::open(sled(), Arc::new(clock), again.clone()).unwrap();
        assert_eq!(again.get("up", "sub-1"), Some(user));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Links other nodes made, from the cluster's feed.
impl Handler<crate::cluster::Apply> for Federation {
    type Result = ();
    fn handle(&mut self, msg: crate::cluster::Apply, _: &mut Self::Context) {
        for c in msg.0.iter() {
            if c.table != crate::pg::tables::Table::FederationLinks {
                continue;
            }
            match &c.payload {
                Some(v) => match storage::decode_link(&c.id, v) {
                    Ok(l) => {
                        self.links
                            .map
                            .insert(link_key(&l.provider, &l.subject), l.user_id);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a federation link from the feed could not be read")
                    }
                },
                None => {
                    if let Ok(k) = std::str::from_utf8(&c.id) {
                        self.links.map.remove(k);
                    }
                }
            }
        }
        metrics::gauge!("tessera_federation_links").set(self.links.len() as f64);
    }
}
