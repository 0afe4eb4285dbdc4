//! A session as the sessions API shows it (SPEC §3). Never the cookie
//! secret or its hash: the public `id` is all a caller needs to name one.

use serde::Serialize;
use tessera_actors::clock::rfc3339;
use tessera_actors::directory::User;
use tessera_actors::sessions::{NameVersion, Session, UserAgent};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionJson {
    pub id: uuid::Uuid,
    /// RFC 3339.
    pub created_at: String,
    /// When the session ends unless extended (never past its absolute
    /// lifetime). RFC 3339.
    pub expires_at: String,
    /// RFC 3339.
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: UserAgentJson,
    pub user: SessionUserJson,
    /// Free-form data the front end keeps with the session.
    #[schema(value_type = Object)]
    pub bucket: serde_json::Map<String, serde_json::Value>,
    /// Whether this is the session the request came with.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserAgentJson {
    /// The raw `User-Agent` header (truncated).
    pub ua: String,
    pub browser: BrowserJson,
    pub engine: NameVersionJson,
    pub os: NameVersionJson,
    pub device: DeviceJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrowserJson {
    pub name: Option<String>,
    pub version: Option<String>,
    pub major: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NameVersionJson {
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceJson {
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// `mobile`, `tablet`, `desktop`, ... when known.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionUserJson {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// `password`, and `totp` when enrolled.
    pub mfa_methods: Vec<String>,
}

fn name_version(n: &NameVersion) -> NameVersionJson {
    NameVersionJson {
        name: n.name.clone(),
        version: n.version.clone(),
    }
}

impl UserAgentJson {
    pub fn new(ua: &UserAgent) -> UserAgentJson {
        UserAgentJson {
            ua: ua.ua.clone(),
            browser: BrowserJson {
                name: ua.browser.name.clone(),
                version: ua.browser.version.clone(),
                major: ua.browser.major.clone(),
            },
            engine: name_version(&ua.engine),
            os: name_version(&ua.os),
            device: DeviceJson {
                vendor: ua.device.vendor.clone(),
                model: ua.device.model.clone(),
                kind: ua.device.kind.clone(),
            },
        }
    }
}

impl SessionJson {
    /// `s` as the API shows it to `user` (its owner); `current` marks the
    /// request's own session.
    pub fn new(s: &Session, user: &User, current: bool) -> SessionJson {
        SessionJson {
            id: s.id,
            created_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at.min(s.absolute_expires_at)),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: UserAgentJson::new(&s.user_agent),
            user: SessionUserJson {
                id: user.id,
                username: user.username.clone(),
                email: user.email.clone(),
                email_verified: user.email_verified,
                mfa_methods: user.mfa_methods().into_iter().map(str::to_string).collect(),
            },
            bucket: s.bucket.clone(),
            current,
        }
    }
}
