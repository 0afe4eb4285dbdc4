//! Browser sessions: end one.

use tessera_actors::sessions::Close;

use super::parse_id;
use crate::audit::{audited, Who};
use crate::error::ApiError;
use crate::state::AppState;

/// End one browser session (its clients are told by back-channel logout).
pub async fn end(state: &AppState, who: &Who, id: &str) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let sid = parse_id(id, "session")?;
        let now = state.engine.clock.now();
        let s = state
            .engine
            .sessions
            .get(&sid)
            .filter(|s| s.is_live(now))
            .ok_or_else(|| ApiError::not_found("no such session"))?;
        state.engine.session_registry.send(Close(s.id)).await??;
        Ok(())
    }
    .await;
    audited(&state.engine, who, "session.end", Some(id.to_string()), r).await
}
