//! Initial access tokens for dynamic client registration.

use tessera_actors::directory::{
    DirectoryError, InitialToken, IssueInitialToken, ListInitialTokens, RevokeInitialToken,
};

use crate::audit::{audited, Who};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(state: &AppState) -> Result<Vec<InitialToken>, ApiError> {
    Ok(state.engine.directory.send(ListInitialTokens).await??)
}

/// A new initial access token (shown once): `uses` registrations within
/// `expires_in` seconds.
pub async fn create(
    state: &AppState,
    who: &Who,
    uses: u32,
    expires_in: i64,
    note: Option<String>,
) -> Result<(InitialToken, String), ApiError> {
    let r: Result<(InitialToken, String), ApiError> = async {
        Ok(state
            .engine
            .directory
            .send(IssueInitialToken {
                uses,
                expires_in,
                note,
            })
            .await??)
    }
    .await;
    let target = r.as_ref().ok().map(|(t, _)| t.id.to_string());
    audited(&state.engine, who, "registration_token.create", target, r).await
}

pub async fn revoke(state: &AppState, who: &Who, id: &str) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let id = uuid::Uuid::parse_str(id)
            .map_err(|_| ApiError::not_found("no such initial access token"))?;
        state
            .engine
            .directory
            .send(RevokeInitialToken(id))
            .await?
            .map_err(|e| match e {
                DirectoryError::NotFound => ApiError::not_found("no such initial access token"),
                other => other.into(),
            })?;
        Ok(())
    }
    .await;
    audited(
        &state.engine,
        who,
        "registration_token.revoke",
        Some(id.to_string()),
        r,
    )
    .await
}
