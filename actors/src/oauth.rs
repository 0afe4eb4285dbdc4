//! OAuth protocol errors and the token response, shared by every grant.

use serde::Serialize;

/// RFC 6749 §5.2 error codes (plus RFC 8707's `invalid_target` and the
/// RFC 6749 §4.1.2.1 codes the token endpoint can also need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// §5.2: missing/duplicated/malformed parameter.
    InvalidRequest,
    /// §5.2: client authentication failed (401).
    InvalidClient,
    /// §5.2: the grant (code, refresh token, credentials) is invalid.
    InvalidGrant,
    /// §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// §5.2: the requested scope is invalid or exceeds what was granted.
    InvalidScope,
    /// RFC 8707 §2: the requested resource/audience is not allowed.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is missing or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: send a proof with the server's nonce (`DPoP-Nonce`).
    UseDpopNonce,
    /// §4.1.2.1: the response type is not supported (answered by the
    /// pushed authorization request endpoint, RFC 9126 §2.3).
    UnsupportedResponseType,
    /// RFC 9101 §6.3: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9126 §2.2, RFC 9101 §7: the request_uri is unknown, used or
    /// expired.
    InvalidRequestUri,
    /// §4.1.2.1: an unexpected condition.
    ServerError,
    /// §4.1.2.1: overloaded or a store write failed; try again.
    TemporarilyUnavailable,
    /// RFC 8628 §3.5: the user has not answered yet.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grew.
    SlowDown,
    /// RFC 8628 §3.5 (RFC 6749 §4.1.2.1): the user denied the request.
    AccessDenied,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

/// An OAuth error with a description made only of printable ASCII without
/// `"` and `\` (RFC 6749 §5.2 `error_description` charset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl AsRef<str>) -> OAuthError {
        let description = description
            .as_ref()
            .chars()
            .map(|c| {
                if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                    c
                } else {
                    '\''
                }
            })
            .collect();
        OAuthError { code, description }
    }
    pub fn invalid_request(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn unavailable(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, d)
    }
    pub fn server_error(d: impl AsRef<str>) -> Self {
        Self::new(ErrorCode::ServerError, d)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store write failed");
        OAuthError::unavailable("the token store could not persist the request; try again")
    }
}

impl From<actix::MailboxError> for OAuthError {
    fn from(e: actix::MailboxError) -> Self {
        tracing::error!(error = %e, "actor unavailable");
        OAuthError::unavailable("the server is restarting a component; try again")
    }
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}
