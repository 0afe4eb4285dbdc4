//! RFC 6749 §4.4: the client credentials grant.

use std::sync::Arc;

use crate::directory::Client;
use crate::domain::GrantType;
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::tokens::Grant;

use super::{granted_audience, granted_scope, mint_access_token};

/// Issue an access token to an authenticated confidential client.
pub async fn issue(
    engine: &Engine,
    client: &Client,
    scope: Option<&str>,
    audience: &[String],
    jkt: Option<Arc<str>>,
    x5t: Option<Arc<str>>,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows(GrantType::ClientCredentials) || client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }
    let scope = granted_scope(client, scope)?;
    let aud = granted_audience(client, audience)?;
    let scope = scope.to_string();
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: client.client_id.clone(),
        username: None,
        scope: scope.clone(),
        aud,
        sid: None,
        jkt,
        x5t,
        ..Default::default()
    };
    let token_type = grant.token_type();
    let (access_token, expires_in) =
        mint_access_token(engine, client, grant, 0, "client_credentials").await?;
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token: None,
        id_token: None,
        scope,
        issued_token_type: None,
    })
}
