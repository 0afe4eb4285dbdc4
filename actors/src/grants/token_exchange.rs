//! RFC 8693: token exchange. A client trades a token it was handed (the
//! subject token) for a new one that is never broader: a subset of the
//! subject's scope, an audience the subject had or the client's policy
//! names, and no life beyond the subject's. With an actor token the new
//! token says who acts for the subject (`act`, nested when the subject
//! already named an actor); without one the client impersonates the
//! subject, which its policy must allow.
//!
//! The new token carries the ids of every token it came from (`anc`), and
//! introspection checks them: revoking the subject, or anything it was
//! exchanged from, revokes the exchanged token at once, with no record of
//! the exchange needed on any node.

use std::sync::Arc;

use crate::directory::{Client, ExchangePolicy, UserStatus};
use crate::domain::{valid_audience, GrantType, Scope, TokenFormat};
use crate::engine::Engine;
use crate::oauth::{ErrorCode, OAuthError, TokenResponse};
use crate::tokens::{Act, Grant, IssueRefresh, RefreshMeta, TokenKind};

use super::{mint_access_token_with, Mint};

/// RFC 8693 §3 token type identifiers.
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Longest actor chain an exchanged token may carry.
const MAX_ACTORS: usize = 8;

/// A token exchange request's parameters.
#[derive(Debug, Default)]
pub struct ExchangeRequest<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: &'a str,
    pub actor_token: Option<&'a str>,
    pub actor_token_type: Option<&'a str>,
    /// `audience` and `resource` values together.
    pub audience: Vec<String>,
    pub scope: Option<&'a str>,
    pub requested_token_type: Option<&'a str>,
    /// Thumbprint of the request's DPoP key, if it had a proof.
    pub jkt: Option<Arc<str>>,
}

/// A presented token, as far as an exchange needs it.
struct Presented {
    jti: u128,
    family: u128,
    exp: i64,
    iat: i64,
    grant: Arc<Grant>,
}

fn invalid_subject() -> OAuthError {
    OAuthError::invalid_grant("the subject token is invalid, expired or revoked")
}

/// What the client asks for back.
enum Wanted {
    Access(Option<TokenFormat>),
    Refresh,
}

