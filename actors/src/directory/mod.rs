//! `Directory`: owns clients, users, consents, entities and their API keys,
//! TOTP secrets and mailed one-time codes, all through its
//! [`DirectoryStore`]. Publishes concurrent read views: client
//! authentication on every token and introspection request costs a map
//! lookup and one SHA-256; a login costs a map lookup and one argon2 verify
//! (on the password pool, never on this actor's thread).

mod client_spec;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod entities;
pub mod passkeys;
pub mod registration;
mod remote;
pub mod storage;
pub mod users;

use std::sync::Arc;

use actix::prelude::*;

use crate::clock::SharedClock;
use crate::store::StoreError;
pub use clients::{
    About, CertificateName, Client, ClientSpec, ClientsView, CreateClient, DeleteClient,
    ExchangePolicy, RotateClientSecret, SelfRegistration, TokenAuthMethod,
};
pub use codes::{
    CodeEffect, CodeError, CodePurpose, CodeRecord, CodeRef, IssueCode, IssuedCode, RedeemCode,
    Redeemed, RenewPending,
};
pub use consents::{ConsentsView, GrantConsent};
pub use entities::{
    ApiKey, CreateApiKey, CreateEntity, DeleteEntity, EntitiesView, Entity, RemoveMember,
    RevokeApiKey, Role, SetMember, TouchApiKey,
};
pub use passkeys::{
    AddPasskey, RemovePasskeys, RenamePasskey, StoredPasskey, UsePasskey, MAX_PASSKEYS,
};
pub use registration::{
    InitialToken, InitialTokenError, IssueInitialToken, ListInitialTokens, RegisterClient,
    RegisterError, Registered, RevokeInitialToken, UpdateClient,
};
pub use storage::{DirectoryState, DirectoryStore, SledDirectoryStore};
pub use users::{
    ChangeTotp, CreateUser, DeleteUser, NewUser, SetPasswordHash, SetRoles, Totp, TotpChange,
    UpdateUser, UseTotpStep, User, UserPatch, UserStatus, UsersView, ADMIN_ROLE, KNOWN_ROLES,
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

/// What the server's configuration allows a registered client.
#[derive(Debug, Clone, Copy)]
pub struct ClientRules {
    /// Longest `access_token_ttl` a client may have.
    pub max_ttl: i64,
    /// The server's signing algorithm: what signed introspection answers
    /// use (`introspection_signed_response_alg` must name it).
    pub signing_alg: &'static str,
}

pub struct Directory {
    store: Box<dyn DirectoryStore>,
    clock: SharedClock,
    rules: ClientRules,
    view: Arc<ClientsView>,
    users: Arc<UsersView>,
    consents: Arc<ConsentsView>,
    entities: Arc<EntitiesView>,
}

impl Directory {
    pub fn open(
        store: Box<dyn DirectoryStore>,
        clock: SharedClock,
        rules: ClientRules,
        view: Arc<ClientsView>,
        users: Arc<UsersView>,
        consents: Arc<ConsentsView>,
        entities: Arc<EntitiesView>,
    ) -> Result<Self, StoreError> {
        let d = Directory {
            store,
            clock,
            rules,
            view,
            users,
            consents,
            entities,
        };
        d.reload()?;
        Ok(d)
    }

    fn reload(&self) -> Result<(), StoreError> {
        let state = self.store.load_all()?;
        self.view.map.clear();
        for c in state.clients {
            self.view.map.insert(c.client_id.clone(), Arc::new(c));
        }
        metrics::gauge!("tessera_clients").set(self.view.map.len() as f64);
        self.users.clear();
        for u in state.users {
            self.users.publish(Arc::new(u));
        }
        metrics::gauge!("tessera_users").set(self.users.len() as f64);
        self.consents.clear();
        for (user, client, scope) in state.consents {
            self.consents.publish(user, client, scope);
        }
        self.entities.clear();
        for e in state.entities {
            self.entities.publish_entity(Arc::new(e));
        }
        for k in state.api_keys {
            self.entities.publish_key(Arc::new(k));
        }
        metrics::gauge!("tessera_entities").set(self.entities.len() as f64);
        Ok(())
    }
}

// Every message sent through the engine's address is timed.
crate::timing::timed_actor!(Directory, "directory");

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
    /// Make the message's writes durable, then publish; the actor processes
    /// nothing else meanwhile so the view sees mutations in order. A failed
    /// message (or a failed flush) takes its writes back.
    fn commit<T: 'static>(
        &mut self,
        write: Result<T, DirectoryError>,
        publish: impl FnOnce(&ClientsView, &UsersView, &T) + 'static,
    ) -> ResponseActFuture<Self, Result<T, DirectoryError>> {
        let view = self.view.clone();
        let users = self.users.clone();
        let unit = match write {
            Ok(v) => Ok((v, self.store.commit())),
            Err(e) => {
                self.store.rollback();
                Err(e)
            }
        };
        Box::pin(
            async move {
                let (v, durable) = unit?;
                durable.await?;
                publish(&view, &users, &v);
                metrics::gauge!("tessera_clients").set(view.len() as f64);
                metrics::gauge!("tessera_users").set(users.len() as f64);
                Ok(v)
            }
            .into_actor(self),
        )
    }
}
