//! `/admin/users`: create, list (and search), read and delete users, set a
//! user's password, roles and TOTP, and see or end their browser sessions.
//! Passwords are hashed on the password pool (never on a worker or actor
//! thread); hashes and TOTP secrets never leave the server. The work is in
//! [`super::ops::users`]; these are its JSON wrappers.

use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::sessions::Session;
use utoipa::ToSchema;

use super::clients::SearchQuery;
use super::ops;
use super::ops::users::{NewUserInput, UserChanges};
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;
use crate::views::user::UserView;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    username: String,
    email: String,
    /// At least 8 characters, at most 1024 bytes.
    password: String,
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    /// Space-separated scopes the user's personal tokens may carry.
    scope: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRolesRequest {
    /// The user's server roles, replacing the ones they have: `admin`
    /// (may use the admin console), or none.
    roles: Vec<String>,
}

fn no_store(r: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    r.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
}

#[utoipa::path(
    tag = "admin",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Invalid field or password policy", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 409, description = "Username or e-mail taken", body = ErrorBody),
        (status = 503, description = "The password pool is saturated (see Retry-After)", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/admin/users")]
#[tracing::instrument(skip_all)]
pub async fn create_user(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let input = NewUserInput {
        username: b.username,
        email: b.email,
        password: b.password,
        email_verified: b.email_verified,
        name: b.name,
        given_name: b.given_name,
        family_name: b.family_name,
        scope: b.scope,
    };
    let user = ops::users::create(&state, &Who::api(&req), input).await?;
    Ok(no_store(&mut HttpResponse::Created()).json(UserView::new(&user)))
}

#[utoipa::path(tag = "admin", params(SearchQuery), responses((status = 200, description = "Every user (or those whose username or e-mail contains `q`), oldest first", body = [UserView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/users")]
#[tracing::instrument(skip_all)]
pub async fn list_users(
    _: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    let list: Vec<UserView> = ops::users::list(&state, query.q.as_deref())
        .iter()
        .map(|u| UserView::new(u))
        .collect();
    no_store(&mut HttpResponse::Ok()).json(list)
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn get_user(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = ops::users::get(&state, &path)?;
    Ok(no_store(&mut HttpResponse::Ok()).json(UserView::new(&u)))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Deleted, and every session of the user ended"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[delete("/admin/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn delete_user(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::users::delete(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path)),
    request_body = SetPasswordRequest,
    responses(
        (status = 204, description = "Changed, and every session of the user ended"),
        (status = 400, description = "Password policy", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, description = "The password pool is saturated (see Retry-After)", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[put("/admin/users/{id}/password")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn set_user_password(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = body.into_inner().password;
    ops::users::set_password(&state, &Who::api(&req), &path, password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A field that is present (`null` included) is `Some`: absent leaves a
/// value alone, `null` clears it.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Profile and status changes; absent fields are left alone, `null`
/// clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    email: Option<String>,
    email_verified: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    family_name: Option<Option<String>>,
    /// Space-separated scopes the user's personal tokens may carry.
    scope: Option<String>,
    /// `active` or `disabled` (disabling ends every session and token).
    status: Option<String>,
}

#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path)),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "E-mail taken", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[patch("/admin/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn update_user(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let changes = UserChanges {
        email: b.email,
        email_verified: b.email_verified,
        name: b.name,
        given_name: b.given_name,
        family_name: b.family_name,
        scope: b.scope,
        status: b.status,
    };
    let updated = ops::users::update(&state, &Who::api(&req), &path, changes).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(UserView::new(&updated)))
}

#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path)),
    request_body = SetRolesRequest,
    responses(
        (status = 200, description = "The user with their new roles", body = UserView),
        (status = 400, description = "Unknown role", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[put("/admin/users/{id}/roles")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn set_user_roles(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SetRolesRequest>,
) -> Result<HttpResponse, ApiError> {
    let roles = body.into_inner().roles;
    let u = ops::users::set_roles(&state, &Who::api(&req), &path, roles).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(UserView::new(&u)))
}

#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "TOTP is off: the user signs in with the password until they enrol again", body = UserView),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The user has no TOTP enrolment", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[delete("/admin/users/{id}/totp")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn reset_user_totp(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = ops::users::reset_totp(&state, &Who::api(&req), &path).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(UserView::new(&u)))
}

/// A live browser session, as an administrator sees it.
#[derive(Serialize, ToSchema)]
pub struct AdminSessionView {
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    /// `active`, or `pending_mfa` (waiting for the second factor).
    state: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    last_seen_at: String,
    /// RFC 3339: the idle expiry.
    expires_at: String,
    /// RFC 3339: the absolute end.
    absolute_expires_at: String,
    ip: String,
    user_agent: String,
    /// RFC 8176 authentication methods (`pwd`, `otp`, ...).
    amr: Vec<String>,
    /// The clients given an authorization in the session.
    clients: Vec<String>,
}

impl AdminSessionView {
    pub fn new(s: &Session) -> Self {
        let rfc = tessera_actors::clock::rfc3339;
        let mut clients: Vec<String> = s.clients.iter().map(|c| c.client_id.clone()).collect();
        clients.dedup();
        AdminSessionView {
            id: s.id,
            user_id: s.user_id,
            state: match s.state {
                tessera_actors::sessions::SessionState::Active => "active",
                tessera_actors::sessions::SessionState::PendingMfa => "pending_mfa",
            }
            .into(),
            created_at: rfc(s.created_at),
            last_seen_at: rfc(s.last_seen_at),
            expires_at: rfc(s.expires_at),
            absolute_expires_at: rfc(s.absolute_expires_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.ua.clone(),
            amr: s.amr.clone(),
            clients,
        }
    }
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses(
    (status = 200, description = "The user's live browser sessions, newest first", body = [AdminSessionView]),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/users/{id}/sessions")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn list_user_sessions(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let list: Vec<AdminSessionView> = ops::users::sessions(&state, &path)?
        .iter()
        .map(|s| AdminSessionView::new(s))
        .collect();
    Ok(no_store(&mut HttpResponse::Ok()).json(list))
}

/// How many sessions an operation ended.
#[derive(Serialize, ToSchema)]
pub struct EndedView {
    ended: usize,
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses(
    (status = 200, description = "Every browser session of the user ended; the clients they were used with are told by back-channel logout", body = EndedView),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/users/{id}/sessions")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn end_user_sessions(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = ops::users::end_sessions(&state, &Who::api(&req), &path).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(EndedView { ended }))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The session's id")), responses(
    (status = 204, description = "Ended; the clients it was used with are told by back-channel logout"),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/sessions/{id}")]
#[tracing::instrument(skip_all, fields(session = %path.as_str()))]
pub async fn end_session(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::sessions::end(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