pub async fn exchange(
    engine: &Engine,
    client: &Client,
    req: ExchangeRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows(GrantType::TokenExchange) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the token exchange grant",
        ));
    }
    let policy = client.token_exchange.clone().unwrap_or_default();
    let wanted = match req.requested_token_type {
        None | Some(ACCESS_TOKEN) => Wanted::Access(None),
        Some(JWT) => Wanted::Access(Some(TokenFormat::Jwt)),
        Some(REFRESH_TOKEN) if policy.refresh_tokens => Wanted::Refresh,
        Some(REFRESH_TOKEN) => {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not obtain refresh tokens by token exchange",
            ))
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "requested_token_type must be an access_token, jwt or refresh_token type",
            ))
        }
    };
    let subject = presented(engine, req.subject_token, req.subject_token_type).await?;
    if !for_client(client, &subject.grant) {
        return Err(OAuthError::invalid_grant(
            "the subject token was not issued to or for this client",
        ));
    }
    let act = actor_chain(engine, client, &policy, &req, &subject).await?;
    let scope = match req.scope {
        None => subject.grant.scope.clone(),
        Some(s) => {
            let asked = Scope::parse(s).map_err(|e| OAuthError::invalid_scope(e.0))?;
            let had = Scope::parse(&subject.grant.scope).unwrap_or_default();
            if !asked.is_subset_of(&had) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the subject token's",
                ));
            }
            asked.to_string()
        }
    };
    let aud = audience(&policy, &subject.grant, &req.audience)?;
    // Every token this one comes from: the subject, its family, and what
    // the subject itself came from.
    let mut anc = subject.grant.anc.clone();
    for id in [subject.jti, subject.family] {
        if id != 0 && !anc.contains(&id) {
            anc.push(id);
        }
    }
    let family = crate::idmap::new_id();
    let grant = Grant {
        client_id: client.client_id.clone(),
        sub: subject.grant.sub.clone(),
        username: subject.grant.username.clone(),
        scope: scope.clone(),
        aud: aud.clone(),
        sid: subject.grant.sid,
        jkt: req.jkt.clone(),
        x5t: None,
        act: act.clone(),
        anc: anc.clone(),
        claims: Vec::new(),
    };
    let token_type = grant.token_type();
    let format = match wanted {
        Wanted::Access(f) => f,
        Wanted::Refresh => None,
    };
    let mint = Mint {
        not_after: Some(subject.exp),
        format,
    };
    let (access_token, expires_in) =
        mint_access_token_with(engine, client, grant, family, "token_exchange", mint).await?;
    let (refresh_token, issued) = match wanted {
        Wanted::Access(Some(TokenFormat::Jwt)) => (None, JWT),
        Wanted::Access(_) => (None, ACCESS_TOKEN),
        Wanted::Refresh => {
            let user = uuid::Uuid::parse_str(&subject.grant.sub)
                .ok()
                .and_then(|id| engine.users.get(&id))
                .filter(|u| u.status == UserStatus::Active)
                .ok_or_else(|| {
                    OAuthError::invalid_request(
                        "a refresh token is only issued for an active user's token",
                    )
                })?;
            let now = engine.clock.now();
            let exp = now
                .saturating_add(engine.config.refresh_token_ttl)
                .min(subject.exp);
            let meta = RefreshMeta {
                jti: crate::idmap::new_id(),
                family,
                client_id: client.client_id.clone(),
                user_id: user.id,
                username: Some(user.username.clone()),
                scope: scope.clone(),
                aud,
                auth_time: subject.iat,
                sid: subject.grant.sid,
                amr: Vec::new(),
                iat: now,
                exp,
                family_deadline: exp,
                used: false,
                rotating: client.is_public() || engine.config.rotate_confidential_refresh,
                origin: "token_exchange".into(),
                jkt: if client.is_public() { req.jkt } else { None },
                act,
                anc,
                claims: Default::default(),
            };
            let t = engine.issuer.send(IssueRefresh(meta)).await??;
            metrics::counter!("tessera_tokens_issued_total", "kind" => "refresh_token", "grant" => "token_exchange", "format" => "opaque")
                .increment(1);
            (Some(t), REFRESH_TOKEN)
        }
    };
    Ok(TokenResponse {
        access_token,
        token_type,
        expires_in,
        refresh_token,
        id_token: None,
        scope,
        issued_token_type: Some(issued),
    })
}

/// A live token of ours of the stated type.
async fn presented(engine: &Engine, token: &str, kind: &str) -> Result<Presented, OAuthError> {
    let want = match kind {
        ACCESS_TOKEN | JWT => Some(TokenKind::AccessToken),
        REFRESH_TOKEN => Some(TokenKind::RefreshToken),
        ID_TOKEN => None,
        "" => {
            return Err(OAuthError::invalid_request(
                "subject_token_type and actor_token_type are required with their tokens",
            ))
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "the token type is not one tessera exchanges",
            ))
        }
    };
    if let Some(want) = want {
        let rec = engine.lookup_or_fetch(token).await?;
        if let Some(r) = rec.filter(|r| r.kind == want) {
            return Ok(Presented {
                jti: r.jti,
                family: r.family,
                exp: r.exp,
                iat: r.iat,
                grant: r.grant,
            });
        }
        if kind != JWT {
            return Err(invalid_subject());
        }
    }
    // An ID token of ours (OIDC Core §2): a user, for the client it names.
    // It carries no scope: what it stands for is `openid`.
    let claims = engine
        .verify_id_token_hint(token)
        .map_err(|_| invalid_subject())?;
    let user = uuid::Uuid::parse_str(&claims.sub)
        .ok()
        .and_then(|id| engine.users.get(&id))
        .filter(|u| u.status == UserStatus::Active && u.credentials_changed_at <= claims.iat)
        .ok_or_else(invalid_subject)?;
    if engine.revoked.subject_revoked(&claims.sub, claims.iat) {
        return Err(invalid_subject());
    }
    let aud: Vec<Arc<str>> = match &claims.aud {
        crate::introspection::OneOrMany::One(a) => vec![Arc::from(a.as_str())],
        crate::introspection::OneOrMany::Many(m) => {
            m.iter().map(|a| Arc::from(a.as_str())).collect()
        }
    };
    Ok(Presented {
        jti: 0,
        family: 0,
        exp: claims.exp,
        iat: claims.iat,
        grant: Arc::new(Grant {
            client_id: aud.first().map(|a| a.to_string()).unwrap_or_default(),
            sub: claims.sub.clone(),
            username: Some(user.username.clone()),
            scope: "openid".into(),
            aud,
            sid: claims
                .sid
                .as_deref()
                .and_then(|s| uuid::Uuid::parse_str(s).ok()),
            ..Default::default()
        }),
    })
}

