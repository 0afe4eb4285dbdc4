//! `KeyRotator`: owns the signing keys (current, next, retired-but-unexpired)
//! and publishes the current signer, the verifier set and the JWKS.
//!
//! Rotation promotes the pre-published *next* key to *current*, retires the
//! old current (it stays in the JWKS and verifier set until the last token it
//! signed has expired) and generates a new *next*. The whole change is one
//! atomic sled batch, flushed before it is published, so a crash mid-rotation
//! leaves either the old key set or the new one.

pub mod material;
pub mod storage;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use arc_swap::{ArcSwap, ArcSwapOption};
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::store::StoreError;
use material::{Jwk, Jwks};
pub use material::{JwtType, KeyAlg, KeyError, PublicJwk, Signer, VerifierSet};
pub use storage::{KeyStore, SledKeyStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Signs every new token.
    Current,
    /// No longer signs; verifies until `expires_at`.
    Retired,
}

/// A key as stored. The private key is PKCS#1 DER (RSA) or PKCS#8 v1 DER.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub alg: KeyAlg,
    pub state: KeyState,
    pub private_der: String,
    pub public: PublicJwk,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// After this instant no token signed by the key can be live.
    pub expires_at: Option<i64>,
}

/// What `keys list` and the admin API show of a key (never private parts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: KeyAlg,
    pub state: KeyState,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl From<&StoredKey> for KeyInfo {
    fn from(k: &StoredKey) -> Self {
        KeyInfo {
            kid: k.kid.clone(),
            alg: k.alg,
            state: k.state,
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            expires_at: k.expires_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub alg: KeyAlg,
    /// How long a key signs before the next one takes over (seconds).
    pub rotation_period: i64,
    /// How long a retired key stays verifiable: the longest lifetime of any
    /// token it may have signed, plus a margin (seconds).
    pub retire_after: i64,
}

/// The read view handlers use: current signer, verifiers, JWKS.
#[derive(Default)]
pub struct KeysView {
    signer: ArcSwapOption<Signer>,
    verifiers: ArcSwap<VerifierSet>,
    jwks: ArcSwap<Jwks>,
    /// When the current signing key took over (unix seconds; 0 = unknown).
    activated_at: AtomicI64,
}

impl KeysView {
    /// When the current signing key took over, if known.
    pub fn current_activated_at(&self) -> Option<i64> {
        match self.activated_at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }
    pub fn signer(&self) -> Option<Arc<Signer>> {
        self.signer.load_full()
    }
    pub fn verifiers(&self) -> Arc<VerifierSet> {
        self.verifiers.load_full()
    }
    pub fn jwks(&self) -> Arc<Jwks> {
        self.jwks.load_full()
    }
    pub fn is_ready(&self) -> bool {
        self.signer.load().is_some()
    }
}

/// The key set as a value, with the pure rotation logic.
struct KeySet {
    keys: Vec<StoredKey>,
}

impl KeySet {
    fn by_state(&self, s: KeyState) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.state == s)
    }
}

/// The keys a rotation changes: next becomes current, current retires,
/// and a new next is made.
fn rotated(
    keys: &[StoredKey],
    alg: KeyAlg,
    retire_after: i64,
    now: i64,
) -> Result<Vec<StoredKey>, RotateError> {
    let mut changed = Vec::new();
    for k in keys {
        let mut k = k.clone();
        match k.state {
            KeyState::Current => {
                k.state = KeyState::Retired;
                k.retired_at = Some(now);
                k.expires_at = Some(now.saturating_add(retire_after));
            }
            KeyState::Next => {
                k.state = KeyState::Current;
                k.activated_at = Some(now);
            }
            KeyState::Retired => continue,
        }
        changed.push(k);
    }
    changed.push(new_stored(alg, KeyState::Next, now)?);
    Ok(changed)
}

