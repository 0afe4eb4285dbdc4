//! The browser session cookie, and `Caller`: the user behind a request, by
//! session cookie or by a bearer access token of that user.

use std::sync::Arc;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use tessera_actors::directory::{User, UserStatus};
use tessera_actors::sessions::{Session, SessionState};

use crate::error::ApiError;
use crate::state::AppState;

/// `__Host-` pins the cookie to this origin, path `/`, over HTTPS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tessera_session"
    } else {
        "tessera_session"
    }
}

/// The cookie carrying a session secret: `HttpOnly`, `SameSite=Lax`,
/// `Path=/`, `Secure` unless plain-HTTP development is configured.
pub fn session_cookie(state: &AppState, secret: &str, session: &Session) -> Cookie<'static> {
    let secure = !state.insecure_cookies;
    let max_age = (session.absolute_expires_at - state.engine.clock.now()).max(0);
    Cookie::build(cookie_name(secure), secret.to_string())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

/// A cookie that deletes the session cookie.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let secure = !state.insecure_cookies;
    let mut c = Cookie::build(cookie_name(secure), "")
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    c.make_removal();
    c
}

/// The raw session secret the request carries, if any.
pub fn cookie_secret(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(cookie_name(!state.insecure_cookies))
        .map(|c| c.value().to_string())
}

/// Whether `s` still authenticates `u` now. A console session (kept by
/// the same registry under its own cookie) never signs anyone in to the
/// other pages, whatever cookie its secret arrives in.
fn valid(state: &AppState, s: &Session, u: &User) -> bool {
    let now = state.engine.clock.now();
    s.is_live(now)
        && u.status == UserStatus::Active
        && u.credentials_changed_at <= s.created_at
        && s.amr.first().map(String::as_str) != Some(crate::routes::console::session::MARK)
}

/// The live, fully authenticated session of the request, with its user.
pub fn current_session(req: &HttpRequest, state: &AppState) -> Option<(Arc<Session>, Arc<User>)> {
    let secret = cookie_secret(req, state)?;
    let s = state.engine.sessions.by_cookie(&secret)?;
    if s.state != SessionState::Active {
        return None;
    }
    let u = state.engine.users.get(&s.user_id)?;
    valid(state, &s, &u).then_some((s, u))
}

/// The session of the request if it is waiting for its second factor.
pub fn pending_session(req: &HttpRequest, state: &AppState) -> Option<(Arc<Session>, Arc<User>)> {
    let secret = cookie_secret(req, state)?;
    let s = state.engine.sessions.by_cookie(&secret)?;
    if s.state != SessionState::PendingMfa {
        return None;
    }
    let u = state.engine.users.get(&s.user_id)?;
    valid(state, &s, &u).then_some((s, u))
}

/// The client address used for rate limiting and session records.
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerVia {
    Cookie,
    Bearer,
}

/// The authenticated user of a request.
pub struct Caller {
    pub user: Arc<User>,
    /// The current session: the cookie's, or the one the bearer token's
    /// grant came from (if it is still live).
    pub session: Option<Arc<Session>>,
    pub via: CallerVia,
    /// The bearer token's scope (cookie callers: none).
    pub scope: Option<String>,
    /// An account-recovery token: it may change the password and nothing
    /// else. Only [`PasswordCaller`] accepts it.
    pub recovery_only: bool,
    /// The access token the caller presented (cookie callers: none).
    pub token: Option<tessera_actors::tokens::TokenRecord>,
}

use tessera_actors::grants::first_party::RECOVERY_SCOPE;

pub async fn resolve_caller(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(presented) = crate::extract::dpop::access_token(req, state).await {
        let rec = presented.map_err(|refused| {
            let mut e = ApiError::new(
                refused.status,
                if refused.error == "invalid_dpop_proof" {
                    "invalid_dpop_proof"
                } else {
                    "unauthorized"
                },
                if refused.error == "invalid_token" && !refused.dpop {
                    "the bearer token is invalid, expired or revoked"
                } else {
                    refused.description
                },
            );
            if refused.dpop {
                e.challenge = Some(refused.challenge());
            }
            e
        })?;
        let user = uuid::Uuid::parse_str(&rec.grant.sub)
            .ok()
            .and_then(|id| state.engine.users.get(&id))
            .filter(|u| u.status == UserStatus::Active && u.credentials_changed_at <= rec.iat)
            .ok_or_else(|| {
                ApiError::unauthorized("the bearer token does not belong to an active user")
            })?;
        let session = rec
            .grant
            .sid
            .and_then(|sid| state.engine.sessions.get(&sid))
            .filter(|s| s.state == SessionState::Active && valid(state, s, &user));
        let recovery_only = rec.grant.scope.split(' ').any(|s| s == RECOVERY_SCOPE);
        return Ok(Caller {
            user,
            session,
            via: CallerVia::Bearer,
            scope: Some(rec.grant.scope.clone()),
            recovery_only,
            token: Some(rec),
        });
    }
    let (session, user) = current_session(req, state)
        .ok_or_else(|| ApiError::unauthorized("a session cookie or bearer token is required"))?;
    // Activity pushes the idle expiry out; the registry persists it lazily.
    if state.engine.clock.now() - session.last_seen_at >= 60 {
        state
            .engine
            .session_registry
            .do_send(tessera_actors::sessions::Touch(session.id));
    }
    Ok(Caller {
        user,
        session: Some(session),
        via: CallerVia::Cookie,
        scope: None,
        recovery_only: false,
        token: None,
    })
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                return Err(ApiError::internal("application state missing").into());
            };
            match resolve_caller(&req, state).await {
                Ok(c) if c.recovery_only => Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "an account-recovery token may only change the password",
                )
                .into()),
                Ok(c) => Ok(c),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// A caller allowed to change the password: any [`Caller`], or the bearer
/// of an account-recovery token.
pub struct PasswordCaller(pub Caller);

impl FromRequest for PasswordCaller {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                return Err(ApiError::internal("application state missing").into());
            };
            resolve_caller(&req, state)
                .await
                .map(PasswordCaller)
                .map_err(Into::into)
        })
    }
}
