//! Clients: list, read, create, replace, delete, rotate the secret.

use std::sync::Arc;

use actix_web::http::StatusCode;
use tessera_actors::directory::{
    Client, ClientSpec, CreateClient, DeleteClient, RotateClientSecret, UpdateClient,
};

use crate::audit::{audited, Who};
use crate::error::ApiError;
use crate::state::AppState;

/// Every client; with `q`, those whose id or name contains it (any case).
pub fn list(state: &AppState, q: Option<&str>) -> Vec<Arc<Client>> {
    let q = q
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    state
        .engine
        .clients
        .list()
        .into_iter()
        .filter(|c| {
            q.as_deref().is_none_or(|q| {
                c.client_id.to_lowercase().contains(q) || c.name.to_lowercase().contains(q)
            })
        })
        .collect()
}

pub fn get(state: &AppState, client_id: &str) -> Result<Arc<Client>, ApiError> {
    state
        .engine
        .clients
        .get(client_id)
        .ok_or_else(|| ApiError::not_found("no such client"))
}

/// Register a client; answers it and its secret (shown once), if any.
pub async fn create(
    state: &AppState,
    who: &Who,
    spec: ClientSpec,
) -> Result<(Arc<Client>, Option<String>), ApiError> {
    let asked = spec.client_id.clone();
    let r: Result<_, ApiError> =
        async { Ok(state.engine.directory.send(CreateClient(spec)).await??) }.await;
    let target = match &r {
        Ok((c, _)) => Some(c.client_id.clone()),
        Err(_) => asked,
    };
    audited(&state.engine, who, "client.create", target, r).await
}

/// Replace a client's registration (its id, creation time and, where the
/// method still uses one, its secret stay); a new secret only when the
/// method now needs one the server cannot keep.
pub async fn update(
    state: &AppState,
    who: &Who,
    client_id: &str,
    spec: ClientSpec,
) -> Result<(Arc<Client>, Option<String>), ApiError> {
    let r: Result<_, ApiError> = async {
        if spec.client_id.as_ref().is_some_and(|c| c != client_id) {
            return Err(ApiError::bad_request(
                "invalid_field",
                "client_id: a client's id cannot change",
            ));
        }
        let r = state
            .engine
            .directory
            .send(UpdateClient {
                client_id: client_id.to_string(),
                spec,
                with_token: None,
            })
            .await??;
        Ok((r.client, r.secret))
    }
    .await;
    audited(
        &state.engine,
        who,
        "client.update",
        Some(client_id.to_string()),
        r,
    )
    .await
}

pub async fn delete(state: &AppState, who: &Who, client_id: &str) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        // Registration, recovery and personal tokens are issued to it;
        // without it those endpoints could only answer 503 until the next
        // restart.
        if client_id == state.engine.config.accounts.client_id {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the built-in account client cannot be deleted",
            ));
        }
        state
            .engine
            .directory
            .send(DeleteClient(client_id.to_string()))
            .await??;
        Ok(())
    }
    .await;
    audited(
        &state.engine,
        who,
        "client.delete",
        Some(client_id.to_string()),
        r,
    )
    .await
}

/// A new secret for the client, shown once; the old one stops working.
pub async fn rotate_secret(
    state: &AppState,
    who: &Who,
    client_id: &str,
) -> Result<String, ApiError> {
    let r: Result<String, ApiError> = async {
        Ok(state
            .engine
            .directory
            .send(RotateClientSecret(client_id.to_string()))
            .await??)
    }
    .await;
    audited(
        &state.engine,
        who,
        "client.secret.rotate",
        Some(client_id.to_string()),
        r,
    )
    .await
}
