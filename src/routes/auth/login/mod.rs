//! `GET /auth/login` (the page), `POST /auth/login` (JSON or form) and
//! `POST /auth/login/callback` (the TOTP step).
//!
//! Unknown user and wrong password take the same path (an argon2 verify
//! against a dummy hash) and give the same `401`. Failures are limited per
//! account and per IP (`429` + `Retry-After`).
//!
//! The TOTP step is in `callback.rs`.

pub mod callback;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::{UseTotpStep, User, UserStatus};
use tessera_actors::password::PoolError;
use tessera_actors::sessions::CompleteMfa;

use crate::browser::{open_session, return_to_form_targets, safe_return_to};
use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::csrf::{csrf_ok, new_csrf_cookie};
use crate::extract::form::is_form;
use crate::extract::session::{client_ip, pending_session, session_cookie};
use crate::state::AppState;
use crate::views;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to continue after logging in (a local path).
    return_to: Option<String>,
    /// The OAuth client the login is for.
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    login_hint: Option<String>,
}

/// Login request. `login` is a username or an e-mail address.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    login: String,
    password: String,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    return_to: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
}

/// TOTP step request.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CallbackBody {
    /// The 6-digit code from the authenticator.
    code: String,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    return_to: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
}

/// A successful (or MFA-pending) login.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    email: String,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    /// `authentication` (logged in) or `mfa` (send the TOTP code to
    /// `/auth/login/callback`, or a passkey to `/auth/passkey/mfa/finish`).
    mode: String,
}

