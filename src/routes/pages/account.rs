//! `GET /account` (the signed-in user's account), `POST /account/totp`
//! (start TOTP enrolment: the key and its QR code) and
//! `POST /account/totp/confirm` (turn TOTP on with a first code).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tessera_actors::sessions::Session;

use crate::browser::{body_error, retry_after, see_other, sentence};
use crate::error::ErrorBody;
use crate::extract::body::parse_body;
use crate::extract::csrf::{session_csrf, session_csrf_ok};
use crate::extract::session::current_session;
use crate::state::AppState;
use crate::totp::{begin_enrolment, confirm_enrolment, pending_enrolment};
use crate::views;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// `totp_on` after TOTP was turned on.
    done: Option<String>,
}

/// A signed-in form with nothing but its CSRF token.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CsrfForm {
    /// The session-bound CSRF token of the page.
    csrf: Option<String>,
}

/// The first code from the authenticator.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpCodeForm {
    /// Six digits.
    code: String,
    /// The session-bound CSRF token of the page.
    csrf: Option<String>,
}

/// Not signed in: to the login page, back to `/account` afterwards.
fn to_login() -> HttpResponse {
    see_other("/auth/login?return_to=%2Faccount")
}

fn totp_page(
    session: &Session,
    e: &tessera_actors::totp::Enrolment,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let csrf = session_csrf(session);
    views::page(
        status,
        &views::TotpPage {
            secret: &e.secret,
            otpauth_url: &e.otpauth_url,
            qr_png_base64: &e.qr_png_base64,
            error,
            csrf: &csrf,
        },
    )
}

#[utoipa::path(tag = "pages", params(AccountQuery), responses(
    (status = 200, description = "The account page", content_type = "text/html"),
    (status = 303, description = "Not signed in: to the login page"),
))]
#[get("/account")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn account(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AccountQuery>,
) -> HttpResponse {
    let Some((session, user)) = current_session(&req, &state) else {
        return to_login();
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    let notice = match q.done.as_deref() {
        Some("totp_on") if user.totp_enabled() => Some("Two-step verification is on."),
        _ => None,
    };
    let csrf = session_csrf(&session);
    views::page(
        StatusCode::OK,
        &views::AccountPage {
            username: &user.username,
            email: &user.email,
            email_verified: user.email_verified,
            totp_enabled: user.totp_enabled(),
            notice,
            csrf: &csrf,
        },
    )
}

#[utoipa::path(tag = "pages", request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, description = "A new TOTP key (QR code and text) and the form for its first code", content_type = "text/html"),
    (status = 303, description = "Not signed in: to the login page"),
    (status = 400, description = "A body that cannot be read: JSON, or a page for a browser", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content_type = "text/html"),
    (status = 409, description = "TOTP is already on", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
))]
#[post("/account/totp")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn totp_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let Some((session, user)) = current_session(&req, &state) else {
        return to_login();
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    let f: CsrfForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    if !session_csrf_ok(&session, f.csrf.as_deref()) {
        return views::csrf_refused();
    }
    match begin_enrolment(&state, &user).await {
        Ok(e) => totp_page(&session, &e, None, StatusCode::OK),
        Err(e) => views::api_error(&e),
    }
}

#[utoipa::path(tag = "pages", request_body(content = TotpCodeForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "TOTP is on: to `/account`; or not signed in: to the login page"),
    (status = 400, description = "A body that cannot be read: JSON, or a page for a browser", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 401, description = "A wrong code: the key and form again", content_type = "text/html"),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content_type = "text/html"),
    (status = 409, description = "TOTP is already on, or no enrolment is in progress", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 429, description = "Too many wrong codes; see Retry-After", content_type = "text/html"),
))]
#[post("/account/totp/confirm")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn totp_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let Some((session, user)) = current_session(&req, &state) else {
        return to_login();
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    let f: TotpCodeForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    if !session_csrf_ok(&session, f.csrf.as_deref()) {
        return views::csrf_refused();
    }
    match confirm_enrolment(&state, &user, &f.code).await {
        Ok(()) => see_other("/account?done=totp_on"),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => match pending_enrolment(&state, &user) {
            Some(pending) => totp_page(
                &session,
                &pending,
                Some("That code is not right. Please try again."),
                StatusCode::UNAUTHORIZED,
            ),
            None => views::api_error(&e),
        },
        Err(e) => retry_after(
            views::error(&views::ErrorPage {
                status: e.status.as_u16(),
                error: e.code,
                description: &sentence(&e),
            }),
            &e,
        ),
    }
}
