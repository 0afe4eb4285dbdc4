//! `PUT /api/users/password`: the caller changes their own password. A
//! logged-in caller proves the current password; the bearer of an
//! account-recovery token (what `/accountrecovery/callback` hands out after
//! a TOTP check) may set a new one without it — that is the only thing such
//! a token can do. Either way every session and token of the user ends,
//! the recovery token included, and the owner is mailed a notice.

use actix_web::http::StatusCode;
use actix_web::{put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::flows::NewPassword;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::PasswordCaller;
use crate::state::AppState;

/// A new password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordBody {
    /// The new password: 8 characters to 1 KiB.
    password: String,
    /// The present password; not needed with an account-recovery token.
    current_password: Option<String>,
}

/// The outcome.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PasswordChanged {
    message: &'static str,
    /// Browser sessions that were closed.
    sessions_closed: usize,
}

#[utoipa::path(tag = "api_users", security(("bearer" = [])), request_body(content = PasswordBody, description = "JSON or form"), responses(
    (status = 200, description = "Changed; every session and token of the user has ended", body = PasswordChanged),
    (status = 400, description = "Missing field or a password outside the policy", body = ErrorBody),
    (status = 401, description = "Unauthenticated, or the current password is wrong", body = ErrorBody),
    (status = 429, description = "Too many wrong current passwords; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[put("/api/users/password")]
#[tracing::instrument(skip_all, fields(user = %caller.0.user.id))]
pub async fn change_password(
    req: HttpRequest,
    caller: PasswordCaller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = caller.0;
    let b: PasswordBody = parse_body(&req, &body)?;
    let user = caller.user.clone();
    if !caller.recovery_only {
        let Some(current) = b.current_password else {
            return Err(ApiError::bad_request(
                "invalid_field",
                "current_password: required to change the password",
            ));
        };
        let key = format!("pwchange:{}", user.id);
        state
            .limits
            .account
            .check(&key)
            .map_err(ApiError::too_many)?;
        let ok = state
            .engine
            .passwords
            .verify(current, Some(user.password_hash.clone()))
            .await?;
        if !ok {
            state.limits.account.fail(&key);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the current password is wrong",
            ));
        }
        state.limits.account.succeed(&key);
    }
    let password = NewPassword::parse(b.password)?;
    // The owner hears of it, whoever changed it.
    let sessions_closed = state
        .engine
        .change_password(&user, password, &state.account_mail)
        .await?;
    tracing::info!(user = %user.id, recovery = caller.recovery_only, "password changed");
    Ok(HttpResponse::Ok().json(PasswordChanged {
        message: "the password was changed; every session and token of the account has ended",
        sessions_closed,
    }))
}
