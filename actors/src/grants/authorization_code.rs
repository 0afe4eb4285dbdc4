//! RFC 6749 §4.1.3: exchanging an authorization code.

use std::sync::Arc;

use crate::directory::Client;
use crate::domain::GrantType;
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::secret;
use crate::tokens::{CodeError, ExchangeCode};

use super::{granted_audience, user_tokens};

/// Redeem `code`; the tokens are bound to `jkt` (DPoP) or `x5t` (the
/// client certificate) when given, for the `resource`s asked (RFC 8707).
#[allow(clippy::too_many_arguments)]
pub async fn exchange(
    engine: &Engine,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    jkt: Option<Arc<str>>,
    x5t: Option<Arc<str>>,
    resource: &[String],
) -> Result<TokenResponse, OAuthError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ));
    }
    // RFC 8707: resources the client may not have at all are refused
    // before the code is touched (those beyond the code's, by the issuer).
    if !resource.is_empty() {
        granted_audience(client, resource)?;
    }
    let exchanged = engine
        .issuer
        .send(ExchangeCode {
            key: secret::token_key(code),
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.map(str::to_string),
            verifier: verifier.map(str::to_string),
            family_lifetime: engine.config.max_family_lifetime,
            jkt: jkt.clone(),
            resource: resource.to_vec(),
        })
        .await?;
    let code = match exchanged {
        Ok(c) => c,
        Err(CodeError::Downgrade) => {
            return Err(OAuthError::invalid_request(
                CodeError::Downgrade.to_string(),
            ))
        }
        Err(CodeError::Store(e)) => return Err(OAuthError::unavailable(e)),
        Err(CodeError::Target) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                CodeError::Target.to_string(),
            ))
        }
        Err(e) => return Err(OAuthError::invalid_grant(e.to_string())),
    };
    let user = engine
        .users
        .get(&code.user_id)
        .filter(|u| u.status == crate::directory::UserStatus::Active)
        .ok_or_else(|| {
            OAuthError::invalid_grant("the user of this code no longer exists or is disabled")
        })?;
    // RFC 8707: the resources authorized (all the client's when the
    // request named none); the access token for those asked for now.
    let aud = if code.resources.is_empty() {
        granted_audience(client, &[])?
    } else {
        granted_audience(client, &code.resources)?
    };
    user_tokens::issue_with_claims(
        engine,
        client,
        user_tokens::Authorized {
            user: &user,
            scope: code.scope.clone(),
            aud,
            resource,
            family: code.family,
            auth_time: code.auth_time,
            sid: code.sid,
            amr: &code.amr,
            nonce: code.nonce.as_deref(),
            jkt,
            x5t,
        },
        "authorization_code",
        &code.claims,
    )
    .await
}
