//! `/admin/users`: create, list, read and delete users, and set a user's
//! password. Passwords are hashed on the password pool (never on a worker
//! or actor thread); hashes and TOTP secrets never leave the server.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use tessera_actors::directory::users::{valid_email, valid_username};
use tessera_actors::directory::{DirectoryError, NewUser, User, UserStatus};
use tessera_actors::domain::Scope;
use tessera_actors::flows::NewPassword;
use utoipa::ToSchema;

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

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {message}"))
}

/// A user by its id; malformed and unknown ids are both `404`.
fn user_by_id(state: &AppState, id: &str) -> Result<std::sync::Arc<User>, ApiError> {
    uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| state.engine.users.get(&id))
        .ok_or_else(|| ApiError::not_found("no such user"))
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
    state: web::Data<AppState>,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    // Cheap checks first: a doomed request costs no argon2 run.
    if !valid_username(&b.username) {
        return Err(invalid(
            "username",
            "3-64 characters of letters, digits, '.', '_' or '-'",
        ));
    }
    if !valid_email(&b.email) {
        return Err(invalid("email", "not a valid e-mail address"));
    }
    let scope = b
        .scope
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(|e| invalid("scope", e))?;
    for (login, what) in [(&b.username, "username"), (&b.email, "email")] {
        if state.engine.users.by_login(login).is_some() {
            return Err(ApiError::from(DirectoryError::Taken(what)));
        }
    }
    let password = NewPassword::parse(b.password)?;
    let user = state
        .engine
        .create_user(
            NewUser {
                username: b.username,
                email: b.email,
                email_verified: b.email_verified,
                name: b.name,
                given_name: b.given_name,
                family_name: b.family_name,
                scope,
                ..NewUser::default()
            },
            password,
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(UserView::new(&user)))
}

#[utoipa::path(tag = "admin", responses((status = 200, description = "Every user, oldest first", body = [UserView]), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/users")]
#[tracing::instrument(skip_all)]
pub async fn list_users(_: AdminAuth, state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<UserView> = state
        .engine
        .users
        .list()
        .iter()
        .map(|u| UserView::new(u))
        .collect();
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(list)
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn get_user(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = user_by_id(&state, &path)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(UserView::new(&u)))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "Deleted, and every session of the user ended"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[delete("/admin/users/{id}")]
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub async fn delete_user(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let u = user_by_id(&state, &path)?;
    state.engine.delete_user(u.id).await?;
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
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<SetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let u = user_by_id(&state, &path)?;
    let password = NewPassword::parse(body.into_inner().password)?;
    state.engine.set_password(u.id, password).await?;
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
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let u = user_by_id(&state, &path)?;
    let b = body.into_inner();
    let scope = b
        .scope
        .as_deref()
        .map(Scope::parse)
        .transpose()
        .map_err(|e| invalid("scope", e))?;
    let status = match b.status.as_deref() {
        None => None,
        Some("active") => Some(UserStatus::Active),
        Some("disabled") => Some(UserStatus::Disabled),
        Some(_) => return Err(invalid("status", "active or disabled")),
    };
    let patch = tessera_actors::directory::UserPatch {
        email: b.email,
        email_verified: b.email_verified,
        name: b.name,
        given_name: b.given_name,
        family_name: b.family_name,
        scope,
        status,
        totp: None,
    };
    let updated = state.engine.update_user(&u, patch).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(UserView::new(&updated)))
}
