//! `TokenIssuer`: owns the records of every token tessera issues (access
//! tokens, refresh tokens, authorization codes) and publishes the token
//! index introspection reads.
//!
//! A record is keyed by the first 128 bits of SHA-256 of the token string,
//! so lookups need no signature check and a forged token never matches.
//! Records that share client, subject, scope and audience share one
//! interned `Grant`, which keeps a resident token near 100 bytes.
//!
//! Single-use rules live here because one actor handles one message at a
//! time: a code is marked consumed, and a rotated refresh token used, in
//! the actor's memory before anything else can look, so of N parallel
//! exchanges exactly one wins; the winner is answered only once that is
//! durable. The store's write is conditional too (only a code not yet
//! consumed, a token not yet used), so that a backend shared by several
//! processes still has exactly one winner.

pub mod codes;
pub mod entity;
pub mod index;
pub mod personal;
pub mod refresh;
mod remote;
pub mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::revocation::{RevocationList, RevokedSet};
use crate::store::{self, StoreError};
use crate::timing::TimedAddr;
pub use codes::{AuthCode, CodeError, ExchangeCode, IssueCode};
pub use entity::{
    CreateEntityToken, EntityMeta, EntityToken, EntityTokenError, GetEntityToken,
    RefreshEntityToken, RevokeEntityToken, UpdateEntityToken,
};
pub use index::{Act, Grant, TokenIndex, TokenKind, TokenOrigin, TokenRecord};
pub use personal::{DeletePersonal, ListPersonal, PersonalError, PersonalToken};
pub use refresh::{IssueRefresh, Refresh, RefreshError, RefreshMeta, RefreshOutcome};
pub use remote::FetchToken;
pub use storage::{SledTokenStore, Table, TokenStore};

/// An access token as stored on disk.
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

pub struct TokenIssuer {
    store: Box<dyn TokenStore>,
    clock: SharedClock,
    index: Arc<TokenIndex>,
    grants: HashMap<Grant, Arc<Grant>>,
    codes: HashMap<u128, AuthCode>,
    refresh: HashMap<u128, RefreshMeta>,
    /// Personal refresh tokens by user (a subset of `refresh`).
    personal: personal::PersonalIndex,
    /// Entity tokens by member.
    entity: entity::EntityTokens,
    revoked: Arc<RevokedSet>,
    revocations: TimedAddr<RevocationList>,
}

impl TokenIssuer {
    pub fn open(
        store: Box<dyn TokenStore>,
        clock: SharedClock,
        index: Arc<TokenIndex>,
        revoked: Arc<RevokedSet>,
        revocations: TimedAddr<RevocationList>,
    ) -> Result<Self, StoreError> {
        let mut t = TokenIssuer {
            store,
            clock,
            index,
            grants: HashMap::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            personal: personal::PersonalIndex::default(),
            entity: entity::EntityTokens::default(),
            revoked,
            revocations,
        };
        t.reload()?;
        Ok(t)
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut expired = Vec::new();
        for (key, bytes) in self.store.load(Table::Access)? {
            let t: StoredToken = store::decode(&bytes)?;
            if t.exp <= now {
                expired.push(key);
                continue;
            }
            self.index_stored(key, t);
        }
        self.store.remove(Table::Access, &expired)?;
        // A code not yet redeemed when the process went down is void: its
        // exchange may have been in flight, unanswered, and a code must never
        // work twice. The user only has to retry. Used codes stay, for
        // replay detection.
        // In a store shared with other nodes, the store decides single
        // use (a conditional write), so a code not yet redeemed stays good.
        let shared = self.store.shared();
        self.codes.clear();
        let mut void = Vec::new();
        for (key, bytes) in self.store.load(Table::Code)? {
            let c: AuthCode = store::decode(&bytes)?;
            if (c.consumed || shared) && c.exp > now {
                self.codes.insert(key, c);
            } else {
                void.push(key);
            }
        }
        self.store.remove(Table::Code, &void)?;
        self.refresh.clear();
        self.personal.clear();
        for (key, bytes) in self.store.load(Table::Refresh)? {
            let m: RefreshMeta = store::decode(&bytes)?;
            // A used (rotated) token is kept for reuse detection only.
            self.put_refresh(key, m, now);
        }
        self.reload_entity_tokens(now)?;
        metrics::gauge!("tessera_tokens_live").set(self.index.len() as f64);
        Ok(())
    }

    /// Put a stored access token into the index (a start-up load, or
    /// another node's issuance from the feed).
    fn index_stored(&mut self, key: u128, t: StoredToken) {
        let rec = self.record_of(NewToken {
            key,
            jti: t.jti,
            family: t.family,
            iat: t.iat,
            exp: t.exp,
            kind: t.kind,
            grant: t.grant,
        });
        self.index.insert(key, rec);
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

    fn encode_access(t: &NewToken) -> Result<(u128, Vec<u8>), StoreError> {
        let st = StoredToken {
            jti: t.jti,
            family: t.family,
            iat: t.iat,
            exp: t.exp,
            kind: t.kind,
            grant: t.grant.clone(),
        };
        Ok((t.key, store::encode(&st)?))
    }

    /// Record tokens in the index without persisting them: for seeding a
    /// benchmark with a million resident tokens.
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
        self.store.remove(Table::Access, &gone)?;
        for k in &gone {
            self.index.remove_expired(*k, now);
        }
        let codes: Vec<u128> = self
            .codes
            .iter()
            .filter(|(_, c)| c.exp <= now)
            .map(|(k, _)| *k)
            .collect();
        self.store.remove(Table::Code, &codes)?;
        for k in &codes {
            self.codes.remove(k);
        }
        let refresh: Vec<u128> = self
            .refresh
            .iter()
            .filter(|(_, m)| m.exp <= now)
            .map(|(k, _)| *k)
            .collect();
        self.store.remove(Table::Refresh, &refresh)?;
        for k in &refresh {
            if let Some(m) = self.refresh.remove(k) {
                self.forget_refresh(*k, &m);
            }
        }
        let entity = self.sweep_entity_tokens(now)?;
        // Drop interned grants no live token refers to any more.
        self.grants.retain(|_, g| Arc::strong_count(g) > 1);
        metrics::gauge!("tessera_tokens_live").set(self.index.len() as f64);
        Ok(gone.len() + codes.len() + refresh.len() + entity)
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(TokenIssuer, "token_issuer");

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

/// Record issued access tokens. With `durable` (opaque tokens), they are
/// written and answered only once on disk; otherwise (JWTs) they are kept
/// in memory only, and verified by signature after a restart.
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
        // Only opaque tokens are written: they exist nowhere else. A JWT
        // carries its own claims (grant family included) and verifies by
        // signature when its in-memory record is gone after a restart, so
        // writing it would only put sled on the issuance hot path.
        if msg.durable {
            let encoded: Result<Vec<_>, _> = msg.tokens.iter().map(Self::encode_access).collect();
            if let Err(e) = encoded.and_then(|e| self.store.put(Table::Access, e)) {
                return Box::pin(async move { Err(e) });
            }
        }
        let records: Vec<(u128, TokenRecord)> = msg
            .tokens
            .into_iter()
            .map(|t| (t.key, self.record_of(t)))
            .collect();
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
