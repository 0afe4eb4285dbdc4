//! TOTP enrolment (SPEC §4): `PUT /api/users/otp` starts it (a new secret,
//! its `otpauth://` URL and a QR code), `POST /api/users/otp/confirm` turns
//! it on with a first code, `DELETE /api/users/otp` turns it off with a
//! current code. Codes are accepted once (the used step is stored), with one
//! step of skew, and wrong codes are rate-limited per user.

use actix_web::http::header;
use actix_web::{delete, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::{ChangeTotp, DirectoryError, TotpChange};

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::Caller;
use crate::state::AppState;
use crate::totp::{accept_code, begin_enrolment, confirm_enrolment, totp_error};

/// A TOTP code from the authenticator.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeBody {
    /// Six digits.
    code: String,
}

/// A new enrolment, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EnrolmentView {
    /// Base32 secret, for typing into an authenticator by hand.
    secret: String,
    /// `otpauth://totp/...`
    otpauth_url: String,
    /// The URL as a QR code: PNG, standard base64.
    qr_png_base64: String,
}

/// TOTP state after a change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpStatus {
    /// Whether logins now ask for a code.
    enabled: bool,
}

#[utoipa::path(tag = "api_users", security(("bearer" = [])), responses(
    (status = 200, description = "A new secret; confirm it with a code to turn TOTP on", body = EnrolmentView),
    (status = 401, body = ErrorBody),
    (status = 409, description = "TOTP is already enabled", body = ErrorBody),
))]
#[put("/api/users/otp")]
#[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
pub async fn begin(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let e = begin_enrolment(&state, &caller.user).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(EnrolmentView {
            secret: e.secret,
            otpauth_url: e.otpauth_url,
            qr_png_base64: e.qr_png_base64,
        }))
}

#[utoipa::path(tag = "api_users", security(("bearer" = [])), request_body(content = CodeBody, description = "JSON or form"), responses(
    (status = 200, description = "TOTP is on", body = TotpStatus),
    (status = 400, body = ErrorBody),
    (status = 401, description = "Unauthenticated, or a wrong code (`invalid_code`)", body = ErrorBody),
    (status = 409, description = "Already enabled, or no enrolment in progress", body = ErrorBody),
    (status = 429, description = "Too many wrong codes; see Retry-After", body = ErrorBody),
))]
#[post("/api/users/otp/confirm")]
#[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
pub async fn confirm(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: CodeBody = parse_body(&req, &body)?;
    confirm_enrolment(&state, &caller.user, &b.code).await?;
    Ok(HttpResponse::Ok().json(TotpStatus { enabled: true }))
}

#[utoipa::path(tag = "api_users", security(("bearer" = [])), request_body(content = CodeBody, description = "JSON or form"), responses(
    (status = 200, description = "TOTP is off", body = TotpStatus),
    (status = 400, body = ErrorBody),
    (status = 401, description = "Unauthenticated, or a wrong code (`invalid_code`)", body = ErrorBody),
    (status = 409, description = "TOTP is not enabled", body = ErrorBody),
    (status = 429, description = "Too many wrong codes; see Retry-After", body = ErrorBody),
))]
#[delete("/api/users/otp")]
#[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
pub async fn disable(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: CodeBody = parse_body(&req, &body)?;
    let user = &caller.user;
    let Some(t) = user.totp.as_ref().filter(|t| t.enabled) else {
        return Err(ApiError::from(DirectoryError::Conflict(
            "TOTP is not enabled",
        )));
    };
    let step = accept_code(&state, user, &t.secret, t.last_step, &b.code)?;
    state
        .engine
        .directory
        .send(ChangeTotp {
            id: user.id,
            change: TotpChange::Disable { step },
        })
        .await?
        .map_err(totp_error)?;
    state.limits.totp.succeed(&format!("totp:{}", user.id));
    Ok(HttpResponse::Ok().json(TotpStatus { enabled: false }))
}
