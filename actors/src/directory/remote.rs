//! Directory changes other nodes made, from the cluster's feed, published
//! to this node's views as a start-up load would have.

use std::sync::Arc;

use actix::prelude::*;

use super::storage::decode_consent;
use super::Directory;
use crate::cluster::Apply;
use crate::pg::feed::Change;
use crate::pg::tables::Table;
use crate::store::{self, StoreError};

fn uuid_of(id: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(id).map_err(|_| StoreError::Decode("record key is not a UUID".into()))
}

impl Directory {
    fn apply_change(&self, c: &Change) -> Result<(), StoreError> {
        match (c.table, &c.payload) {
            (Table::Clients, Some(v)) => {
                let client: super::Client = store::decode(v)?;
                self.view
                    .map
                    .insert(client.client_id.clone(), Arc::new(client));
            }
            (Table::Clients, None) => {
                if let Ok(id) = std::str::from_utf8(&c.id) {
                    self.view.map.remove(id);
                }
            }
            (Table::Users, Some(v)) => self.users.publish(Arc::new(store::decode(v)?)),
            (Table::Users, None) => self.users.unpublish(&uuid_of(&c.id)?),
            (Table::Consents, Some(v)) => {
                let (user, client, scope) = decode_consent(&c.id, v)?;
                self.consents.publish(user, client, scope);
            }
            (Table::Consents, None) => {
                let (u, client) = c.id.split_at(16.min(c.id.len()));
                self.consents
                    .withdraw(uuid_of(u)?, String::from_utf8_lossy(client).into_owned());
            }
            (Table::Entities, Some(v)) => self.entities.publish_entity(Arc::new(store::decode(v)?)),
            (Table::Entities, None) => self.entities.unpublish_entity(&uuid_of(&c.id)?),
            (Table::ApiKeys, Some(v)) => self.entities.publish_key(Arc::new(store::decode(v)?)),
            (Table::ApiKeys, None) => self.entities.unpublish_key(&uuid_of(&c.id)?),
            _ => {}
        }
        Ok(())
    }
}

impl Handler<Apply> for Directory {
    type Result = ();
    fn handle(&mut self, msg: Apply, _: &mut Self::Context) {
        for c in msg.0.iter() {
            if let Err(e) = self.apply_change(c) {
                tracing::error!(error = %e, table = c.table.name(), "a directory change from the feed could not be applied");
            }
        }
        metrics::gauge!("tessera_clients").set(self.view.len() as f64);
        metrics::gauge!("tessera_users").set(self.users.len() as f64);
        metrics::gauge!("tessera_entities").set(self.entities.len() as f64);
    }
}
