//! The outbound mail queue and its dead letters, and back-channel logout
//! deliveries and theirs. Mail bodies carry one-time codes and links, so
//! only the recipient, subject and delivery state are shown.

use serde::Serialize;
use tessera_actors::logout::{DeliveryState, ListDeliveries};
use tessera_actors::mailer::{ListMail, MailState};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// A mail in the queue (never its body).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MailView {
    pub id: uuid::Uuid,
    pub to: String,
    pub subject: String,
    /// `queued` (waiting for its next attempt) or `dead` (given up on).
    pub state: String,
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub next_attempt_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The queue, dead letters first, then oldest first.
pub async fn list_mail(state: &AppState) -> Result<Vec<MailView>, ApiError> {
    let mut all = state.engine.mailer.send(ListMail).await??;
    all.sort_by(|a, b| {
        (b.state == MailState::Dead)
            .cmp(&(a.state == MailState::Dead))
            .then(a.created_at.cmp(&b.created_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(all
        .into_iter()
        .map(|m| MailView {
            id: m.id,
            to: m.mail.to,
            subject: m.mail.subject,
            state: match m.state {
                MailState::Queued => "queued",
                MailState::Dead => "dead",
            }
            .into(),
            attempts: m.attempts,
            created_at: tessera_actors::clock::rfc3339(m.created_at),
            next_attempt_at: tessera_actors::clock::rfc3339(m.next_attempt_at),
            last_error: m.last_error,
        })
        .collect())
}

/// A back-channel logout delivery (the logout token is made afresh for
/// each attempt and never stored).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogoutDeliveryView {
    pub id: uuid::Uuid,
    pub client_id: String,
    /// The user (`sub`).
    pub sub: String,
    /// The session as the client knows it (`sid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<uuid::Uuid>,
    /// `queued` or `dead`.
    pub state: String,
    pub attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub next_attempt_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Back-channel logout deliveries, dead letters first, then oldest first.
pub async fn list_logout_deliveries(state: &AppState) -> Result<Vec<LogoutDeliveryView>, ApiError> {
    let mut all = state.engine.logouts.send(ListDeliveries).await??;
    all.sort_by(|a, b| {
        (b.state == DeliveryState::Dead)
            .cmp(&(a.state == DeliveryState::Dead))
            .then(a.created_at.cmp(&b.created_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(all
        .into_iter()
        .map(|d| LogoutDeliveryView {
            id: d.id,
            client_id: d.client_id,
            sub: d.sub,
            sid: d.sid,
            state: match d.state {
                DeliveryState::Queued => "queued",
                DeliveryState::Dead => "dead",
            }
            .into(),
            attempts: d.attempts,
            created_at: tessera_actors::clock::rfc3339(d.created_at),
            next_attempt_at: tessera_actors::clock::rfc3339(d.next_attempt_at),
            last_error: d.last_error,
        })
        .collect())
}

/// Retry a dead letter (queued again, its attempts starting over) or
/// discard it. `404` unless `id` is a dead letter.
pub async fn dead_letter(
    state: &AppState,
    who: &crate::audit::Who,
    id: &str,
    action: tessera_actors::mailer::DeadLetter,
) -> Result<(), ApiError> {
    use tessera_actors::mailer::{DeadLetter, HandleDeadLetter};
    let name = match action {
        DeadLetter::Retry => "mail.retry",
        DeadLetter::Discard => "mail.discard",
    };
    let r: Result<(), ApiError> = async {
        let id = super::parse_id(id, "dead letter")?;
        if !state
            .engine
            .mailer
            .send(HandleDeadLetter { id, action })
            .await??
        {
            return Err(ApiError::not_found("no such dead letter"));
        }
        Ok(())
    }
    .await;
    crate::audit::audited(&state.engine, who, name, Some(id.to_string()), r).await
}
