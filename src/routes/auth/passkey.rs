//! Signing in with a passkey (JSON, driven by `/assets/passkeys.js` or
//! any WebAuthn client):
//!
//! - `POST /auth/passkey/start` and `POST /auth/passkey/finish`: a
//!   passwordless sign-in with a discoverable credential (the login page's
//!   autofill and its "Sign in with a passkey" button).
//! - `POST /auth/passkey/mfa/start` and `POST /auth/passkey/mfa/finish`:
//!   the second factor of a login whose password was right (instead of
//!   the TOTP code).
//!
//! Each POST carries the login page's double-submit CSRF token (`csrf`).
//! Failures are limited like passwords and TOTP codes: per IP for
//! sign-ins, per account for second factors.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::sessions::{CompleteMfa, Open};
use webauthn_rs::prelude::PublicKeyCredential;

use crate::browser::safe_return_to;
use crate::error::{ApiError, ErrorBody};
use crate::extract::csrf::csrf_ok;
use crate::extract::session::{client_ip, cookie_secret, pending_session, session_cookie};
use crate::passkeys::{json_body, parse_credential, Started};
use crate::state::AppState;

/// The first request of a ceremony.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasskeyStartBody {
    /// The login page's CSRF token.
    csrf: Option<String>,
}

/// The browser's signed answer.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasskeyFinishBody {
    /// The handle `start` answered.
    ceremony: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as
    /// WebAuthn JSON (bytes as base64url).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// The login page's CSRF token.
    csrf: Option<String>,
    /// Where to continue (a local path, e.g. `/oauth2/authorize?...`).
    return_to: Option<String>,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// Signed in.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeyLoginResponse {
    email: String,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    /// Always `authentication`.
    mode: String,
    /// Where the browser goes next: `return_to`, else `/account`.
    redirect: String,
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "csrf_token_invalid",
        "the CSRF token is missing or wrong; reload the login page",
    )
}

/// A JSON body whose `csrf` (read by `csrf`) is the login page's token.
fn checked<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    csrf: fn(&T) -> Option<&str>,
) -> Result<T, ApiError> {
    let b: T = json_body(req, body)?;
    if !csrf_ok(req, csrf(&b)) {
        return Err(csrf_refused());
    }
    Ok(b)
}

fn started(s: Started) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(s)
}

fn signed_in(
    state: &AppState,
    email: &str,
    app: Option<String>,
    return_to: Option<&str>,
    secret: &str,
    session: &tessera_actors::sessions::Session,
) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(session_cookie(state, secret, session))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PasskeyLoginResponse {
            email: email.to_string(),
            application_id: app,
            mode: "authentication".into(),
            redirect: return_to.unwrap_or("/account").to_string(),
        })
}

#[utoipa::path(tag = "auth", request_body(content = PasskeyStartBody, content_type = "application/json"), responses(
    (status = 200, description = "A ceremony handle and the options for `navigator.credentials.get()` (mediation `conditional`: drop it for a button)", body = Started),
    (status = 400, description = "Not a JSON body", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 404, description = "Passkeys are not available on this server", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony could not be stored or read; see Retry-After", body = ErrorBody),
))]
#[post("/auth/passkey/start")]
#[tracing::instrument(skip_all)]
pub async fn login_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    checked(&req, &body, |b: &PasskeyStartBody| b.csrf.as_deref())?;
    let now = state.engine.clock.now();
    Ok(started(state.passkeys.start_login(now).await?))
}

