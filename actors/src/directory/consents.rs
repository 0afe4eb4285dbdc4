//! Remembered consent: per user and client, the scopes the user agreed to.

use std::sync::Arc;

use actix::prelude::*;
use dashmap::DashMap;

use super::{Directory, DirectoryError};
use crate::domain::Scope;

#[derive(Default)]
pub struct ConsentsView {
    map: DashMap<(uuid::Uuid, String), Scope>,
}

impl ConsentsView {
    /// Whether the user already agreed to every scope in `scope` for `client`.
    pub fn covers(&self, user: &uuid::Uuid, client: &str, scope: &Scope) -> bool {
        self.map
            .get(&(*user, client.to_string()))
            .is_some_and(|g| scope.is_subset_of(g.value()))
    }
    pub(super) fn publish(&self, user: uuid::Uuid, client: String, scope: Scope) {
        self.map.insert((user, client), scope);
    }
    pub(super) fn clear(&self) {
        self.map.clear();
    }
    pub(super) fn withdraw(&self, user: uuid::Uuid, client: String) {
        self.map.remove(&(user, client));
    }
}

/// Remember that `user` agreed to `scope` for `client` (merged with any
/// earlier consent).
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DirectoryError>")]
pub struct GrantConsent {
    pub user_id: uuid::Uuid,
    pub client_id: String,
    pub scope: Scope,
}

impl Handler<GrantConsent> for Directory {
    type Result = AtomicResponse<Self, Result<(), DirectoryError>>;
    fn handle(&mut self, msg: GrantConsent, _: &mut Self::Context) -> Self::Result {
        let consents: Arc<ConsentsView> = self.consents.clone();
        let write = (|| {
            let mut merged = self
                .store
                .consent(&msg.user_id, &msg.client_id)?
                .unwrap_or_default();
            let mut tokens: Vec<String> = merged.tokens().to_vec();
            tokens.extend(msg.scope.tokens().iter().cloned());
            merged = Scope::from_tokens(tokens).map_err(|e| super::invalid("scope", e.0))?;
            self.store
                .put_consent(&msg.user_id, &msg.client_id, &merged)?;
            Ok((msg.user_id, msg.client_id, merged))
        })();
        let r = self.commit(write, move |_, _, (u, c, s)| {
            consents.publish(*u, c.clone(), s.clone())
        });
        AtomicResponse::new(Box::pin(r.map(|r, _, _| r.map(|_| ()))))
    }
}
