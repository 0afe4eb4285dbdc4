//! Password reset by mail (SPEC §4).
//!
//! - `POST /api/oauth/reset_password {email}` mails a link to
//!   `{public_url}/api/oauth/reset_password/confirm?token=...`. The answer is
//!   the same `200` whether or not an active account has the address, and
//!   costs the same: a token is made and hashed either way, and the unknown
//!   path waits for as many durable flushes as the known one writes.
//! - `GET /api/oauth/reset_password/confirm?token=...` (the link) is a page
//!   with the new-password form, which posts to:
//! - `POST /api/oauth/reset_password/confirm {token, password}` (JSON or
//!   form): the new password is set in the same durable write that spends
//!   the token, every session and token of the user ends, and a notice is
//!   mailed. `400` for a password outside the policy, `404 invalid_token`
//!   for an unknown, used or expired token.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::codes::RESET_PREFIX;
use tessera_actors::flows::password::reset_address;
use tessera_actors::flows::{FlowError, NewPassword};

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::form::is_form;
use crate::extract::session::client_ip;
use crate::state::AppState;
use crate::views;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetBody {
    email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConfirmBody {
    /// The token from the mailed link.
    token: String,
    /// The new password: 8 characters to 1 KiB.
    password: String,
    /// From the page's form: must equal `password` when present.
    password_confirm: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfirmQuery {
    /// The token from the mailed link.
    token: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetMessage {
    message: &'static str,
}

const SENT: &str = "if an account has this address, a reset link was sent to it";

#[utoipa::path(tag = "api_oauth", request_body(content = ResetBody, description = "JSON or form"), responses(
    (status = 200, description = "Always the same answer, whether or not the address has an account", body = ResetMessage),
    (status = 400, description = "Missing email", body = ErrorBody),
    (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = ErrorBody),
))]
#[post("/api/oauth/reset_password")]
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ResetBody = parse_body(&req, &body)?;
    let email = reset_address(&b.email)?;
    state.account_mail.check_send(&client_ip(&req), email)?;
    state
        .engine
        .request_password_reset(email, &state.account_mail)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ResetMessage { message: SENT }))
}

/// The new-password form (the page the mailed link opens).
fn reset_page(token: &str, error: Option<&str>, status: StatusCode) -> HttpResponse {
    views::page(status, &views::ResetPasswordPage { token, error })
}

fn link_invalid_page() -> HttpResponse {
    let mut r = views::message(&views::MessagePage {
        title: "This link is no longer valid",
        message: "The reset link is unknown, used or expired. Ask for a new one.",
        link: None,
    });
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[utoipa::path(tag = "api_oauth", params(ConfirmQuery), responses(
    (status = 200, description = "The new-password form", content_type = "text/html"),
    (status = 404, description = "No token, or not a reset token: a page saying the link is no longer valid", content_type = "text/html"),
))]
#[get("/api/oauth/reset_password/confirm")]
#[tracing::instrument(skip_all)]
pub async fn confirm_page(q: web::Query<ConfirmQuery>) -> HttpResponse {
    // The token is checked when the form is posted: opening the page spends
    // nothing (mail scanners follow links).
    match q
        .token
        .as_deref()
        .filter(|t| t.starts_with(RESET_PREFIX) && t.len() <= 128)
    {
        Some(t) => reset_page(t, None, StatusCode::OK),
        None => link_invalid_page(),
    }
}

#[utoipa::path(tag = "api_oauth", request_body(content = ConfirmBody, description = "JSON or form (the page's form gets an HTML answer)"), responses(
    (status = 200, description = "The password was changed; every session and token of the user has ended", body = ResetMessage),
    (status = 400, description = "Missing field or a password outside the policy", body = ErrorBody),
    (status = 404, description = "invalid_token: unknown, used or expired", body = ErrorBody),
    (status = 429, description = "Too many bad tokens from this client; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[post("/api/oauth/reset_password/confirm")]
#[tracing::instrument(skip_all)]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = is_form(&req);
    let b: ConfirmBody = parse_body(&req, &body)?;
    let ip = client_ip(&req);
    state.account_mail.check_verify(&ip)?;
    let token = b.token.trim().to_string();
    let differs = b
        .password_confirm
        .as_ref()
        .is_some_and(|c| c != &b.password);
    let password = match NewPassword::parse(b.password) {
        Ok(p) => p,
        Err(m) if form => return Ok(reset_page(&token, Some(m.0), StatusCode::BAD_REQUEST)),
        Err(m) => return Err(m.into()),
    };
    if differs {
        if form {
            return Ok(reset_page(
                &token,
                Some("The two passwords differ."),
                StatusCode::BAD_REQUEST,
            ));
        }
        return Err(ApiError::bad_request(
            "invalid_field",
            "password_confirm: differs from password",
        ));
    }
    let user = match state
        .engine
        .reset_password(token, password, &state.account_mail)
        .await
    {
        Ok(user) => user,
        Err(e @ FlowError::InvalidCode(_)) => {
            state.account_mail.verify_failed(&ip);
            if form {
                return Ok(link_invalid_page());
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    // A proven mailbox lifts a login lock on the account.
    state.limits.account.succeed(&format!("acct:{}", user.id));
    tracing::info!(user = %user.id, "password reset by mailed link");
    if form {
        return Ok(views::message(&views::MessagePage {
            title: "Password changed",
            message: "Your password was changed and you were signed out everywhere. Sign in with the new password.",
            link: Some(("/auth/login", "Sign in")),
        }));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ResetMessage {
            message: "the password was changed; every session and token of the account has ended",
        }))
}
