//! `TokenIssuer`: owns the records of every token tessera issues and
//! publishes the token index introspection reads.
//!
//! A record is keyed by the first 128 bits of SHA-256 of the token string,
//! so lookups need no signature check and a forged token never matches.
//! Records that share client, subject, scope and audience share one
//! interned `Grant`, which keeps a resident token near 100 bytes.

pub mod index;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::store::{self, trees, Store, StoreError};
pub use index::{Grant, TokenIndex, TokenKind, TokenRecord};

/// A token as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    jti: u128,
    family: u128,
    iat: i64,
    exp: i64,
    kind: TokenKind,
    grant: Grant,
}

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub key: u128,
    pub jti: u128,
    pub family: u128,
    pub iat: i64,
    pub exp: i64,
    pub kind: TokenKind,
    pub grant: Grant,
}

/// Persistence of token records: the only writer is `TokenIssuer`.
pub trait TokenStore: Send + 'static {
    fn load(&self, now: i64) -> Result<Vec<(u128, NewToken)>, StoreError>;
    fn put(&self, tokens: &[NewToken]) -> Result<(), StoreError>;
    fn remove(&self, keys: &[u128]) -> Result<(), StoreError>;
    fn durable(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send>>;
}

pub struct SledTokenStore {
    tree: sled::Tree,
    store: Store,
}

impl SledTokenStore {
    pub fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(SledTokenStore {
            tree: store.tree(trees::TOKENS)?,
            store: store.clone(),
        })
    }
}

impl TokenStore for SledTokenStore {
    fn load(&self, now: i64) -> Result<Vec<(u128, NewToken)>, StoreError> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let key: [u8; 16] = k
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Decode("token key is not 16 bytes".into()))?;
            let key = u128::from_be_bytes(key);
            let t: StoredToken = store::decode(&v)?;
            if t.exp <= now {
                expired.push(key);
                continue;
            }
            out.push((
                key,
                NewToken {
                    key,
                    jti: t.jti,
                    family: t.family,
                    iat: t.iat,
                    exp: t.exp,
                    kind: t.kind,
                    grant: t.grant,
                },
            ));
        }
        self.remove(&expired)?;
        Ok(out)
    }
    fn put(&self, tokens: &[NewToken]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for t in tokens {
            let st = StoredToken {
                jti: t.jti,
                family: t.family,
                iat: t.iat,
                exp: t.exp,
                kind: t.kind,
                grant: t.grant.clone(),
            };
            batch.insert(&t.key.to_be_bytes(), store::encode(&st)?);
        }
        Ok(self.tree.apply_batch(batch)?)
    }
    fn remove(&self, keys: &[u128]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(&k.to_be_bytes());
        }
        Ok(self.tree.apply_batch(batch)?)
    }
    fn durable(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send>> {
        let store = self.store.clone();
        Box::pin(async move { store.durable().await })
    }
}

pub struct TokenIssuer {
    store: Box<dyn TokenStore>,
    clock: SharedClock,
    index: Arc<TokenIndex>,
    grants: HashMap<Grant, Arc<Grant>>,
}

impl TokenIssuer {
    pub fn open(store: Box<dyn TokenStore>, clock: SharedClock, index: Arc<TokenIndex>) -> Result<Self, StoreError> {
        let mut t = TokenIssuer {
            store,
            clock,
            index,
            grants: HashMap::new(),
        };
        t.reload()?;
        Ok(t)
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let now = self.clock.now();
        for (key, t) in self.store.load(now)? {
            let rec = self.record_of(t);
            self.index.insert(key, rec);
        }
        metrics::gauge!("tessera_tokens_live").set(self.index.len() as f64);
        Ok(())
    }

    fn intern(&mut self, g: Grant) -> Arc<Grant> {
        if let Some(a) = self.grants.get(&g) {
            return a.clone();
        }
        let a = Arc::new(g.clone());
        self.grants.insert(g, a.clone());
        a
    }

    fn record_of(&mut self, t: NewToken) -> TokenRecord {
        TokenRecord {
            jti: t.jti,
            family: t.family,
            iat: t.iat,
            exp: t.exp,
            kind: t.kind,
            grant: self.intern(t.grant),
        }
    }

    /// Record tokens in the index without persisting them: for seeding a
    /// benchmark with a million resident tokens, and for tokens that are
    /// self-verifying anyway.
    pub fn insert_unpersisted(&mut self, tokens: Vec<NewToken>) {
        for t in tokens {
            let key = t.key;
            let rec = self.record_of(t);
            self.index.insert(key, rec);
        }
    }

    fn sweep(&mut self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let gone = self.index.expired(now);
        self.store.remove(&gone)?;
        for k in &gone {
            self.index.remove_expired(*k, now);
        }
        // Drop interned grants no live token refers to any more.
        self.grants.retain(|_, g| Arc::strong_count(g) > 1);
        metrics::gauge!("tessera_tokens_live").set(self.index.len() as f64);
        Ok(gone.len())
    }
}

impl Actor for TokenIssuer {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(60), |act, ctx| {
            if let Err(e) = act.sweep() {
                tracing::error!(error = %e, "token sweep failed; restarting");
                ctx.stop();
            }
        });
    }
}

impl Supervised for TokenIssuer {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "token issuer could not reload");
        }
    }
}

/// Record issued tokens. With `durable`, answers only once they are on disk
/// (opaque tokens exist nowhere else); otherwise sled's periodic flush
/// persists them (a JWT verifies by signature if its record is lost).
#[derive(Message, Debug)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Record {
    pub tokens: Vec<NewToken>,
    pub durable: bool,
}

/// Record tokens in memory only (bench seeding).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RecordUnpersisted(pub Vec<NewToken>);

/// Drop expired records now. Answers how many went.
#[derive(Message)]
#[rtype(result = "Result<usize, StoreError>")]
pub struct SweepTokens;

impl Handler<Record> for TokenIssuer {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: Record, _: &mut Self::Context) -> Self::Result {
        let written = self.store.put(&msg.tokens);
        if let Err(e) = written {
            return Box::pin(async move { Err(e) });
        }
        let records: Vec<(u128, TokenRecord)> = msg.tokens.into_iter().map(|t| (t.key, self.record_of(t))).collect();
        let index = self.index.clone();
        if !msg.durable {
            for (k, r) in records {
                index.insert(k, r);
            }
            return Box::pin(async { Ok(()) });
        }
        let durable = self.store.durable();
        Box::pin(async move {
            durable.await?;
            for (k, r) in records {
                index.insert(k, r);
            }
            Ok(())
        })
    }
}

impl Handler<RecordUnpersisted> for TokenIssuer {
    type Result = ();
    fn handle(&mut self, msg: RecordUnpersisted, _: &mut Self::Context) {
        self.insert_unpersisted(msg.0);
    }
}

impl Handler<SweepTokens> for TokenIssuer {
    type Result = Result<usize, StoreError>;
    fn handle(&mut self, _: SweepTokens, _: &mut Self::Context) -> Self::Result {
        self.sweep()
    }
}
