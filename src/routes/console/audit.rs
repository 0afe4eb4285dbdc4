//! The console's link to the audit log: who acts (always `via=console`)
//! and the records of signing in and out, which are the console's own
//! actions (every other console action is recorded by its operation).

use actix_web::HttpRequest;

pub use crate::audit::Who;
use crate::audit::{record, Outcome};
use crate::error::ApiError;
use crate::state::AppState;

/// The acting admin, through the console.
pub fn who(actor: impl Into<String>, req: &HttpRequest) -> Who {
    Who::console(actor, req)
}

fn detail(d: &str) -> Option<String> {
    Some(d.to_string()).filter(|d| !d.is_empty())
}

/// A console action that was done; durable when this returns.
pub async fn ok(
    state: &AppState,
    who: &Who,
    action: &str,
    target: &str,
    d: &str,
) -> Result<(), ApiError> {
    write(state, who, action, target, Outcome::Ok, d).await
}

/// A console action that was refused; durable when this returns.
pub async fn refused(
    state: &AppState,
    who: &Who,
    action: &str,
    target: &str,
    d: &str,
) -> Result<(), ApiError> {
    write(state, who, action, target, Outcome::Refused, d).await
}

async fn write(
    state: &AppState,
    who: &Who,
    action: &str,
    target: &str,
    outcome: Outcome,
    d: &str,
) -> Result<(), ApiError> {
    record(
        &state.engine,
        who,
        action,
        Some(target.into()),
        outcome,
        detail(d),
    )
    .await
    .map(|_| ())
}
