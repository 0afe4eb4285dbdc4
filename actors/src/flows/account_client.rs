//! The built-in account client: the public, first-party client that
//! registration, recovery and personal tokens are issued to. The server
//! registers it at start when it is missing.

use crate::directory::{ClientSpec, CreateClient, DirectoryError};
use crate::domain::GrantType;
use crate::engine::Engine;

/// The spec of the built-in account client.
fn account_client_spec(client_id: &str) -> ClientSpec {
    ClientSpec {
        client_id: Some(client_id.to_string()),
        name: Some("Account".into()),
        public: true,
        grant_types: Some(vec![GrantType::RefreshToken]),
        scope: Some("openid profile email offline_access".into()),
        first_party: true,
        ..ClientSpec::default()
    }
}

impl Engine {
    /// Register the built-in account client if it is missing.
    pub async fn ensure_account_client(&self) -> Result<(), DirectoryError> {
        let id = &self.config.accounts.client_id;
        if self.clients.get(id).is_some() {
            return Ok(());
        }
        match self
            .directory
            .send(CreateClient(account_client_spec(id)))
            .await
        {
            Ok(Ok(_)) | Ok(Err(DirectoryError::Exists(_))) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DirectoryError::Store(crate::store::StoreError::Write(
                e.to_string(),
            ))),
        }
    }
}
