//! Tokens: look one up (by its value or its `jti`) and revoke a token or a
//! whole grant. Revocation goes through the revocation list as
//! `/oauth2/token/revoke` does: durable, and on a cluster applied by every
//! node (waited for in strict mode) before it answers.

use std::sync::Arc;

use serde::Serialize;
use tessera_actors::introspection::Active;
use tessera_actors::revocation::Revoke;
use tessera_actors::secret::token_key;
use tessera_actors::tokens::{FetchToken, TokenKind, TokenRecord};
use utoipa::ToSchema;

use crate::audit::{audited_with, Who};
use crate::error::ApiError;
use crate::state::AppState;

/// Longest token value looked at.
const MAX_TOKEN_LEN: usize = 8192;

/// What to look up or revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// The token itself (opaque or JWT).
    Token(String),
    /// A token's `jti` (a UUID).
    Jti(String),
    /// A grant (the family of refresh and access tokens of one
    /// authorization), by its id (a UUID).
    Grant(String),
}

/// What the server knows of a token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenLookup {
    /// The server holds a record of the token.
    pub found: bool,
    /// RFC 7662: what introspection by a resource server allowed to see
    /// every token answers now (`{"active":false}` unless it is active).
    #[schema(value_type = Object)]
    pub introspection: serde_json::Value,
    /// `access_token`, `refresh_token` or `entity_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The grant the token belongs to (revoke it to end them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The browser session the grant came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub expired: bool,
    /// The token, its grant or its subject's tokens were revoked.
    pub revoked: bool,
}

fn parse_uuid(s: &str, field: &str) -> Result<u128, ApiError> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.as_u128())
        .map_err(|_| ApiError::bad_request("invalid_field", format!("{field}: not a UUID")))
}

fn check_token(t: &str) -> Result<(), ApiError> {
    if t.is_empty() || t.len() > MAX_TOKEN_LEN {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("token: 1-{MAX_TOKEN_LEN} bytes"),
        ));
    }
    Ok(())
}

fn revoked(state: &AppState, rec: &TokenRecord) -> bool {
    let r = &state.engine.revoked;
    r.contains(rec.jti)
        || r.contains(rec.family)
        || r.subject_revoked(&rec.grant.sub, rec.iat)
        || rec.grant.anc.iter().any(|a| r.contains(*a))
}

/// The record of a token by value, whatever its state: this node's index,
/// else the store (a token of another node not applied here yet), else a
/// JWT of ours this node holds no record of.
async fn record_of(state: &AppState, token: &str) -> Result<Option<TokenRecord>, ApiError> {
    let key = token_key(token);
    if let Some(r) = state.engine.tokens.get(key) {
        return Ok(Some(r));
    }
    state.engine.issuer.send(FetchToken(key)).await??;
    if let Some(r) = state.engine.tokens.get(key) {
        return Ok(Some(r));
    }
    Ok(state.engine.lookup(token))
}

fn describe(state: &AppState, rec: Option<TokenRecord>, token: Option<&str>) -> TokenLookup {
    let Some(rec) = rec else {
        return TokenLookup {
            found: false,
            introspection: serde_json::json!({"active": false}),
            token_use: None,
            jti: None,
            client_id: None,
            sub: None,
            username: None,
            scope: None,
            grant_id: None,
            session_id: None,
            iat: None,
            exp: None,
            expired: false,
            revoked: false,
        };
    };
    let now = state.engine.clock.now();
    let expired = rec.exp <= now;
    let revoked = revoked(state, &rec);
    let active = !expired && !revoked && rec.iat <= now;
    let introspection = if active {
        let entity = match (rec.kind, token) {
            (TokenKind::EntityToken, Some(t)) => state.engine.tokens.entity_meta(token_key(t)),
            _ => None,
        };
        let a = Active {
            origin: state.engine.tokens.origin_of(rec.family),
            record: rec.clone(),
            iss: Arc::from(state.engine.config.issuer.as_str()),
            entity,
        };
        serde_json::to_value(&a).unwrap_or_else(|_| serde_json::json!({"active": false}))
    } else {
        serde_json::json!({"active": false})
    };
    let g = &rec.grant;
    TokenLookup {
        found: true,
        introspection,
        token_use: Some(rec.kind.token_use().to_string()),
        jti: (rec.jti != 0).then(|| uuid::Uuid::from_u128(rec.jti).to_string()),
        client_id: Some(g.client_id.clone()),
        sub: Some(g.sub.clone()),
        username: g.username.clone(),
        scope: Some(g.scope.clone()),
        grant_id: (rec.family != 0).then(|| uuid::Uuid::from_u128(rec.family).to_string()),
        session_id: g.sid.map(|s| s.to_string()),
        iat: Some(rec.iat),
        exp: Some(rec.exp),
        expired,
        revoked,
    }
}

