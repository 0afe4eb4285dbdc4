//! Self-service registration with a mailed code (Simptel, SPEC §2).
//!
//! `POST /registration` creates a pending account and mails it a 6-digit
//! code; `POST /registration/callback` redeems the code, activates the
//! account and hands out first-party tokens.
//!
//! The answer to `POST /registration` never tells whether the address
//! already has an account: for an active account the same `200` is sent,
//! the password is hashed all the same, and the mail says that an account
//! already exists instead of carrying a code (so only the owner learns it).
//! A still-pending address gets a fresh code (the old one is void) and the
//! newest username and password. A username taken by another account is
//! `409` whatever the address, so that answer says nothing about it either.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::flows::FlowError;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::session::client_ip;
use crate::state::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistrationQuery {
    /// The OAuth client the account is for; the tokens are issued to it.
    /// Default: the built-in account client.
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegistrationBody {
    /// 3-64 of letters, digits, `.`, `_`, `-`.
    username: String,
    email: String,
    /// At least 8 characters, at most 1024 bytes.
    password: String,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// The mailed code.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegistrationCallbackBody {
    email: String,
    /// The six digits from the mail.
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationData {
    #[serde(rename = "applicationId")]
    application_id: String,
    email: String,
    /// Always `registration`.
    mode: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationStarted {
    data: RegistrationData,
    message: &'static str,
}

/// The account is active; its first tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationDone {
    data: RegistrationData,
    message: &'static str,
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
}

const STARTED: &str = "a registration code was sent to the e-mail address; send it to /registration/callback to activate the account";

#[utoipa::path(tag = "registration", params(RegistrationQuery), request_body(content = RegistrationBody, description = "JSON or form"), responses(
    (status = 200, description = "A code was mailed (the same answer when the address already has an account)", body = RegistrationStarted),
    (status = 400, description = "Missing or invalid field, unknown applicationId", body = ErrorBody),
    (status = 403, description = "Registration is disabled", body = ErrorBody),
    (status = 409, description = "The username is taken", body = ErrorBody),
    (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[post("/registration")]
#[tracing::instrument(skip_all, fields(application_id = q.application_id.as_deref()))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<RegistrationQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.engine.registration_open()?;
    let b: RegistrationBody = parse_body(&req, &body)?;
    let r = state.engine.check_registration(
        b.application_id.as_deref().or(q.application_id.as_deref()),
        b.username,
        &b.email,
        b.password,
    )?;
    state.account_mail.check_send(&client_ip(&req), r.email())?;
    let (client_id, email) = (r.client().client_id.clone(), r.email().to_string());
    state
        .engine
        .start_registration(r, &state.account_mail)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RegistrationStarted {
            data: RegistrationData {
                application_id: client_id,
                email,
                mode: "registration",
            },
            message: STARTED,
        }))
}

#[utoipa::path(tag = "registration", request_body(content = RegistrationCallbackBody, description = "JSON or form"), responses(
    (status = 200, description = "The account is active; its first tokens", body = RegistrationDone),
    (status = 400, description = "invalid_code: the code is wrong, used or expired (after too many wrong tries it is void)", body = ErrorBody),
    (status = 403, description = "Registration is disabled", body = ErrorBody),
    (status = 429, description = "Too many wrong codes from this client; see Retry-After", body = ErrorBody),
))]
#[post("/registration/callback")]
#[tracing::instrument(skip_all)]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.engine.registration_open()?;
    let b: RegistrationCallbackBody = parse_body(&req, &body)?;
    let ip = client_ip(&req);
    state.account_mail.check_verify(&ip)?;
    let done = match state.engine.complete_registration(&b.email, b.code).await {
        Ok(done) => done,
        Err(e) => {
            if matches!(e, FlowError::InvalidCode(_)) {
                state.account_mail.verify_failed(&ip);
            }
            return Err(e.into());
        }
    };
    let (user, client, tokens) = (done.user, done.client, done.tokens);
    metrics::counter!("tessera_registrations_total", "api" => "registration").increment(1);
    tracing::info!(user = %user.id, "registration completed");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(RegistrationDone {
            data: RegistrationData {
                application_id: client.client_id.clone(),
                email: user.email.clone(),
                mode: "registration",
            },
            message: "the account is active",
            access_token: tokens.access_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token,
        }))
}