#[utoipa::path(tag = "auth", request_body(content = PasskeyFinishBody, content_type = "application/json"), responses(
    (status = 200, description = "Signed in: a new session (cookie) whose `amr` is `hwk` or `swk`, and `user`", body = PasskeyLoginResponse),
    (status = 400, description = "A malformed body or credential, or an unknown, used or expired ceremony", body = ErrorBody),
    (status = 401, description = "passkey_refused: the passkey did not verify, is not registered to the user it names, or looks cloned", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 429, description = "Too many failures from this address; see Retry-After", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony could not be stored or read; see Retry-After", body = ErrorBody),
))]
#[post("/auth/passkey/finish")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn login_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b = checked(&req, &body, |b: &PasskeyFinishBody| b.csrf.as_deref())?;
    let credential: PublicKeyCredential = parse_credential(b.credential)?;
    if let Some(a) = b.application_id.as_deref() {
        if state.engine.clients.get(a).is_none() {
            return Err(ApiError::bad_request(
                "unknown_application",
                "applicationId names no registered client",
            ));
        }
    }
    let return_to = safe_return_to(b.return_to.as_deref());
    let ip_key = format!("ip:{}", client_ip(&req));
    if let Err(secs) = state.limits.ip.check(&ip_key) {
        metrics::counter!("tessera_logins_total", "result" => "rate_limited").increment(1);
        return Err(ApiError::too_many(secs));
    }
    let now = state.engine.clock.now();
    let v = match state
        .passkeys
        .finish_login(&state, &b.ceremony, &credential, now)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            if e.status == actix_web::http::StatusCode::UNAUTHORIZED {
                state.limits.ip.fail(&ip_key);
                metrics::counter!("tessera_logins_total", "result" => "failure").increment(1);
            }
            return Err(e);
        }
    };
    tracing::Span::current().record("user_id", tracing::field::display(v.user.id));
    let replaces = cookie_secret(&req, &state)
        .and_then(|c| state.engine.sessions.by_cookie(&c))
        .map(|s| s.id);
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (session, secret) = state
        .engine
        .session_registry
        .send(Open {
            user_id: v.user.id,
            amr: v.amr,
            ip: client_ip(&req),
            user_agent: state.ua.parse(ua),
            application_id: b.application_id.clone(),
            pending_mfa: false,
            replaces,
        })
        .await?
        .map_err(ApiError::internal)?;
    metrics::counter!("tessera_logins_total", "result" => "success").increment(1);
    Ok(signed_in(
        &state,
        &v.user.email,
        b.application_id,
        return_to,
        &secret,
        &session,
    ))
}

#[utoipa::path(tag = "auth", request_body(content = PasskeyStartBody, content_type = "application/json"), responses(
    (status = 200, description = "A ceremony handle and the options for `navigator.credentials.get()` over the user's passkeys", body = Started),
    (status = 400, description = "Not a JSON body, or the account has no passkey", body = ErrorBody),
    (status = 401, description = "No login is waiting for a second factor", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony could not be stored or read; see Retry-After", body = ErrorBody),
))]
#[post("/auth/passkey/mfa/start")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn mfa_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    checked(&req, &body, |b: &PasskeyStartBody| b.csrf.as_deref())?;
    let Some((pending, user)) = pending_session(&req, &state) else {
        return Err(ApiError::unauthorized(
            "no login is waiting for a second factor; log in again",
        ));
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let now = state.engine.clock.now();
    Ok(started(
        state
            .passkeys
            .start_second_factor(&user, &pending, now)
            .await?,
    ))
}

#[utoipa::path(tag = "auth", request_body(content = PasskeyFinishBody, content_type = "application/json"), responses(
    (status = 200, description = "Logged in: the pending session became a full one (new cookie), `amr` extended by `hwk` or `swk`, and `user`", body = PasskeyLoginResponse),
    (status = 400, description = "A malformed body or credential, or an unknown, used or expired ceremony", body = ErrorBody),
    (status = 401, description = "No pending login, or passkey_refused", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 429, description = "Too many failed second factors; see Retry-After", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony could not be stored or read; see Retry-After", body = ErrorBody),
))]
#[post("/auth/passkey/mfa/finish")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn mfa_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b = checked(&req, &body, |b: &PasskeyFinishBody| b.csrf.as_deref())?;
    let credential: PublicKeyCredential = parse_credential(b.credential)?;
    let Some((pending, user)) = pending_session(&req, &state) else {
        return Err(ApiError::unauthorized(
            "no login is waiting for a second factor; log in again",
        ));
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let return_to = safe_return_to(b.return_to.as_deref());
    let key = format!("totp:{}", user.id);
    if let Err(secs) = state.limits.totp.check(&key) {
        return Err(ApiError::too_many(secs));
    }
    let now = state.engine.clock.now();
    let v = match state
        .passkeys
        .finish_second_factor(&state, &b.ceremony, user, &pending, &credential, now)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            if e.status == actix_web::http::StatusCode::UNAUTHORIZED {
                state.limits.totp.fail(&key);
                metrics::counter!("tessera_logins_total", "result" => "mfa_failure").increment(1);
            }
            return Err(e);
        }
    };
    state.limits.totp.succeed(&key);
    let (session, secret) = state
        .engine
        .session_registry
        .send(CompleteMfa {
            id: pending.id,
            amr: v.amr,
        })
        .await?
        .map_err(ApiError::internal)?;
    metrics::counter!("tessera_logins_total", "result" => "mfa_success").increment(1);
    let app = session.application_id.clone().or(b.application_id.clone());
    Ok(signed_in(
        &state,
        &v.user.email,
        app,
        return_to,
        &secret,
        &session,
    ))
}