fn known_application(state: &AppState, app: Option<&str>) -> Result<(), ApiError> {
    match app {
        Some(a) if state.engine.clients.get(a).is_none() => Err(ApiError::bad_request(
            "unknown_application",
            "applicationId names no registered client",
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(tag = "auth", params(LoginQuery), responses((status = 200, description = "The login page", content_type = "text/html")))]
#[get("/auth/login")]
#[tracing::instrument(skip_all, fields(application_id = ?q.application_id))]
pub async fn login_page(state: web::Data<AppState>, q: web::Query<LoginQuery>) -> HttpResponse {
    let (csrf, cookie) = new_csrf_cookie(&state);
    let return_to = safe_return_to(q.return_to.as_deref()).unwrap_or("");
    let mut resp = views::login(&views::LoginPage {
        return_to,
        application_id: q.application_id.as_deref(),
        login_hint: q.login_hint.as_deref(),
        error: None,
        csrf: &csrf,
        providers: &state.upstreams.names().collect::<Vec<_>>(),
    });
    views::allow_form_targets(&mut resp, &return_to_form_targets(&state, Some(return_to)));
    let _ = resp.add_cookie(&cookie);
    resp
}

/// What went wrong, for both the JSON and the page answer.
enum Failure {
    Api(ApiError),
    Limited(i64),
}

fn limited(secs: i64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed attempts; retry in {secs} seconds"),
    )
}

fn with_retry_after(mut r: HttpResponse, secs: i64) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[utoipa::path(tag = "auth", params(LoginQuery), request_body(content = LoginBody, description = "JSON or form"), responses(
    (status = 200, description = "Logged in (`mode: authentication`, session cookie set) or password accepted and TOTP required (`mode: mfa`)", body = LoginResponse),
    (status = 303, description = "Form posts: to `return_to`"),
    (status = 400, body = ErrorBody), (status = 401, description = "invalid_credentials", body = ErrorBody),
    (status = 403, description = "Form posts: the CSRF token is missing or wrong (the login page again)", content_type = "text/html"),
    (status = 429, description = "Too many failures; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[post("/auth/login")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LoginQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = is_form(&req);
    let b: LoginBody = parse_body(&req, &body)?;
    let app = b
        .application_id
        .clone()
        .or_else(|| q.application_id.clone());
    known_application(&state, app.as_deref())?;
    let return_to =
        safe_return_to(b.return_to.as_deref().or(q.return_to.as_deref())).map(str::to_string);
    if form && !csrf_ok(&req, b.csrf.as_deref()) {
        return Ok(login_failed(
            &state,
            &b.login,
            return_to.as_deref(),
            app.as_deref(),
            "The form expired. Please try again.",
            StatusCode::FORBIDDEN,
        ));
    }
    match check_password(&req, &state, &b).await {
        Ok(user) => {
            tracing::Span::current().record("user_id", tracing::field::display(user.id));
            let (session, secret_value) = open_session(&req, &state, &user, app.clone()).await?;
            let mode = if user.has_second_factor() {
                "mfa"
            } else {
                "authentication"
            };
            let cookie = session_cookie(&state, &secret_value, &session);
            if form {
                let mut r = if user.has_second_factor() {
                    let (csrf, c) = new_csrf_cookie(&state);
                    let mut r = views::mfa(
                        &views::MfaPage {
                            return_to: return_to.as_deref().unwrap_or(""),
                            application_id: app.as_deref(),
                            error: None,
                            csrf: &csrf,
                            totp: user.totp_enabled(),
                            passkey: !user.passkeys.is_empty(),
                        },
                        StatusCode::OK,
                    );
                    views::allow_form_targets(
                        &mut r,
                        &return_to_form_targets(&state, return_to.as_deref()),
                    );
                    let _ = r.add_cookie(&c);
                    r
                } else {
                    done_page(return_to.as_deref())
                };
                let _ = r.add_cookie(&cookie);
                return Ok(r);
            }
            Ok(HttpResponse::Ok()
                .cookie(cookie)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(LoginResponse {
                    email: user.email.clone(),
                    application_id: app,
                    mode: mode.into(),
                }))
        }
        Err(Failure::Limited(secs)) if form => Ok(with_retry_after(
            login_failed(
                &state,
                &b.login,
                return_to.as_deref(),
                app.as_deref(),
                "Too many failed attempts. Please wait and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            secs,
        )),
        Err(Failure::Limited(secs)) => Ok(with_retry_after(
            actix_web::ResponseError::error_response(&limited(secs)),
            secs,
        )),
        Err(Failure::Api(e)) if form && e.status == StatusCode::UNAUTHORIZED => Ok(login_failed(
            &state,
            &b.login,
            return_to.as_deref(),
            app.as_deref(),
            "The login or password is wrong.",
            StatusCode::UNAUTHORIZED,
        )),
        Err(Failure::Api(e)) => Err(e),
    }
}

fn login_failed(
    state: &AppState,
    login_name: &str,
    return_to: Option<&str>,
    app: Option<&str>,
    msg: &str,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, cookie) = new_csrf_cookie(state);
    let mut r = views::login_with_status(
        &views::LoginPage {
            return_to: return_to.unwrap_or(""),
            application_id: app,
            login_hint: Some(login_name),
            error: Some(msg),
            csrf: &csrf,
            providers: &state.upstreams.names().collect::<Vec<_>>(),
        },
        status,
    );
    views::allow_form_targets(&mut r, &return_to_form_targets(state, return_to));
    let _ = r.add_cookie(&cookie);
    r
}

fn done_page(return_to: Option<&str>) -> HttpResponse {
    match return_to {
        Some(to) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to.to_string()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        None => views::message(&views::MessagePage {
            title: "Signed in",
            message: "You are signed in.",
            link: None,
        }),
    }
}

/// Verify login and password under the rate limits.
async fn check_password(
    req: &HttpRequest,
    state: &AppState,
    b: &LoginBody,
) -> Result<Arc<User>, Failure> {
    let user = state.engine.users.by_login(&b.login);
    // One account, one counter, whether it is named by username or e-mail;
    // unknown logins are counted by name so they behave the same.
    let account_key = match &user {
        Some(u) => format!("acct:{}", u.id),
        None => format!("acct:{}", b.login.trim().to_lowercase()),
    };
    let ip_key = format!("ip:{}", client_ip(req));
    let limits = &state.limits;
    if let Err(secs) = limits
        .account
        .check(&account_key)
        .and(limits.ip.check(&ip_key))
    {
        metrics::counter!("tessera_logins_total", "result" => "rate_limited").increment(1);
        return Err(Failure::Limited(secs));
    }
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = match state
        .engine
        .passwords
        .verify(b.password.clone(), stored)
        .await
    {
        Ok(v) => v,
        Err(PoolError::Busy) => {
            metrics::counter!("tessera_logins_total", "result" => "busy").increment(1);
            return Err(Failure::Api(ApiError::unavailable(
                "too many logins in progress; try again shortly",
            )));
        }
        Err(PoolError::Failed) => {
            return Err(Failure::Api(ApiError::internal(
                "password verification failed",
            )))
        }
    };
    match user {
        Some(u) if verified && u.status == UserStatus::Active => {
            limits.account.succeed(&account_key);
            metrics::counter!("tessera_logins_total", "result" => "success").increment(1);
            Ok(u)
        }
        _ => {
            limits.account.fail(&account_key);
            limits.ip.fail(&ip_key);
            metrics::counter!("tessera_logins_total", "result" => "failure").increment(1);
            Err(Failure::Api(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the login or password is wrong",
            )))
        }
    }
}