/// Whether a token was issued to `client` or names it (or an audience it
/// serves) as its audience: only such a token is the client's to trade.
fn for_client(client: &Client, g: &Grant) -> bool {
    g.client_id == client.client_id
        || g.aud.iter().any(|a| {
            a.as_ref() == client.client_id
                || client.introspect_audiences.iter().any(|x| x == a.as_ref())
        })
}

/// The new token's `act`: the actor token's subject in front of the
/// subject token's chain; or, without an actor token, the subject's chain
/// as it is, if the client may impersonate.
async fn actor_chain(
    engine: &Engine,
    client: &Client,
    policy: &ExchangePolicy,
    req: &ExchangeRequest<'_>,
    subject: &Presented,
) -> Result<Option<Arc<Act>>, OAuthError> {
    let Some(token) = req.actor_token else {
        if req.actor_token_type.is_some() {
            return Err(OAuthError::invalid_request(
                "actor_token_type without actor_token",
            ));
        }
        if !policy.impersonation {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client must present an actor_token (it may not impersonate)",
            ));
        }
        return Ok(subject.grant.act.clone());
    };
    let kind = req.actor_token_type.unwrap_or("");
    let actor = presented(engine, token, kind).await.map_err(|e| {
        if e.code == ErrorCode::InvalidGrant {
            OAuthError::invalid_grant("the actor token is invalid, expired or revoked")
        } else {
            e
        }
    })?;
    if actor.grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the actor token was not issued to this client",
        ));
    }
    let act = Act {
        sub: actor.grant.sub.clone(),
        client_id: Some(actor.grant.client_id.clone()),
        act: subject.grant.act.as_deref().cloned().map(Box::new),
    };
    if act.depth() > MAX_ACTORS {
        return Err(OAuthError::invalid_request(
            "the delegation chain is longer than 8 actors",
        ));
    }
    Ok(Some(Arc::new(act)))
}

/// RFC 8693 §2.1 `audience` / RFC 8707 `resource`: each one the subject
/// token had or the policy names; none asked means the subject's.
fn audience(
    policy: &ExchangePolicy,
    subject: &Grant,
    asked: &[String],
) -> Result<Vec<Arc<str>>, OAuthError> {
    if asked.is_empty() {
        return Ok(subject.aud.clone());
    }
    let mut out: Vec<Arc<str>> = Vec::new();
    for a in asked {
        let allowed = valid_audience(a)
            && (policy.audiences.iter().any(|x| x == a)
                || subject.aud.iter().any(|x| x.as_ref() == a));
        if !allowed {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested audience is neither the subject token's nor allowed by this client's exchange policy",
            ));
        }
        if !out.iter().any(|x| x.as_ref() == a) {
            out.push(Arc::from(a.as_str()));
        }
    }
    Ok(out)
}
