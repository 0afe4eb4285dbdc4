//! The console's own session: opened by a sign-in (the admin token, or a
//! signed-in user with the admin role), carried by a cookie limited to
//! `/admin/console` (`HttpOnly`, `SameSite=Strict`, `Secure` over https),
//! with a short idle timeout and an absolute lifetime of its own.
//!
//! It is a session of the `SessionRegistry` marked by its `amr`
//! ([`MARK`]), so it is durable, shared by every node of a cluster
//! through the change feed, and ended server-side by `Close`: a copied
//! cookie stops working at sign-out. An admin-token session belongs to
//! no user (the nil id), so no other page ever accepts its cookie; an
//! admin user's console session is listed with that user's sessions and
//! ends with them.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use tessera_actors::directory::{User, UserStatus};
use tessera_actors::secret;
use tessera_actors::sessions::{Open, Session, SessionState, Touch};

use crate::error::ApiError;
use crate::extract::session::client_ip;
use crate::state::AppState;

/// Where the console lives; its cookies are limited to this path.
pub const BASE: &str = "/admin/console";

/// The first `amr` entry of every console session. No login method
/// produces it, so no ordinary browser session passes for one.
pub const MARK: &str = "console";

/// The second `amr` entry of a session opened with the admin token.
pub const BY_TOKEN: &str = "admin_token";

/// The console session cookie: `__Secure-` over https (`__Host-` needs
/// `Path=/`, and this cookie must not leave the console).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-tessera_console"
    } else {
        "tessera_console"
    }
}

/// The double-submit cookie of the sign-in form (no session exists yet).
pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-tessera_console_csrf"
    } else {
        "tessera_console_csrf"
    }
}

fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let secure = !state.insecure_cookies;
    Cookie::build(name, value)
        .path(BASE)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// The cookie carrying a new console session's secret. No `Max-Age`: it
/// goes when the browser closes, and the server ends it sooner.
pub fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    cookie(state, cookie_name(!state.insecure_cookies), secret)
}

/// A cookie that deletes the console session cookie.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, cookie_name(!state.insecure_cookies), String::new());
    c.make_removal();
    c
}

/// A fresh double-submit token for the sign-in page, and its cookie.
pub fn new_signin_csrf(state: &AppState) -> (String, Cookie<'static>) {
    let token = secret::b64url(&secret::random_bytes::<32>());
    let c = cookie(
        state,
        csrf_cookie_name(!state.insecure_cookies),
        token.clone(),
    );
    (token, c)
}

fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
}

/// Whether the sign-in form's token matches its cookie.
pub fn signin_csrf_ok(req: &HttpRequest, state: &AppState, presented: Option<&str>) -> bool {
    match (
        req.cookie(csrf_cookie_name(!state.insecure_cookies)),
        presented,
    ) {
        (Some(c), Some(p)) => !p.is_empty() && ct_eq(c.value(), p),
        _ => false,
    }
}

/// A signed-in console: who, through which session.
pub struct Console {
    pub session: Arc<Session>,
    /// The admin user; `None` when the admin token opened the session.
    pub user: Option<Arc<User>>,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Console {
    /// Who acts, as the audit log names them.
    pub fn actor(&self) -> String {
        match &self.user {
            Some(u) => format!("user:{}", u.username),
            None => "admin-token".to_string(),
        }
    }

    /// Who acts, for people.
    pub fn display_name(&self) -> String {
        match &self.user {
            Some(u) => u.username.clone(),
            None => "admin token".to_string(),
        }
    }

    /// Whether `presented` is this session's form token (constant time).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| ct_eq(&self.csrf, p))
    }
}

/// The form token of a console session: derived from its secret's hash,
/// with a label of its own, so only pages served to that browser know it
/// and no other page's token passes for it.
pub fn csrf_of(s: &Session) -> String {
    let mut input = b"tessera-console-csrf".to_vec();
    input.extend_from_slice(&s.key.to_le_bytes());
    input.extend_from_slice(s.id.as_bytes());
    secret::b64url(&secret::sha256(&input))
}

/// Whether `s` is a console session, live by the registry's clock and by
/// the console's own idle and absolute limits.
fn live_console(state: &AppState, s: &Session, now: i64) -> bool {
    s.state == SessionState::Active
        && s.amr.first().map(String::as_str) == Some(MARK)
        && s.is_live(now)
        && now < s.created_at.saturating_add(state.console.absolute_lifetime)
        && now < s.last_seen_at.saturating_add(state.console.idle_timeout)
}

/// The request's live console session, with its admin. Activity pushes
/// the idle limit out (recorded at most once a minute).
pub fn current(req: &HttpRequest, state: &AppState) -> Option<Console> {
    let value = req.cookie(cookie_name(!state.insecure_cookies))?;
    let s = state.engine.sessions.by_cookie(value.value())?;
    let now = state.engine.clock.now();
    if !live_console(state, &s, now) {
        return None;
    }
    let user = if s.user_id.is_nil() {
        if s.amr.get(1).map(String::as_str) != Some(BY_TOKEN) {
            return None;
        }
        None
    } else {
        // The role, the account and its credentials are checked on every
        // request: revoking the role or disabling the user ends it now.
        let u = state.engine.users.get(&s.user_id)?;
        if !(u.is_admin()
            && u.status == UserStatus::Active
            && u.credentials_changed_at <= s.created_at)
        {
            return None;
        }
        Some(u)
    };
    if now - s.last_seen_at >= 60 {
        state.engine.session_registry.do_send(Touch(s.id));
    }
    let csrf = csrf_of(&s);
    Some(Console {
        session: s,
        user,
        csrf,
    })
}

/// Open a console session: for `user` (an admin), or for the admin token
/// when `None`. Answers the session and its cookie.
pub async fn open(
    req: &HttpRequest,
    state: &AppState,
    user: Option<&User>,
) -> Result<(Arc<Session>, Cookie<'static>), ApiError> {
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut amr = vec![MARK.to_string()];
    if user.is_none() {
        amr.push(BY_TOKEN.to_string());
    }
    // A console session already in this browser ends: a new id every
    // sign-in.
    let replaces = req
        .cookie(cookie_name(!state.insecure_cookies))
        .and_then(|c| state.engine.sessions.by_cookie(c.value()))
        .filter(|s| s.amr.first().map(String::as_str) == Some(MARK))
        .map(|s| s.id);
    let open = Open {
        user_id: user.map_or_else(uuid::Uuid::nil, |u| u.id),
        amr,
        ip: client_ip(req),
        user_agent: state.ua.parse(ua),
        application_id: None,
        pending_mfa: false,
        replaces,
    };
    let (s, secret) = state
        .engine
        .session_registry
        .send(open)
        .await?
        .map_err(ApiError::internal)?;
    Ok((s, session_cookie(state, secret)))
}

/// End the console session everywhere.
pub async fn close(state: &AppState, s: &Session) -> Result<(), ApiError> {
    match state
        .engine
        .session_registry
        .send(tessera_actors::sessions::Close(s.id))
        .await?
    {
        Ok(()) | Err(tessera_actors::sessions::SessionError::NotFound) => Ok(()),
        Err(e) => Err(ApiError::internal(e)),
    }
}
