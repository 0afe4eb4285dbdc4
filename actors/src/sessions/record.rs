//! A browser session as stored and published, with the parsed user agent
//! it was opened from.

use serde::{Deserialize, Serialize};

/// A parsed `User-Agent` header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAgent {
    pub ua: String,
    pub browser: NameVersion,
    pub engine: NameVersion,
    pub os: NameVersion,
    pub device: Device,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameVersion {
    pub name: Option<String>,
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub vendor: Option<String>,
    pub model: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Active,
    /// Password verified; waiting for the TOTP code.
    PendingMfa,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Public id (API paths); not the cookie secret.
    pub id: uuid::Uuid,
    /// First 128 bits of SHA-256 of the cookie secret.
    pub key: u128,
    pub user_id: uuid::Uuid,
    pub state: SessionState,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub absolute_expires_at: i64,
    pub auth_time: i64,
    /// Authentication methods (RFC 8176): `pwd`, `otp`, `fed`.
    pub amr: Vec<String>,
    pub ip: String,
    pub user_agent: UserAgent,
    /// The OAuth client the login was for (`applicationId`).
    pub application_id: Option<String>,
    pub bucket: serde_json::Map<String, serde_json::Value>,
    /// The clients given an authorization in this session (OIDC
    /// Back-Channel Logout: who is told when it ends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<SessionClient>,
}

/// A client that received an authorization code in a session, and the
/// `sid` its ID tokens carry (a rotated session keeps the one issued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClient {
    pub client_id: String,
    pub sid: uuid::Uuid,
}

/// A session that ended, with whom to tell (back-channel logout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    /// The session's id when it ended.
    pub session_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub clients: Vec<SessionClient>,
}

impl Session {
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at && now < self.absolute_expires_at
    }
}

impl Session {
    /// What back-channel logout needs of this session once it ends, if any
    /// client holds it.
    pub fn ended(&self) -> Option<EndedSession> {
        (!self.clients.is_empty()).then(|| EndedSession {
            session_id: self.id,
            user_id: self.user_id,
            clients: self.clients.clone(),
        })
    }
}
