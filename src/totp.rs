//! TOTP enrolment and code checks, shared by the JSON API
//! (`routes/api_users/otp.rs`) and the account page
//! (`routes/pages/account.rs`): neither route imports the other.

use tessera_actors::directory::{ChangeTotp, DirectoryError, TotpChange, User};
use tessera_actors::totp::{self, TotpError};

use crate::error::ApiError;
use crate::state::AppState;

fn label(state: &AppState) -> String {
    // Authenticator apps show the issuer's host name.
    let iss = &state.engine.config.issuer;
    iss.split_once("://")
        .map_or(iss.as_str(), |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("tessera")
        .to_string()
}

pub fn totp_error(e: DirectoryError) -> ApiError {
    match e {
        DirectoryError::Invalid { .. } => wrong_code(),
        other => ApiError::from(other),
    }
}

fn wrong_code() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid_code",
        "the code is wrong, expired or already used",
    )
}

/// Check `code` for `user` against `secret` (rate-limited per user) and
/// answer the time step it matched.
pub fn accept_code(
    state: &AppState,
    user: &User,
    secret: &str,
    last_step: u64,
    code: &str,
) -> Result<u64, ApiError> {
    let key = format!("totp:{}", user.id);
    state.limits.totp.check(&key).map_err(ApiError::too_many)?;
    match totp::check(secret, code.trim(), state.engine.clock.now(), last_step) {
        Ok(step) => Ok(step),
        Err(TotpError::BadSecret) => Err(ApiError::internal("a stored TOTP secret is unusable")),
        Err(_) => {
            state.limits.totp.fail(&key);
            Err(wrong_code())
        }
    }
}

/// The name authenticator apps show for `user`.
fn account_label(user: &User) -> &str {
    if user.email.is_empty() {
        &user.username
    } else {
        &user.email
    }
}

/// Start (or restart) TOTP enrolment for `user` (shared by the API and the
/// account page): a new secret, stored as pending.
pub async fn begin_enrolment(state: &AppState, user: &User) -> Result<totp::Enrolment, ApiError> {
    if user.totp_enabled() {
        return Err(ApiError::from(DirectoryError::Conflict(
            "TOTP is already enabled",
        )));
    }
    let e = totp::enrol(&label(state), account_label(user)).map_err(ApiError::internal)?;
    state
        .engine
        .directory
        .send(ChangeTotp {
            id: user.id,
            change: TotpChange::Begin {
                secret: e.secret.clone(),
            },
        })
        .await?
        .map_err(totp_error)?;
    Ok(e)
}

/// The enrolment in progress for `user`, shown again (its secret, URL and
/// QR code); `None` when none is in progress.
pub fn pending_enrolment(state: &AppState, user: &User) -> Option<totp::Enrolment> {
    let t = user.totp.as_ref().filter(|t| !t.enabled)?;
    totp::enrolment_of(&label(state), account_label(user), &t.secret).ok()
}

/// Turn TOTP on for `user` with a first `code` (shared by the API and the
/// account page).
pub async fn confirm_enrolment(state: &AppState, user: &User, code: &str) -> Result<(), ApiError> {
    let pending = match &user.totp {
        Some(t) if t.enabled => {
            return Err(ApiError::from(DirectoryError::Conflict(
                "TOTP is already enabled",
            )))
        }
        Some(t) => t.clone(),
        None => {
            return Err(ApiError::from(DirectoryError::Conflict(
                "no TOTP enrolment is in progress; start one with PUT /api/users/otp",
            )))
        }
    };
    let step = accept_code(state, user, &pending.secret, pending.last_step, code)?;
    state
        .engine
        .directory
        .send(ChangeTotp {
            id: user.id,
            change: TotpChange::Confirm {
                secret: pending.secret,
                step,
            },
        })
        .await?
        .map_err(totp_error)?;
    state.limits.totp.succeed(&format!("totp:{}", user.id));
    Ok(())
}
