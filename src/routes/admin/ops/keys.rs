//! Signing keys: the set with each key's state, and rotation.

use tessera_actors::keys::{KeyInfo, KeyState, ListKeys, Rotate};

use crate::audit::{audited_with, Who};
use crate::error::ApiError;
use crate::state::AppState;

/// The key set, newest first: `current`, `next` and `retired` keys (no
/// private parts).
pub async fn list(state: &AppState) -> Result<Vec<KeyInfo>, ApiError> {
    Ok(state.engine.key_rotator.send(ListKeys).await?)
}

/// Rotate now: the next key becomes current, a new next is published, the
/// old current is retired (it verifies until its last token expires).
pub async fn rotate(state: &AppState, who: &Who) -> Result<Vec<KeyInfo>, ApiError> {
    let r: Result<(Vec<KeyInfo>, Option<String>), ApiError> = async {
        let keys = state
            .engine
            .key_rotator
            .send(Rotate)
            .await?
            .map_err(|e| ApiError::unavailable(format!("rotation failed: {e}")))?;
        let current = keys
            .iter()
            .find(|k| k.state == KeyState::Current)
            .map(|k| format!("current kid: {}", k.kid));
        Ok((keys, current))
    }
    .await;
    audited_with(&state.engine, who, "key.rotate", None, r).await
}
