//! First-party account tokens (SPEC §2 and §4): what registration, account
//! recovery and personal tokens hand out. They are issued to the built-in
//! account client (a public, first-party client created at start), or to a
//! named client, as a refresh-token family plus one access token, exactly
//! like an authorization-code grant but without the browser round trip.

use std::sync::Arc;

use crate::directory::{Client, User, UserStatus};
use crate::domain::Scope;
use crate::engine::Engine;
use crate::oauth::OAuthError;
use crate::tokens::{Grant, IssueRefresh, RefreshMeta};

use super::{granted_audience, mint_access_token};

/// What to issue, and why.
#[derive(Debug, Clone)]
pub struct AccountGrant<'a> {
    pub user: &'a User,
    /// Issued to this client; the account client when `None`.
    pub client: Option<&'a Client>,
    pub scope: Scope,
    /// What created the family (`registration`, `account_recovery`,
    /// `personal`, ...): kept on the refresh token, told by introspection.
    pub origin: &'static str,
    /// Whether the refresh token is single use (rotated on every refresh).
    pub rotating: bool,
    /// Lifetime of the refresh token, seconds (the family's too).
    pub refresh_ttl: i64,
    /// The browser session this came from, if any.
    pub sid: Option<uuid::Uuid>,
    /// How the user authenticated (`pwd`, `otp`, ...).
    pub amr: Vec<String>,
}

/// An access token and the refresh token of its (new) family.
#[derive(Debug, Clone)]
pub struct AccountTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    /// The refresh token's id (its `jti`): what lists and deletes it.
    pub refresh_id: u128,
    /// The grant family: revoking it kills every token minted from it.
    pub family: u128,
    pub scope: String,
    pub created_at: i64,
    pub refresh_expires_at: i64,
}

/// The built-in account client.
pub fn account_client(engine: &Engine) -> Result<Arc<Client>, OAuthError> {
    engine
        .clients
        .get(&engine.config.accounts.client_id)
        .ok_or_else(|| OAuthError::unavailable("the account client is not registered yet"))
}

/// Issue a new family for `user`: one access token and one refresh token.
pub async fn issue(engine: &Engine, g: AccountGrant<'_>) -> Result<AccountTokens, OAuthError> {
    if g.user.status != UserStatus::Active {
        return Err(OAuthError::invalid_grant("the account is not active"));
    }
    let owned;
    let client = match g.client {
        Some(c) => c,
        None => {
            owned = account_client(engine)?;
            &owned
        }
    };
    let now = engine.clock.now();
    let family = crate::idmap::new_id();
    let refresh_id = crate::idmap::new_id();
    let aud = granted_audience(client, &[])?;
    let scope = g.scope.to_string();
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: g.user.id.to_string(),
        username: Some(g.user.username.clone()),
        scope: scope.clone(),
        aud: aud.clone(),
        sid: g.sid,
        ..Default::default()
    };
    let (access_token, expires_in) =
        mint_access_token(engine, client, grant, family, g.origin).await?;
    let refresh_expires_at = now.saturating_add(g.refresh_ttl);
    let meta = RefreshMeta {
        jti: refresh_id,
        family,
        client_id: client.client_id.clone(),
        user_id: g.user.id,
        username: Some(g.user.username.clone()),
        scope: scope.clone(),
        aud,
        auth_time: now,
        sid: g.sid,
        amr: g.amr,
        iat: now,
        exp: refresh_expires_at,
        family_deadline: refresh_expires_at,
        used: false,
        rotating: g.rotating,
        origin: g.origin.into(),
        ..Default::default()
    };
    let refresh_token = engine
        .issuer
        .send(IssueRefresh(meta))
        .await?
        .map_err(|e| OAuthError::unavailable(e.to_string()))?;
    metrics::counter!("tessera_tokens_issued_total", "kind" => "refresh_token", "grant" => g.origin, "format" => "opaque")
        .increment(1);
    Ok(AccountTokens {
        access_token,
        expires_in,
        refresh_token,
        refresh_id,
        family,
        scope,
        created_at: now,
        refresh_expires_at,
    })
}

/// The scope of an account-recovery token: it may change the password and
/// nothing else (the server's extractors enforce it).
pub const RECOVERY_SCOPE: &str = "account:recovery";

/// An access token, and no refresh token, that lets `user` set a new
/// password after proving a TOTP code in account recovery. It lives as long
/// as a mailed code (`accounts.code_ttl`) and belongs to a family of its own,
/// so changing the password (which ends every token) ends it too.
pub async fn issue_recovery(engine: &Engine, user: &User) -> Result<(String, i64), OAuthError> {
    if user.status != UserStatus::Active {
        return Err(OAuthError::invalid_grant("the account is not active"));
    }
    let mut client = (*account_client(engine)?).clone();
    client.access_token_ttl = Some(engine.config.accounts.code_ttl);
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: user.id.to_string(),
        username: Some(user.username.clone()),
        scope: RECOVERY_SCOPE.into(),
        aud: granted_audience(&client, &[])?,
        sid: None,
        ..Default::default()
    };
    mint_access_token(
        engine,
        &client,
        grant,
        crate::idmap::new_id(),
        "account_recovery",
    )
    .await
}
