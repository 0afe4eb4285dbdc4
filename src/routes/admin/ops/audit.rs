//! The audit log, newest first.

use serde::Serialize;
use tessera_actors::audit::{parse_key, AuditPage, AuditQuery, AuditRecord, ListAudit};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// One record of the audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditRecordView {
    /// Time-ordered id (32 hex digits).
    pub id: String,
    /// RFC 3339.
    pub time: String,
    /// The node that did it.
    pub node: String,
    /// `admin-token`, a console user's name, or `cli:<os user>`.
    pub actor: String,
    /// `api`, `console` or `cli`.
    pub via: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Dotted, e.g. `client.secret.rotate`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `ok` or `refused`.
    pub outcome: String,
    /// Why it was refused, or what was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditRecordView {
    fn from(r: AuditRecord) -> Self {
        AuditRecordView {
            id: r.id,
            time: tessera_actors::clock::rfc3339(r.at),
            node: r.node,
            actor: r.actor,
            via: r.via.as_str().into(),
            ip: r.ip,
            action: r.action,
            target: r.target,
            outcome: match r.outcome {
                tessera_actors::audit::Outcome::Ok => "ok",
                tessera_actors::audit::Outcome::Refused => "refused",
            }
            .into(),
            detail: r.detail,
        }
    }
}

/// A page of the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPageView {
    pub records: Vec<AuditRecordView>,
    /// Pass as `before` for the next (older) page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A previous page's `next`.
    pub before: Option<String>,
    /// 1-500 (default 50).
    pub limit: Option<usize>,
    pub actor: Option<String>,
    /// An action, or a prefix of dotted ones (`client`).
    pub action: Option<String>,
}

pub async fn list(state: &AppState, f: AuditFilter) -> Result<AuditPageView, ApiError> {
    let before = match f.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(parse_key(b).ok_or_else(|| {
            ApiError::bad_request("invalid_field", "before: not a cursor of this log")
        })?),
    };
    let limit = match f.limit {
        None => 50,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "limit: between 1 and 500",
            ))
        }
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let AuditPage { records, next } = state
        .engine
        .audit
        .send(ListAudit(AuditQuery {
            before,
            limit,
            actor: nonempty(f.actor),
            action: nonempty(f.action),
        }))
        .await??;
    Ok(AuditPageView {
        records: records.into_iter().map(AuditRecordView::from).collect(),
        next,
    })
}
