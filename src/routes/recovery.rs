//! Account recovery (SPEC §2): a user who lost their password but still has
//! their authenticator proves a TOTP code and gets a short-lived token that
//! may only set a new password (`PUT /api/users/password`).
//!
//! `POST /accountrecovery` always answers the same `200`, whatever the
//! address. `POST /accountrecovery/callback` answers the same `401` for an
//! unknown address, an account without TOTP and a wrong code, doing the
//! same TOTP computation in each case; failures are limited per address
//! and per IP.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::{UseTotpStep, UserStatus};
use tessera_actors::grants::first_party;
use tessera_actors::totp;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::session::client_ip;
use crate::state::AppState;

/// A base32 secret no account has: unknown addresses are checked against
/// it so that every answer costs the same.
const DUMMY_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecoveryQuery {
    /// The OAuth client the flow is for.
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// Start recovery.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecoveryBody {
    email: String,
}

/// Finish recovery with a code from the authenticator.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecoveryCallbackBody {
    email: String,
    /// Six digits from the account's authenticator.
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryData {
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    email: String,
    /// Always `accountRecovery`.
    mode: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryStarted {
    data: RecoveryData,
    message: &'static str,
}

/// The token that may change the password, and nothing else.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryDone {
    data: RecoveryData,
    message: &'static str,
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    /// Always `account:recovery`.
    scope: &'static str,
}

fn check_application(state: &AppState, app: &Option<String>) -> Result<(), ApiError> {
    match app {
        Some(id) if state.engine.clients.get(id).is_none() => Err(ApiError::bad_request(
            "invalid_application",
            "applicationId names no registered client",
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(tag = "auth", params(RecoveryQuery), request_body(content = RecoveryBody, description = "JSON or form"), responses(
    (status = 200, description = "Always, whether or not the address has an account", body = RecoveryStarted),
    (status = 400, body = ErrorBody),
))]
#[post("/accountrecovery")]
#[tracing::instrument(skip_all)]
pub async fn start(
    req: HttpRequest,
    q: web::Query<RecoveryQuery>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RecoveryBody = parse_body(&req, &body)?;
    check_application(&state, &q.application_id)?;
    Ok(HttpResponse::Ok().json(RecoveryStarted {
        data: RecoveryData {
            application_id: q.into_inner().application_id,
            email: b.email,
            mode: "accountRecovery",
        },
        message: "If this account has an authenticator, send its current code to /accountrecovery/callback",
    }))
}

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_code",
        "the address or the code is wrong, or the code was already used",
    )
}

#[utoipa::path(tag = "auth", params(RecoveryQuery), request_body(content = RecoveryCallbackBody, description = "JSON or form"), responses(
    (status = 200, description = "A token that may only change the password (`PUT /api/users/password`)", body = RecoveryDone),
    (status = 400, body = ErrorBody),
    (status = 401, description = "Unknown address, no authenticator, or a wrong or used code: one answer", body = ErrorBody),
    (status = 429, description = "Too many failures for this address or IP; see Retry-After", body = ErrorBody),
))]
#[post("/accountrecovery/callback")]
#[tracing::instrument(skip_all)]
pub async fn callback(
    req: HttpRequest,
    q: web::Query<RecoveryQuery>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: RecoveryCallbackBody = parse_body(&req, &body)?;
    check_application(&state, &q.application_id)?;
    let account_key = format!("recovery:{}", b.email.trim().to_lowercase());
    let ip_key = format!("recovery-ip:{}", client_ip(&req));
    state
        .limits
        .account
        .check(&account_key)
        .and_then(|_| state.limits.ip.check(&ip_key))
        .map_err(ApiError::too_many)?;
    let user =
        state.engine.users.by_login(&b.email).filter(|u| {
            u.status == UserStatus::Active && u.email.eq_ignore_ascii_case(b.email.trim())
        });
    let enrolled = user
        .as_ref()
        .and_then(|u| u.totp.as_ref().filter(|t| t.enabled).map(|t| (u, t)));
    let now = state.engine.clock.now();
    let step = match enrolled {
        Some((_, t)) => totp::check(&t.secret, b.code.trim(), now, t.last_step).ok(),
        None => {
            // Same work for an address without an enrolled account.
            let _ = totp::check(DUMMY_SECRET, b.code.trim(), now, u64::MAX);
            None
        }
    };
    let accepted = match (enrolled, step) {
        (Some((u, _)), Some(step)) => matches!(
            state
                .engine
                .directory
                .send(UseTotpStep { id: u.id, step })
                .await,
            Ok(Ok(_))
        )
        .then(|| u.clone()),
        _ => None,
    };
    let Some(user) = accepted else {
        state.limits.account.fail(&account_key);
        state.limits.ip.fail(&ip_key);
        metrics::counter!("tessera_account_recoveries_total", "result" => "failure").increment(1);
        return Err(refused());
    };
    state.limits.account.succeed(&account_key);
    let (access_token, expires_in) = first_party::issue_recovery(&state.engine, &user)
        .await
        .map_err(|e| ApiError::unavailable(e.description))?;
    metrics::counter!("tessera_account_recoveries_total", "result" => "success").increment(1);
    tracing::info!(user = %user.id, "account recovery token issued");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RecoveryDone {
            data: RecoveryData {
                application_id: q.into_inner().application_id,
                email: user.email.clone(),
                mode: "accountRecovery",
            },
            message: "Set a new password with PUT /api/users/password within the token's lifetime",
            access_token,
            token_type: "Bearer",
            expires_in,
            scope: first_party::RECOVERY_SCOPE,
        }))
}