fn new_stored(alg: KeyAlg, state: KeyState, now: i64) -> Result<StoredKey, KeyError> {
    let g = material::generate(alg)?;
    Ok(StoredKey {
        kid: g.public.thumbprint(),
        alg,
        state,
        private_der: crate::secret::b64url(&g.private_der),
        public: g.public,
        created_at: now,
        activated_at: (state == KeyState::Current).then_some(now),
        retired_at: None,
        expires_at: None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct KeyRotator {
    cfg: KeyConfig,
    store: Box<dyn KeyStore>,
    clock: SharedClock,
    set: KeySet,
    view: Arc<KeysView>,
}

impl KeyRotator {
    /// Load the key set, creating a current and a next key on first start
    /// and replacing a next key of the wrong algorithm; publish it.
    pub fn open(
        cfg: KeyConfig,
        store: Box<dyn KeyStore>,
        clock: SharedClock,
        view: Arc<KeysView>,
    ) -> Result<KeyRotator, RotateError> {
        let mut r = KeyRotator {
            cfg,
            store,
            clock,
            set: KeySet { keys: Vec::new() },
            view,
        };
        r.reload()?;
        Ok(r)
    }

    fn reload(&mut self) -> Result<(), RotateError> {
        let now = self.clock.now();
        let alg = self.cfg.alg;
        self.set.keys = self.store.change(&mut |stored| {
            let mut keys = stored.to_vec();
            let mut upsert = Vec::new();
            let mut remove = Vec::new();
            if !keys.iter().any(|k| k.state == KeyState::Current) {
                // First start (or a next key that never got promoted):
                // promote a next key if there is one, otherwise generate.
                if let Some(k) = keys.iter_mut().find(|k| k.state == KeyState::Next) {
                    k.state = KeyState::Current;
                    k.activated_at = Some(now);
                    upsert.push(k.clone());
                } else {
                    upsert.push(new_stored(alg, KeyState::Current, now)?);
                }
            }
            match keys.iter().find(|k| k.state == KeyState::Next) {
                Some(n) if n.alg == alg && !upsert.iter().any(|u| u.kid == n.kid) => {}
                other => {
                    if let Some(n) = other {
                        if n.alg != alg {
                            remove.push(n.kid.clone());
                        }
                    }
                    upsert.push(new_stored(alg, KeyState::Next, now)?);
                }
            }
            Ok((upsert, remove))
        })?;
        self.publish()
    }

    /// The key set as stored now (another node changed it).
    fn refresh(&mut self) -> Result<(), RotateError> {
        self.set.keys = self.store.load()?;
        self.publish()
    }

    fn publish(&self) -> Result<(), RotateError> {
        let current = self
            .set
            .by_state(KeyState::Current)
            .ok_or_else(|| KeyError::Parse("no current key".into()))?;
        let der = crate::secret::b64url_decode(&current.private_der)
            .ok_or_else(|| KeyError::Parse("private key is not base64url".into()))?;
        let signer = Signer::new(&current.kid, current.alg, &der)?;
        let verifiers = VerifierSet::build(
            self.set
                .keys
                .iter()
                .map(|k| (k.kid.as_str(), k.alg, &k.public)),
        )?;
        let jwks = Jwks::new(
            self.set
                .keys
                .iter()
                .map(|k| Jwk {
                    public: k.public.clone(),
                    use_: "sig".into(),
                    kid: k.kid.clone(),
                    alg: k.alg.as_str().into(),
                })
                .collect(),
        );
        // Verifiers first: a token signed by the new signer must verify the
        // moment it can exist.
        self.view.verifiers.store(Arc::new(verifiers));
        self.view.jwks.store(Arc::new(jwks));
        self.view.signer.store(Some(Arc::new(signer)));
        metrics::gauge!("tessera_keys_published").set(self.set.keys.len() as f64);
        self.view
            .activated_at
            .store(current.activated_at.unwrap_or(0), Ordering::Relaxed);
        if let Some(at) = current.activated_at {
            metrics::gauge!("tessera_signing_key_activated_timestamp_seconds").set(at as f64);
        }
        Ok(())
    }

    /// Promote next → current, current → retired, generate a new next.
    fn rotate(&mut self) -> Result<Vec<KeyInfo>, RotateError> {
        let now = self.clock.now();
        let (alg, retire_after) = (self.cfg.alg, self.cfg.retire_after);
        self.set.keys = self
            .store
            .change(&mut |stored| Ok((rotated(stored, alg, retire_after, now)?, Vec::new())))?;
        self.publish()?;
        metrics::counter!("tessera_key_rotations_total").increment(1);
        tracing::info!(kid = ?self.set.by_state(KeyState::Current).map(|k| &k.kid), "signing key rotated");
        Ok(self.list())
    }

    /// Drop retired keys whose last token has expired; rotate when due.
    /// Decided again on the stored set, so of several nodes ticking at
    /// once one rotates and the others find it done.
    fn tick(&mut self) -> Result<(), RotateError> {
        let now = self.clock.now();
        let cfg = self.cfg.clone();
        let plan = |keys: &[StoredKey]| -> (Vec<String>, bool) {
            let expired = keys
                .iter()
                .filter(|k| k.state == KeyState::Retired && k.expires_at.is_some_and(|e| e <= now))
                .map(|k| k.kid.clone())
                .collect();
            let due = keys
                .iter()
                .find(|k| k.state == KeyState::Current)
                .and_then(|k| k.activated_at)
                .is_some_and(|at| now >= at.saturating_add(cfg.rotation_period));
            (expired, due)
        };
        let (expired, due) = plan(&self.set.keys);
        if expired.is_empty() && !due {
            return Ok(());
        }
        let mut rotated_now = false;
        self.set.keys = self.store.change(&mut |stored| {
            let (expired, due) = plan(stored);
            let kept: Vec<StoredKey> = stored
                .iter()
                .filter(|k| !expired.contains(&k.kid))
                .cloned()
                .collect();
            rotated_now = due;
            let upsert = if due {
                rotated(&kept, cfg.alg, cfg.retire_after, now)?
            } else {
                Vec::new()
            };
            Ok((upsert, expired))
        })?;
        self.publish()?;
        if rotated_now {
            metrics::counter!("tessera_key_rotations_total").increment(1);
            tracing::info!(kid = ?self.set.by_state(KeyState::Current).map(|k| &k.kid), "signing key rotated");
        }
        Ok(())
    }

    fn list(&self) -> Vec<KeyInfo> {
        let mut v: Vec<KeyInfo> = self.set.keys.iter().map(KeyInfo::from).collect();
        // Newest first; keys made in the same second (the first current and
        // next are) in a fixed order, so a reload lists them as before.
        let rank = |s: KeyState| match s {
            KeyState::Next => 0,
            KeyState::Current => 1,
            KeyState::Retired => 2,
        };
        v.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(rank(a.state).cmp(&rank(b.state)))
                .then(a.kid.cmp(&b.kid))
        });
        v
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(KeyRotator, "key_rotator");

impl Actor for KeyRotator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(30), |act, ctx| {
            if let Err(e) = act.tick() {
                tracing::error!(error = %e, "key rotation tick failed; restarting the key rotator");
                ctx.stop();
            }
        });
    }
}

