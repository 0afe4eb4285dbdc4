//! E-mail verification (SPEC §4): `POST /api/oauth/send_email_link` mails
//! the caller a link; `GET /api/oauth/valid_email/{token}` (the link)
//! marks the address verified and sends the browser on with `301`. A link
//! is single use, expires after `accounts.code_ttl`, is void once a newer
//! one is sent, and only verifies the address it was mailed to.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::directory::{CodeEffect, CodeError, CodePurpose, CodeRef, RedeemCode};

use crate::error::{ApiError, ErrorBody};
use crate::extract::session::client_ip;
use crate::extract::Caller;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkSent {
    message: String,
}

#[utoipa::path(tag = "api_oauth", security(("bearer" = [])), responses(
    (status = 200, description = "A link was mailed to the caller's address (or it is verified already)", body = LinkSent),
    (status = 401, description = "No valid bearer token or session", body = ErrorBody),
    (status = 429, description = "Too many links asked for; see Retry-After", body = ErrorBody),
))]
#[post("/api/oauth/send_email_link")]
#[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
pub async fn send_email_link(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user;
    if user.email_verified {
        return Ok(HttpResponse::Ok().json(LinkSent {
            message: "the e-mail address is already verified".into(),
        }));
    }
    state
        .account_mail
        .check_send(&client_ip(&req), &user.email)?;
    state
        .engine
        .mail_verification_link(&user, &state.account_mail)
        .await?;
    Ok(HttpResponse::Ok().json(LinkSent {
        message: format!("a verification link was sent to {}", user.email),
    }))
}

#[utoipa::path(tag = "api_oauth", params(("token" = String, Path, description = "The token from the mailed link")), responses(
    (status = 301, description = "Verified; to the configured landing page"),
    (status = 404, description = "invalid_token: unknown, used or expired (a browser, `Accept: text/html`, gets a page)", body = ErrorBody),
    (status = 429, description = "Too many bad links from this client; see Retry-After", body = ErrorBody),
))]
#[get("/api/oauth/valid_email/{token}")]
#[tracing::instrument(skip_all)]
pub async fn valid_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req);
    state.account_mail.check_verify(&ip)?;
    let token = token.into_inner();
    let r = if token.starts_with(tessera_actors::directory::codes::VERIFY_EMAIL_PREFIX) {
        state
            .engine
            .directory
            .send(RedeemCode {
                purpose: CodePurpose::VerifyEmail,
                code: CodeRef::Link(token),
                effect: CodeEffect::VerifyEmail,
            })
            .await?
    } else {
        Err(CodeError::Invalid)
    };
    match r {
        Ok(done) => {
            tracing::info!(user = %done.user.id, "e-mail address verified");
            Ok(HttpResponse::MovedPermanently()
                .insert_header((
                    header::LOCATION,
                    state.account_mail.email_verified_redirect.clone(),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .finish())
        }
        Err(CodeError::Invalid) if crate::browser::wants_html(&req) => {
            // Opened from the mail in a browser: a page, not JSON.
            state.account_mail.verify_failed(&ip);
            let mut page = crate::views::message(&crate::views::MessagePage {
                title: "This link is no longer valid",
                message: "The verification link is unknown, used or expired. Ask for a new one from your account.",
                link: None,
            });
            *page.status_mut() = actix_web::http::StatusCode::NOT_FOUND;
            Ok(page)
        }
        Err(CodeError::Invalid) => {
            state.account_mail.verify_failed(&ip);
            Err(ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                "invalid_token",
                "the link is unknown, used or expired",
            ))
        }
        Err(CodeError::Directory(e)) => Err(ApiError::from(e)),
    }
}
