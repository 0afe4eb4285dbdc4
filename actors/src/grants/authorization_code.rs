//! RFC 6749 §4.1.3: exchanging an authorization code.

use std::sync::Arc;

use crate::directory::Client;
use crate::domain::{GrantType, Scope};
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::secret;
use crate::tokens::{CodeError, ExchangeCode, Grant, IssueRefresh, RefreshMeta};

use super::{granted_audience, id_token, mint_access_token, narrowed_audience};

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
    let scope = Scope::parse(&code.scope).map_err(|e| OAuthError::server_error(e.0))?;
    // RFC 8707: the resources authorized (all the client's when the
    // request named none); the access token for those asked for now.
    let aud = if code.resources.is_empty() {
        granted_audience(client, &[])?
    } else {
        granted_audience(client, &code.resources)?
    };
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: user.id.to_string(),
        username: Some(user.username.clone()),
        scope: code.scope.clone(),
        aud: narrowed_audience(&aud, resource)?,
        sid: code.sid,
        jkt: jkt.clone(),
        x5t,
        ..Default::default()
    };
    let token_type = grant.token_type();
    let (access_token, expires_in) =
        mint_access_token(engine, client, grant, code.family, "authorization_code").await?;
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        let now = engine.clock.now();
        let meta = RefreshMeta {
            jti: crate::idmap::new_id(),
            family: code.family,
            client_id: client.client_id.clone(),
            user_id: user.id,
            username: Some(user.username.clone()),
            scope: code.scope.clone(),
            aud,
            auth_time: code.auth_time,
            sid: code.sid,
            amr: code.amr.clone(),
            iat: now,
            exp: now.saturating_add(engine.config.refresh_token_ttl),
            family_deadline: now.saturating_add(engine.config.max_family_lifetime),
            used: false,
            rotating: client.is_public() || engine.config.rotate_confidential_refresh,
            origin: "authorization_code".into(),
            // RFC 9449 §5: a public client's refresh token is bound to the
            // key; a confidential client authenticates anyway.
            jkt: if client.is_public() { jkt } else { None },
            ..Default::default()
        };
        let t = engine.issuer.send(IssueRefresh(meta)).await??;
        metrics::counter!("tessera_tokens_issued_total", "kind" => "refresh_token", "grant" => "authorization_code", "format" => "opaque")
            .increment(1);
        Some(t)
    } else {
        None
    };
    let id_token = if scope.contains("openid") {
        Some(id_token::mint(
            engine,
            id_token::IdTokenInput {
                client_id: &client.client_id,
                user: &user,
                scope: &scope,
                nonce: code.nonce.as_deref(),
                auth_time: code.auth_time,
                sid: code.sid,
                amr: &code.amr,
                access_token: Some(&access_token),
            },
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        id_token,
        scope: code.scope,
        issued_token_type: None,
    })
}
