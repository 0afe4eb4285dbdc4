//! Who did an administrative action, and its record in the audit log.
//!
//! Every admin operation (`crate::routes::admin`) takes a [`Who`] and ends
//! with [`audited`]: the outcome — done, or refused with the short reason
//! the caller is given — is durable in the log before the operation
//! answers. A caller without the admin token never reaches an operation,
//! so it leaves nothing in the log.

use actix_web::HttpRequest;
use tessera_actors::audit::{AuditEntry, Record};
pub use tessera_actors::audit::{AuditRecord, Outcome, Via};
use tessera_actors::Engine;

use crate::error::ApiError;

/// The actor name of a request made with the admin token.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

/// Who acts, through what, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub actor: String,
    pub via: Via,
    pub ip: Option<String>,
}

fn peer_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

impl Who {
    /// The admin token over the JSON API.
    pub fn api(req: &HttpRequest) -> Who {
        Who {
            actor: ADMIN_TOKEN_ACTOR.into(),
            via: Via::Api,
            ip: peer_ip(req),
        }
    }

    /// A signed-in console user (a username, or the admin token's name).
    pub fn console(actor: impl Into<String>, req: &HttpRequest) -> Who {
        Who {
            actor: actor.into(),
            via: Via::Console,
            ip: peer_ip(req),
        }
    }

    /// The `tessera` command, as the operating system's user running it.
    pub fn cli() -> Who {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty());
        Who {
            actor: match user {
                Some(u) => format!("cli:{u}"),
                None => "cli".into(),
            },
            via: Via::Cli,
            ip: None,
        }
    }
}

/// Write one record; durable when this returns.
pub async fn record(
    engine: &Engine,
    who: &Who,
    action: &str,
    target: Option<String>,
    outcome: Outcome,
    detail: Option<String>,
) -> Result<AuditRecord, ApiError> {
    let entry = AuditEntry {
        actor: who.actor.clone(),
        via: who.via,
        ip: who.ip.clone(),
        action: action.to_string(),
        target,
        outcome,
        detail,
    };
    match engine.audit.send(Record(entry)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            tracing::error!(error = %e, action, "the audit log could not record an action");
            Err(ApiError::unavailable(
                "the audit log could not record this action; try again",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, action, "the audit log is down");
            Err(ApiError::unavailable(
                "the audit log could not record this action; try again",
            ))
        }
    }
}

/// Record what an operation came to, then hand its result on: `Ok` is
/// recorded as done, an error as refused with its message. If the record
/// cannot be written the caller gets `503` (an operation that was done
/// stays done; the log says nothing it did not keep).
pub async fn audited<T>(
    engine: &Engine,
    who: &Who,
    action: &str,
    target: Option<String>,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (outcome, detail) = match &result {
        Ok(_) => (Outcome::Ok, None),
        Err(e) => (Outcome::Refused, Some(e.message.clone())),
    };
    record(engine, who, action, target, outcome, detail).await?;
    result
}

/// [`audited`] with a detail on success too (what was changed).
pub async fn audited_with<T>(
    engine: &Engine,
    who: &Who,
    action: &str,
    target: Option<String>,
    result: Result<(T, Option<String>), ApiError>,
) -> Result<T, ApiError> {
    let (outcome, detail) = match &result {
        Ok((_, d)) => (Outcome::Ok, d.clone()),
        Err(e) => (Outcome::Refused, Some(e.message.clone())),
    };
    record(engine, who, action, target, outcome, detail).await?;
    result.map(|(v, _)| v)
}
