//! RFC 8628 §3.4-3.5: a device polling for the tokens of its device
//! authorization.

use std::sync::Arc;

use crate::device::{DeviceError, DeviceGrants, Poll};
use crate::directory::Client;
use crate::domain::GrantType;
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::secret;

use super::{granted_audience, user_tokens};

/// The metrics label of the grant.
pub const LABEL: &str = "device_code";

/// What a poll ended in, for the metrics.
pub fn outcome(r: &Result<TokenResponse, OAuthError>) -> &'static str {
    match r {
        Ok(_) => "issued",
        Err(e) => match e.code {
            ErrorCode::AuthorizationPending => "pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "denied",
            ErrorCode::ExpiredToken => "expired",
            ErrorCode::InvalidGrant => "invalid",
            _ => "error",
        },
    }
}

/// Answer a poll with `device_code`: pending, slow down, denied, expired,
/// or the tokens (once).
pub async fn poll(
    engine: &Engine,
    grants: &DeviceGrants,
    client: &Client,
    device_code: &str,
    jkt: Option<Arc<str>>,
    x5t: Option<Arc<str>>,
    resource: &[String],
) -> Result<TokenResponse, OAuthError> {
    if !client.allows(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device_code grant",
        ));
    }
    if !resource.is_empty() {
        granted_audience(client, resource)?;
    }
    let now = engine.clock.now();
    let id = secret::sha256(device_code.as_bytes());
    let polled = grants
        .poll(id, &client.client_id, now)
        .await
        .map_err(|e: DeviceError| OAuthError::unavailable(e.to_string()))?;
    let (request, approval) = match polled {
        Poll::Pending => {
            return Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet; poll again after the interval",
            ))
        }
        Poll::SlowDown(interval) => {
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                format!("polling too fast: wait at least {interval} seconds between polls"),
            ))
        }
        Poll::Denied => {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user denied the authorization",
            ))
        }
        Poll::Expired => {
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device_code has expired; start a new device authorization",
            ))
        }
        Poll::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the device_code is invalid, was already used or was issued to another client",
            ))
        }
        Poll::Approved(request, approval) => (request, approval),
    };
    let user = engine
        .users
        .get(&approval.user_id)
        .filter(|u| u.status == crate::directory::UserStatus::Active)
        .ok_or_else(|| {
            OAuthError::invalid_grant("the user who approved no longer exists or is disabled")
        })?;
    // RFC 8707: the resources the device asked for (all the client's when
    // it named none); the access token for those asked for now.
    let aud = granted_audience(client, &request.resources)?;
    if !resource.iter().all(|r| aud.iter().any(|a| a.as_ref() == r)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "the requested resource is not one this authorization covers",
        ));
    }
    user_tokens::issue(
        engine,
        client,
        user_tokens::Authorized {
            user: &user,
            scope: request.scope,
            aud,
            resource,
            family: crate::idmap::new_id(),
            auth_time: approval.auth_time,
            sid: approval.sid,
            amr: &approval.amr,
            nonce: None,
            jkt,
            x5t,
        },
        LABEL,
    )
    .await
}
