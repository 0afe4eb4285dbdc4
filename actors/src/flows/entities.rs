//! Ending entity tokens when an entity or a membership ends: the admin
//! API's entity and membership deletions call these.

use crate::engine::Engine;
use crate::tokens::{EntityTokenError, RevokeEntityToken};

impl Engine {
    /// Revoke every entity token of an entity (it is being deleted).
    pub async fn end_entity_tokens(
        &self,
        entity_id: uuid::Uuid,
    ) -> Result<usize, EntityTokenError> {
        self.issuer
            .send(RevokeEntityToken {
                entity_id,
                user_id: None,
            })
            .await?
    }

    /// Revoke a member's entity token, if they have one (they left).
    pub async fn end_member_token(
        &self,
        entity_id: uuid::Uuid,
        user_id: uuid::Uuid,
    ) -> Result<usize, EntityTokenError> {
        match self
            .issuer
            .send(RevokeEntityToken {
                entity_id,
                user_id: Some(user_id),
            })
            .await?
        {
            Err(EntityTokenError::NotFound) => Ok(0),
            other => other,
        }
    }
}
