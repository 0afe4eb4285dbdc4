//! The tokens of a grant a user authorized in the browser (an
//! authorization code, a device code): the access token, a refresh token
//! when the client may refresh, and an ID token when `openid` was granted.

use std::sync::Arc;

use crate::directory::{Client, User};
use crate::domain::{GrantType, Scope};
use crate::engine::Engine;
use crate::oauth::{OAuthError, TokenResponse};
use crate::tokens::{Grant, IssueRefresh, RefreshMeta};

use super::claims::RequestedClaims;
use super::{id_token, mint_access_token, narrowed_audience};

/// What the user authorized, as the grant redeemed carries it.
pub struct Authorized<'a> {
    pub user: &'a User,
    /// The granted scope, as stored.
    pub scope: String,
    /// Every audience authorized (RFC 8707); the access token gets those
    /// of `resource`, or all of them.
    pub aud: Vec<Arc<str>>,
    pub resource: &'a [String],
    /// The family every token issued here belongs to.
    pub family: u128,
    pub auth_time: i64,
    pub sid: Option<uuid::Uuid>,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    /// RFC 9449: the DPoP key the tokens are bound to.
    pub jkt: Option<Arc<str>>,
    /// RFC 8705: the client certificate the access token is bound to.
    pub x5t: Option<Arc<str>>,
}

/// Issue the tokens of `a` to `client`; `grant_type` labels the metrics
/// and the refresh token's origin.
pub async fn issue(
    engine: &Engine,
    client: &Client,
    a: Authorized<'_>,
    grant_type: &'static str,
) -> Result<TokenResponse, OAuthError> {
    issue_with_claims(engine, client, a, grant_type, &RequestedClaims::default()).await
}

/// [`issue`], also releasing the individually requested `claims` (OIDC
/// Core §5.5) in the ID token and at userinfo, for this grant's life.
pub async fn issue_with_claims(
    engine: &Engine,
    client: &Client,
    a: Authorized<'_>,
    grant_type: &'static str,
    claims: &RequestedClaims,
) -> Result<TokenResponse, OAuthError> {
    let user = a.user;
    let scope = Scope::parse(&a.scope).map_err(|e| OAuthError::server_error(e.0))?;
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: user.id.to_string(),
        username: Some(user.username.clone()),
        scope: a.scope.clone(),
        aud: narrowed_audience(&a.aud, a.resource)?,
        sid: a.sid,
        jkt: a.jkt.clone(),
        x5t: a.x5t,
        claims: claims.userinfo.clone(),
        ..Default::default()
    };
    let token_type = grant.token_type();
    let (access_token, expires_in) =
        mint_access_token(engine, client, grant, a.family, grant_type).await?;
    let refresh_token = if client.allows(GrantType::RefreshToken) {
        let now = engine.clock.now();
        let meta = RefreshMeta {
            jti: crate::idmap::new_id(),
            family: a.family,
            client_id: client.client_id.clone(),
            user_id: user.id,
            username: Some(user.username.clone()),
            scope: a.scope.clone(),
            aud: a.aud,
            auth_time: a.auth_time,
            sid: a.sid,
            amr: a.amr.to_vec(),
            iat: now,
            exp: now.saturating_add(engine.config.refresh_token_ttl),
            family_deadline: now.saturating_add(engine.config.max_family_lifetime),
            used: false,
            rotating: client.is_public() || engine.config.rotate_confidential_refresh,
            origin: grant_type.into(),
            // RFC 9449 §5: a public client's refresh token is bound to the
            // key; a confidential client authenticates anyway.
            jkt: if client.is_public() { a.jkt } else { None },
            claims: claims.clone(),
            ..Default::default()
        };
        let t = engine.issuer.send(IssueRefresh(meta)).await??;
        metrics::counter!("tessera_tokens_issued_total", "kind" => "refresh_token", "grant" => grant_type, "format" => "opaque")
            .increment(1);
        Some(t)
    } else {
        None
    };
    let id_token = if scope.contains("openid") {
        Some(id_token::mint_with(
            engine,
            id_token::IdTokenInput {
                client_id: &client.client_id,
                user,
                scope: &scope,
                nonce: a.nonce,
                auth_time: a.auth_time,
                sid: a.sid,
                amr: a.amr,
                access_token: Some(&access_token),
            },
            &claims.id_token,
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
        scope: a.scope,
        issued_token_type: None,
    })
}
