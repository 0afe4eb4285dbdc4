//! RFC 6749 §6: the refresh token grant.

use std::sync::Arc;

use crate::directory::{Client, UserStatus};
use crate::domain::{GrantType, Scope};
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::secret;
use crate::tokens::{Grant, Refresh, RefreshError};

use super::{id_token, mint_access_token, narrowed_audience};

pub async fn refresh(
    engine: &Engine,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    jkt: Option<Arc<str>>,
    x5t: Option<Arc<str>>,
    resource: &[String],
) -> Result<TokenResponse, OAuthError> {
    if !client.allows(GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the refresh_token grant",
        ));
    }
    let scope = scope
        .map(Scope::parse)
        .transpose()
        .map_err(|e| OAuthError::invalid_scope(e.0))?;
    let outcome = engine
        .issuer
        .send(Refresh {
            key: secret::token_key(token),
            client_id: client.client_id.clone(),
            scope,
            ttl: engine.config.refresh_token_ttl,
            jkt: jkt.clone(),
            resource: resource.to_vec(),
        })
        .await?;
    let out = match outcome {
        Ok(o) => o,
        Err(RefreshError::Scope) => {
            return Err(OAuthError::invalid_scope(RefreshError::Scope.to_string()))
        }
        Err(RefreshError::Store(e)) => return Err(OAuthError::unavailable(e)),
        Err(RefreshError::Target) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                RefreshError::Target.to_string(),
            ))
        }
        Err(e) => return Err(OAuthError::invalid_grant(e.to_string())),
    };
    let meta = &out.meta;
    let user = engine
        .users
        .get(&meta.user_id)
        .filter(|u| u.status == UserStatus::Active && u.credentials_changed_at <= meta.iat)
        .ok_or_else(|| {
            OAuthError::invalid_grant(
                "the user of this grant is gone, disabled, or changed credentials",
            )
        })?;
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: user.id.to_string(),
        username: Some(user.username.clone()),
        scope: out.scope.clone(),
        // RFC 8707: a narrower audience for this access token; the
        // refresh token keeps all it was granted.
        aud: narrowed_audience(&meta.aud, resource)?,
        sid: meta.sid,
        jkt,
        act: meta.act.clone(),
        anc: meta.anc.clone(),
        x5t,
        claims: meta.claims.userinfo.clone(),
    };
    let token_type = grant.token_type();
    let (access_token, expires_in) =
        mint_access_token(engine, client, grant, meta.family, "refresh_token").await?;
    let scope = Scope::parse(&out.scope).map_err(|e| OAuthError::server_error(e.0))?;
    let id_token = if scope.contains("openid") {
        Some(id_token::mint_with(
            engine,
            id_token::IdTokenInput {
                client_id: &client.client_id,
                user: &user,
                scope: &scope,
                nonce: None,
                auth_time: meta.auth_time,
                sid: meta.sid,
                amr: &meta.amr,
                access_token: Some(&access_token),
            },
            &meta.claims.id_token,
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token: out.new_token,
        id_token,
        scope: out.scope,
        issued_token_type: None,
    })
}
