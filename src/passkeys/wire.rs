//! What the passkey endpoints read and show: the JSON body, the browser's
//! credential, and a registered passkey's view.

use serde::Serialize;
use tessera_actors::directory::StoredPasskey;

use crate::error::ApiError;

/// A registered passkey as the JSON APIs show it (never the key itself).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyView {
    /// The credential id, base64url.
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent until first used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// May be synced to other devices (WebAuthn `BE`).
    pub backup_eligible: bool,
    /// Backed up now (WebAuthn `BS`).
    pub backup_state: bool,
    /// The `amr` a login with it carries: `hwk` (bound to one device) or
    /// `swk` (may be synced).
    pub amr: String,
}

impl PasskeyView {
    pub fn new(p: &StoredPasskey) -> PasskeyView {
        PasskeyView {
            id: p.id.clone(),
            name: p.name.clone(),
            created_at: tessera_actors::clock::rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(tessera_actors::clock::rfc3339),
            backup_eligible: p.backup_eligible,
            backup_state: p.backup_state,
            amr: p.amr_key().to_string(),
        }
    }
}

/// A JSON body (the passkey endpoints take nothing else): `400` with a
/// message naming what is wrong otherwise.
pub fn json_body<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let json = ct
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the body must be JSON sent with Content-Type: application/json",
        ));
    }
    crate::extract::body::parse_body_as(ct, body)
}

/// The browser's answer to `navigator.credentials.*`, as WebAuthn JSON.
pub fn parse_credential<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "invalid_credential",
            "credential: expected the WebAuthn credential as a JSON object",
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request("invalid_credential", format!("credential: {e}")))
}
