//! The messages `SessionRegistry` answers; their handlers are in the
//! registry's module.

use std::sync::Arc;

use actix::prelude::*;

use super::{EndedSession, Session, SessionError, UserAgent};
use crate::store::StoreError;

/// Open a session (a new id every time: login never reuses an id, which
/// defeats fixation). `replaces` names a session of the same browser to end.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(Arc<Session>, String), SessionError>")]
pub struct Open {
    pub user_id: uuid::Uuid,
    pub amr: Vec<String>,
    pub ip: String,
    pub user_agent: UserAgent,
    pub application_id: Option<String>,
    pub pending_mfa: bool,
    pub replaces: Option<uuid::Uuid>,
}

/// Second factor done: the pending session ends and a full one (new id,
/// new secret, `amr` extended) takes its place.
#[derive(Message, Debug)]
#[rtype(result = "Result<(Arc<Session>, String), SessionError>")]
pub struct CompleteMfa {
    pub id: uuid::Uuid,
    /// The second factor's methods (`otp`; `hwk`/`swk` and `user`).
    pub amr: Vec<String>,
}

/// Record activity: pushes the idle expiry out. Fire-and-forget; persisted
/// lazily (at most once a minute per session).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Touch(pub uuid::Uuid);

/// Push the expiry out by the idle timeout (bounded by the absolute lifetime).
#[derive(Message, Debug)]
#[rtype(result = "Result<Arc<Session>, SessionError>")]
pub struct Extend(pub uuid::Uuid);

/// New id and secret for the same session; the old ones die.
#[derive(Message, Debug)]
#[rtype(result = "Result<(Arc<Session>, String), SessionError>")]
pub struct Rotate(pub uuid::Uuid);

#[derive(Message, Debug)]
#[rtype(result = "Result<(), SessionError>")]
pub struct Close(pub uuid::Uuid);

/// End every session of a user (password change), except perhaps one.
#[derive(Message, Debug)]
#[rtype(result = "Result<usize, SessionError>")]
pub struct CloseAllForUser {
    pub user_id: uuid::Uuid,
    pub except: Option<uuid::Uuid>,
}

/// Merge a JSON object into the bucket (top-level keys replace; `null` removes).
#[derive(Message, Debug)]
#[rtype(result = "Result<Arc<Session>, SessionError>")]
pub struct MergeBucket {
    pub id: uuid::Uuid,
    pub patch: serde_json::Map<String, serde_json::Value>,
}

/// Drop expired sessions now.
#[derive(Message)]
#[rtype(result = "Result<usize, StoreError>")]
pub struct SweepSessions;

/// Record that `client_id` was given an authorization in the session
/// (back-channel logout tells it when the session ends). Answers once
/// durable; a client already recorded costs no write.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), SessionError>")]
pub struct AddClient {
    pub id: uuid::Uuid,
    pub client_id: String,
}

/// Sessions that ended while clients held them: sent by the registry to
/// whoever tells those clients. Answers once the news is durable.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SessionsEnded(pub Vec<EndedSession>);
