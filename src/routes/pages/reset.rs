//! `GET|POST /auth/reset` (ask for a password-reset link) and
//! `GET /auth/email-verified` (where a verification link lands by default).
//! The link itself opens `/api/oauth/reset_password/confirm`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tessera_actors::flows::password::reset_address;

use crate::browser::{body_error, retry_after, sentence};
use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::csrf::{csrf_ok, new_csrf_cookie};
use crate::extract::session::client_ip;
use crate::state::AppState;
use crate::views;

/// The reset request form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResetForm {
    email: String,
    /// The page's CSRF token.
    csrf: Option<String>,
}

fn reset_page(
    state: &AppState,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, cookie) = new_csrf_cookie(state);
    let mut r = views::page(
        status,
        &views::ResetRequestPage {
            email,
            error,
            csrf: &csrf,
        },
    );
    let _ = r.add_cookie(&cookie);
    r
}

/// Ask the engine for a reset link, within this client's and this
/// address's mail limits.
async fn request_reset(req: &HttpRequest, state: &AppState, email: &str) -> Result<(), ApiError> {
    let email = reset_address(email)?;
    state.account_mail.check_send(&client_ip(req), email)?;
    Ok(state
        .engine
        .request_password_reset(email, &state.account_mail)
        .await?)
}

#[utoipa::path(tag = "pages", responses(
    (status = 200, description = "The reset request form", content_type = "text/html"),
))]
#[get("/auth/reset")]
#[tracing::instrument(skip_all)]
pub async fn reset_page_get(state: web::Data<AppState>) -> HttpResponse {
    reset_page(&state, "", None, StatusCode::OK)
}

#[utoipa::path(tag = "pages", request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, description = "Always the same page, whether or not the address has an account", content_type = "text/html"),
    (status = 400, description = "A missing or empty address: the form again (a body that cannot be read: JSON, or a page for a browser)", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 403, description = "The CSRF token is missing or wrong: the form again, nothing sent", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 429, description = "Too many requests; see Retry-After", content_type = "text/html"),
))]
#[post("/auth/reset")]
#[tracing::instrument(skip_all)]
pub async fn reset_page_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let f: ResetForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    let email = f.email.trim();
    let email = if email.len() <= 254 { email } else { "" };
    if !csrf_ok(&req, f.csrf.as_deref()) {
        return reset_page(
            &state,
            email,
            Some("The form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    if let Err(e) = request_reset(&req, &state, &f.email).await {
        let page = reset_page(&state, email, Some(&sentence(&e)), e.status);
        return retry_after(page, &e);
    }
    views::message(&views::MessagePage {
        title: "Check your email",
        message: "If an account has this address, we sent it a link to set a new password. The link works once and expires soon.",
        link: Some(("/auth/login", "Back to sign in")),
    })
}

#[utoipa::path(tag = "pages", responses(
    (status = 200, description = "The e-mail address is verified (the default landing page of verification links)", content_type = "text/html"),
))]
#[get("/auth/email-verified")]
#[tracing::instrument(skip_all)]
pub async fn email_verified() -> HttpResponse {
    views::message(&views::MessagePage {
        title: "Email address verified",
        message: "Thank you: your email address is verified.",
        link: Some(("/account", "Go to your account")),
    })
}
