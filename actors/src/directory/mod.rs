//! `Directory`: owns clients, users (and, later, entities and API keys).
//! Publishes concurrent read views of clients and users: client
//! authentication on every token and introspection request costs a map
//! lookup and one SHA-256; a login costs a map lookup and one argon2 verify
//! (on the password pool, never on this actor's thread).

pub mod clients;
pub mod codes;
pub mod consents;
pub mod entities;
pub mod users;

use std::sync::Arc;

use actix::prelude::*;

use crate::clock::SharedClock;
use crate::store::{self, trees, Store, StoreError};
pub use clients::{
    Client, ClientSpec, ClientsView, CreateClient, DeleteClient, RotateClientSecret,
};
pub use codes::{
    CodeEffect, CodeError, CodePurpose, CodeRef, IssueCode, IssuedCode, RedeemCode, Redeemed,
    RenewPending,
};
pub use consents::{ConsentsView, GrantConsent};
pub use entities::{
    ApiKey, CreateApiKey, CreateEntity, DeleteEntity, EntitiesView, Entity, RemoveMember,
    RevokeApiKey, Role, SetMember, TouchApiKey,
};
pub use users::{
    ChangeTotp, CreateUser, DeleteUser, NewUser, SetPasswordHash, Totp, TotpChange, UpdateUser,
    UseTotpStep, User, UserPatch, UserStatus, UsersView,
};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("a client with id {0:?} already exists")]
    Exists(String),
    #[error("no such client")]
    NotFound,
    #[error("no such user")]
    NoSuchUser,
    #[error("no such entity")]
    NoSuchEntity,
    #[error("no such API key")]
    NoSuchApiKey,
    #[error("{0} is already taken")]
    Taken(&'static str),
    /// The request contradicts the record's state (e.g. TOTP already on).
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid {
        field,
        message: message.into(),
    }
}

pub struct Directory {
    tree: sled::Tree,
    store: Store,
    clock: SharedClock,
    max_ttl: i64,
    view: Arc<ClientsView>,
    users_tree: sled::Tree,
    users: Arc<UsersView>,
    consents_tree: sled::Tree,
    consents: Arc<ConsentsView>,
    entities: Arc<EntitiesView>,
    /// How to take back the writes of the message in progress, should its
    /// flush fail: nothing unacknowledged may linger in the tree.
    pending: Vec<Undo>,
}

struct Undo {
    tree: sled::Tree,
    key: Vec<u8>,
    prev: Option<sled::IVec>,
}

fn undo_all(undo: Vec<Undo>) {
    for u in undo.into_iter().rev() {
        let r = match u.prev {
            Some(p) => u.tree.insert(&u.key, p).map(|_| ()),
            None => u.tree.remove(&u.key).map(|_| ()),
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "could not take back an unacknowledged directory write");
        }
    }
}

impl Directory {
    pub fn open(
        store: &Store,
        clock: SharedClock,
        max_ttl: i64,
        view: Arc<ClientsView>,
        users: Arc<UsersView>,
        consents: Arc<ConsentsView>,
        entities: Arc<EntitiesView>,
    ) -> Result<Self, StoreError> {
        let d = Directory {
            tree: store.tree(trees::CLIENTS)?,
            store: store.clone(),
            clock,
            max_ttl,
            view,
            users_tree: store.tree(trees::USERS)?,
            users,
            consents_tree: store.tree(trees::CONSENTS)?,
            consents,
            entities,
            pending: Vec::new(),
        };
        d.reload()?;
        Ok(d)
    }

    fn reload(&self) -> Result<(), StoreError> {
        self.view.map.clear();
        for v in self.tree.iter().values() {
            let c: Client = store::decode(&v?)?;
            self.view.map.insert(c.client_id.clone(), Arc::new(c));
        }
        metrics::gauge!("tessera_clients").set(self.view.map.len() as f64);
        self.users.clear();
        for v in self.users_tree.iter().values() {
            let u: User = store::decode(&v?)?;
            self.users.publish(Arc::new(u));
        }
        metrics::gauge!("tessera_users").set(self.users.len() as f64);
        self.consents.clear();
        for kv in self.consents_tree.iter() {
            let (k, v) = kv?;
            let (u, c) = k.split_at(16.min(k.len()));
            let (Ok(user), Ok(client)) = (uuid::Uuid::from_slice(u), std::str::from_utf8(c)) else {
                return Err(StoreError::Decode("malformed consent key".into()));
            };
            self.consents
                .publish(user, client.to_string(), store::decode(&v)?);
        }
        self.reload_entities()?;
        Ok(())
    }
}

impl Actor for Directory {
    type Context = Context<Self>;
}

impl Supervised for Directory {
    fn restarting(&mut self, _: &mut Self::Context) {
        if let Err(e) = self.reload() {
            tracing::error!(error = %e, "directory could not reload");
        }
    }
}

impl Directory {
    /// Insert, remembering how to take it back.
    fn put(&mut self, tree: &sled::Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let prev = tree.insert(key, value)?;
        self.pending.push(Undo {
            tree: tree.clone(),
            key: key.to_vec(),
            prev,
        });
        Ok(())
    }

    /// Remove, remembering how to take it back; answers what was there.
    fn del(&mut self, tree: &sled::Tree, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        let prev = tree.remove(key)?;
        if prev.is_some() {
            self.pending.push(Undo {
                tree: tree.clone(),
                key: key.to_vec(),
                prev: prev.clone(),
            });
        }
        Ok(prev)
    }

    /// Write, wait for durability, then publish; the actor processes nothing
    /// else meanwhile so the view sees mutations in order.
    fn commit<T: 'static>(
        &mut self,
        write: Result<T, DirectoryError>,
        publish: impl FnOnce(&ClientsView, &UsersView, &T) + 'static,
    ) -> ResponseActFuture<Self, Result<T, DirectoryError>> {
        let store = self.store.clone();
        let view = self.view.clone();
        let users = self.users.clone();
        let undo = std::mem::take(&mut self.pending);
        Box::pin(
            async move {
                let v = match write {
                    Ok(v) => v,
                    Err(e) => {
                        undo_all(undo);
                        return Err(e);
                    }
                };
                if let Err(e) = store.durable().await {
                    undo_all(undo);
                    return Err(e.into());
                }
                publish(&view, &users, &v);
                metrics::gauge!("tessera_clients").set(view.len() as f64);
                metrics::gauge!("tessera_users").set(users.len() as f64);
                Ok(v)
            }
            .into_actor(self),
        )
    }
}