impl Supervised for KeyRotator {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "key rotator could not reload its keys");
        }
    }
}

/// Rotate now.
#[derive(Message)]
#[rtype(result = "Result<Vec<KeyInfo>, RotateError>")]
pub struct Rotate;

/// List the key set.
#[derive(Message)]
#[rtype(result = "Vec<KeyInfo>")]
pub struct ListKeys;

/// Run the periodic maintenance now (expiry of retired keys, rotation when
/// due). Sent by the timer and by tests that move the clock.
#[derive(Message)]
#[rtype(result = "Result<(), RotateError>")]
pub struct Tick;

impl Handler<Rotate> for KeyRotator {
    type Result = Result<Vec<KeyInfo>, RotateError>;
    fn handle(&mut self, _: Rotate, _: &mut Self::Context) -> Self::Result {
        self.rotate()
    }
}

impl Handler<ListKeys> for KeyRotator {
    type Result = MessageResult<ListKeys>;
    fn handle(&mut self, _: ListKeys, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.list())
    }
}

impl Handler<Tick> for KeyRotator {
    type Result = Result<(), RotateError>;
    fn handle(&mut self, _: Tick, _: &mut Self::Context) -> Self::Result {
        self.tick()
    }
}

/// Key changes another node made, from the cluster's feed: the set is
/// read again whole (it is a handful of rows).
impl Handler<crate::cluster::Apply> for KeyRotator {
    type Result = ();
    fn handle(&mut self, msg: crate::cluster::Apply, ctx: &mut Self::Context) {
        if !msg
            .0
            .iter()
            .any(|c| c.table == crate::pg::tables::Table::Keys)
        {
            return;
        }
        if let Err(e) = self.refresh() {
            tracing::error!(error = %e, "the key set could not be read again; restarting the key rotator");
            ctx.stop();
        }
    }
}
