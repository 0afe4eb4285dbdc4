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

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::users::{valid_email, valid_username};
use tessera_actors::directory::{
    Client, CodeEffect, CodeError, CodePurpose, CodeRef, CreateUser, DirectoryError, IssueCode,
    NewUser, RedeemCode, RenewPending, User, UserStatus,
};
use tessera_actors::grants::first_party::{self, AccountGrant, AccountTokens};
use tessera_actors::password::check_policy;

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

pub fn registration_disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "registration_disabled",
        "self-service registration is disabled",
    )
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {message}"))
}

/// The client named by `applicationId`, or the account client.
pub fn application(state: &AppState, id: Option<&str>) -> Result<Arc<Client>, ApiError> {
    match id {
        Some(id) => state.engine.clients.get(id).ok_or_else(|| {
            ApiError::bad_request(
                "unknown_application",
                "applicationId names no registered client",
            )
        }),
        None => first_party::account_client(&state.engine)
            .map_err(|e| ApiError::unavailable(e.description)),
    }
}

/// Check the fields of a new account (cheap checks, before any argon2).
pub fn check_new_account(username: &str, email: &str, password: &str) -> Result<(), ApiError> {
    if !valid_username(username) {
        return Err(invalid(
            "username",
            "3-64 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    if !valid_email(email) {
        return Err(invalid("email", "not a valid e-mail address"));
    }
    check_policy(password).map_err(|m| invalid("password", m))
}

/// The user whose address (not username) is `email`.
pub fn user_by_email(state: &AppState, email: &str) -> Option<Arc<User>> {
    state
        .engine
        .users
        .by_login(email)
        .filter(|u| u.email.eq_ignore_ascii_case(email.trim()))
}

/// A first family of account tokens for a user who just proved their
/// address (registration) or just registered.
pub async fn account_tokens(
    state: &AppState,
    user: &User,
    client: &Client,
) -> Result<AccountTokens, ApiError> {
    first_party::issue(
        &state.engine,
        AccountGrant {
            user,
            client: Some(client),
            scope: client.scope.clone(),
            origin: "registration",
            rotating: true,
            refresh_ttl: state.engine.config.refresh_token_ttl,
            sid: None,
            amr: vec!["pwd".into()],
        },
    )
    .await
    .map_err(|e| ApiError::unavailable(e.description))
}

/// Mint a code for `user` and mail it.
async fn mail_code(state: &AppState, user: &User, application_id: &str) -> Result<(), ApiError> {
    let accounts = &state.engine.config.accounts;
    let issued = state
        .engine
        .directory
        .send(IssueCode {
            user: user.id,
            purpose: CodePurpose::Registration,
            ttl: accounts.code_ttl,
            attempts: accounts.code_attempts,
            application_id: Some(application_id.to_string()),
        })
        .await??;
    let mail = crate::mail::registration_code(
        &issued.email,
        &user.username,
        &issued.secret,
        accounts.code_ttl,
    )?;
    crate::mail::send(state, mail).await
}

/// Start a registration (shared by the API and the page): check the
/// fields, hash the password, and mail a code, or for an address that has
/// an account already, do the same work and tell its owner.
pub async fn start(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    username: String,
    email: &str,
    password: String,
) -> Result<(), ApiError> {
    check_new_account(&username, email, &password)?;
    let existing = user_by_email(state, email);
    // Taken by someone other than a pending registration of this very
    // address: refused alike whether or not the address has an account.
    if let Some(holder) = state.engine.users.by_login(&username) {
        let renewing = existing
            .as_ref()
            .is_some_and(|e| e.id == holder.id && e.status == UserStatus::Pending);
        if !renewing {
            return Err(ApiError::from(DirectoryError::Taken("username")));
        }
    }
    state.account_mail.check_send(&client_ip(req), email)?;
    // Every path hashes the password, so every answer costs the same.
    let hash = state.engine.passwords.hash(password).await?;
    match existing {
        None => {
            let user = state
                .engine
                .directory
                .send(CreateUser(NewUser {
                    username,
                    email: email.to_string(),
                    password_hash: hash,
                    status: UserStatus::Pending,
                    ..NewUser::default()
                }))
                .await??;
            mail_code(state, &user, &client.client_id).await?;
        }
        Some(u) if u.status == UserStatus::Pending => {
            let user = state
                .engine
                .directory
                .send(RenewPending {
                    id: u.id,
                    username,
                    password_hash: hash,
                })
                .await??;
            mail_code(state, &user, &client.client_id).await?;
        }
        Some(u) => {
            // The same durable writes as a new registration (the user and
            // the code), and the owner hears of it if the account is live.
            state.engine.store.durable().await?;
            state.engine.store.durable().await?;
            if u.status == UserStatus::Active {
                crate::mail::send(state, crate::mail::account_exists(&u.email)?).await?;
            } else {
                state.engine.store.durable().await?;
            }
        }
    }
    Ok(())
}

#[utoipa::path(tag = "registration", params(RegistrationQuery), request_body(content = RegistrationBody, description = "JSON or form"), responses(
    (status = 200, description = "A code was mailed (the same answer when the address already has an account)", body = RegistrationStarted),
    (status = 400, description = "Missing or invalid field, unknown applicationId", body = ErrorBody),
    (status = 403, description = "Registration is disabled", body = ErrorBody),
    (status = 409, description = "The username is taken", body = ErrorBody),
    (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[post("/registration")]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<RegistrationQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !state.engine.config.accounts.registration_enabled {
        return Err(registration_disabled());
    }
    let b: RegistrationBody = parse_body(&req, &body)?;
    let client = application(
        &state,
        b.application_id.as_deref().or(q.application_id.as_deref()),
    )?;
    let email = b.email.trim().to_string();
    start(&req, &state, &client, b.username, &email, b.password).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RegistrationStarted {
            data: RegistrationData {
                application_id: client.client_id.clone(),
                email,
                mode: "registration",
            },
            message: STARTED,
        }))
}

/// Redeem a mailed registration code (shared by the API and the page):
/// the account is active; its user and the client it was made for.
pub async fn redeem(
    req: &HttpRequest,
    state: &AppState,
    email: &str,
    code: String,
) -> Result<(Arc<User>, Arc<Client>), ApiError> {
    let ip = client_ip(req);
    state.account_mail.check_verify(&ip)?;
    let redeemed = state
        .engine
        .directory
        .send(RedeemCode {
            purpose: CodePurpose::Registration,
            code: CodeRef::Numeric {
                email: email.trim().to_string(),
                code,
            },
            effect: CodeEffect::Activate,
        })
        .await?;
    let redeemed = match redeemed {
        Ok(r) => r,
        Err(CodeError::Invalid) => {
            state.account_mail.verify_failed(&ip);
            return Err(ApiError::bad_request(
                "invalid_code",
                "the code is wrong, used or expired; register again for a new one",
            ));
        }
        Err(CodeError::Directory(e)) => return Err(ApiError::from(e)),
    };
    let user = redeemed.user;
    // The client the registration was made for, if it still exists.
    let client = redeemed
        .application_id
        .as_deref()
        .and_then(|id| state.engine.clients.get(id))
        .map_or_else(|| application(state, None), Ok)?;
    Ok((user, client))
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
    if !state.engine.config.accounts.registration_enabled {
        return Err(registration_disabled());
    }
    let b: RegistrationCallbackBody = parse_body(&req, &body)?;
    let (user, client) = redeem(&req, &state, &b.email, b.code).await?;
    let tokens = account_tokens(&state, &user, &client).await?;
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
