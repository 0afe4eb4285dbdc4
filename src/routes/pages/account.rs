//! `GET /account` (the signed-in user's account), `POST /account/totp`
//! (start TOTP enrolment: the key and its QR code),
//! `POST /account/totp/confirm` (turn TOTP on with a first code) and
//! `GET /account/totp/required` (an authorization request asked for two-step
//! verification the user has not set up: set it up and go on, or decline).

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
    /// The authorization request to go on with once TOTP is on.
    return_to: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TotpRequiredQuery {
    /// The authorization request (`/oauth2/authorize?...`) that asked for
    /// two-step verification.
    return_to: Option<String>,
}

/// An authorization request to come back to, and nothing else.
fn authorize_return(r: Option<&str>) -> Option<&str> {
    crate::browser::safe_return_to(r).filter(|r| r.starts_with("/oauth2/authorize?"))
}

/// The first code from the authenticator.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TotpCodeForm {
    /// Six digits.
    code: String,
    /// The session-bound CSRF token of the page.
    csrf: Option<String>,
    /// The authorization request to go on with once TOTP is on.
    return_to: Option<String>,
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
    return_to: Option<&str>,
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
            return_to,
        },
    )
}

#[utoipa::path(tag = "pages", params(TotpRequiredQuery), responses(
    (status = 200, description = "An application asked for two-step verification: set it up, or decline", content_type = "text/html"),
    (status = 303, description = "Not signed in, or TOTP already on: back to the authorization request (or the account page)"),
))]
#[get("/account/totp/required")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn totp_required(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TotpRequiredQuery>,
) -> HttpResponse {
    let Some(back) = authorize_return(q.return_to.as_deref()) else {
        return see_other("/account");
    };
    let Some((session, user)) = current_session(&req, &state) else {
        return see_other(back);
    };
    if user.totp_enabled() {
        return see_other(back);
    }
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    let client = back
        .strip_prefix("/oauth2/authorize?")
        .and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|id| state.engine.clients.get(&id));
    let name = client
        .as_ref()
        .map_or("The application", |c| c.name.as_str());
    let csrf = session_csrf(&session);
    let decline = format!("{back}&mfa_declined=1");
    views::page(
        StatusCode::OK,
        &views::TotpRequiredPage {
            client_name: name,
            csrf: &csrf,
            return_to: back,
            decline: &decline,
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
    let back = authorize_return(f.return_to.as_deref());
    match begin_enrolment(&state, &user).await {
        Ok(e) => totp_page(&session, &e, None, StatusCode::OK, back),
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
    let back = authorize_return(f.return_to.as_deref());
    match confirm_enrolment(&state, &user, &f.code).await {
        // An application asked for it: on to its request (which asks for
        // a login with the new second step).
        Ok(()) => see_other(back.unwrap_or("/account?done=totp_on")),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => match pending_enrolment(&state, &user) {
            Some(pending) => totp_page(
                &session,
                &pending,
                Some("That code is not right. Please try again."),
                StatusCode::UNAUTHORIZED,
                back,
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