/// Look a token up by its value or its `jti` (a grant id is refused).
pub async fn lookup(state: &AppState, what: &TokenRef) -> Result<TokenLookup, ApiError> {
    match what {
        TokenRef::Token(t) => {
            check_token(t)?;
            let rec = record_of(state, t).await?;
            Ok(describe(state, rec, Some(t)))
        }
        TokenRef::Jti(j) => {
            let jti = parse_uuid(j, "jti")?;
            Ok(describe(state, state.engine.tokens.by_jti(jti), None))
        }
        TokenRef::Grant(_) => Err(ApiError::bad_request(
            "invalid_request",
            "look a token up by its value (token) or its jti",
        )),
    }
}

/// What a revocation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Revoked {
    /// `token.revoke` or `grant.revoke`.
    pub action: String,
    /// The token's `jti`, or the grant's id.
    pub id: String,
    /// The grant revoked with the token (a refresh token takes its grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// Revoke a token (by value or `jti`; a refresh token takes its whole
/// grant, as RFC 7009 revocation does) or a whole grant (by id). A token
/// value the server does not know is refused (`404`); a `jti` or grant id
/// it holds no record of is still revoked, so a JWT held nowhere in memory
/// dies too.
pub async fn revoke(state: &AppState, who: &Who, what: &TokenRef) -> Result<Revoked, ApiError> {
    let action = match what {
        TokenRef::Grant(_) => "grant.revoke",
        _ => "token.revoke",
    };
    let r: Result<(Revoked, Option<String>, Option<String>), ApiError> = async {
        let engine = &state.engine;
        let now = engine.clock.now();
        // Outlive any token the grant may still hold.
        let family_until = now
            .saturating_add(
                engine
                    .config
                    .max_family_lifetime
                    .max(engine.config.accounts.personal_token_ttl),
            )
            .saturating_add(engine.config.max_access_token_ttl);
        let (ids, out) = match what {
            TokenRef::Token(t) => {
                check_token(t)?;
                let rec = record_of(state, t)
                    .await?
                    .ok_or_else(|| ApiError::not_found("no such token"))?;
                token_ids(&rec, family_until)
            }
            TokenRef::Jti(j) => {
                let jti = parse_uuid(j, "jti")?;
                match engine.tokens.by_jti(jti) {
                    Some(rec) => token_ids(&rec, family_until),
                    None => (
                        vec![(jti, now.saturating_add(engine.config.max_access_token_ttl))],
                        Revoked {
                            action: "token.revoke".into(),
                            id: uuid::Uuid::from_u128(jti).to_string(),
                            grant_id: None,
                        },
                    ),
                }
            }
            TokenRef::Grant(g) => {
                let family = parse_uuid(g, "grant_id")?;
                if family == 0 {
                    return Err(ApiError::bad_request(
                        "invalid_field",
                        "grant_id: not a grant",
                    ));
                }
                (
                    vec![(family, family_until)],
                    Revoked {
                        action: "grant.revoke".into(),
                        id: uuid::Uuid::from_u128(family).to_string(),
                        grant_id: None,
                    },
                )
            }
        };
        engine.revocations.send(Revoke(ids)).await??;
        let target = Some(out.id.clone());
        let detail = out.grant_id.as_ref().map(|g| format!("with grant {g}"));
        Ok((out, target, detail))
    }
    .await;
    // The record names the token by its jti, never by its value.
    let target = match (&r, what) {
        (Ok((_, t, _)), _) => t.clone(),
        (Err(_), TokenRef::Jti(j) | TokenRef::Grant(j)) => Some(j.chars().take(64).collect()),
        (Err(_), TokenRef::Token(_)) => None,
    };
    let r = r.map(|(out, _, detail)| (out, detail));
    audited_with(&state.engine, who, action, target, r).await
}

/// The ids to revoke for one token: itself, and its grant when it is a
/// refresh token.
fn token_ids(rec: &TokenRecord, family_until: i64) -> (Vec<(u128, i64)>, Revoked) {
    let mut ids = vec![(rec.jti, rec.exp)];
    let mut grant_id = None;
    if rec.kind == TokenKind::RefreshToken && rec.family != 0 {
        ids.push((rec.family, family_until));
        grant_id = Some(uuid::Uuid::from_u128(rec.family).to_string());
    }
    (
        ids,
        Revoked {
            action: "token.revoke".into(),
            id: uuid::Uuid::from_u128(rec.jti).to_string(),
            grant_id,
        },
    )
}
