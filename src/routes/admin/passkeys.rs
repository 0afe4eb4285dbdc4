//! A user's passkeys, for administrators: list them, and remove one or all
//! (a lost device, a user locked out). Removal leaves the password and
//! every recovery flow as they were; sessions stay open.
//!
//! The operations ([`list_passkeys`], [`remove_passkeys`]) are what the
//! JSON routes and the console both call; a removal, done or refused, is
//! written to the audit log before it answers. Listing changes nothing
//! and is not logged.

use actix_web::{delete, get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::directory::{DirectoryError, RemovePasskeys, User};
use utoipa::ToSchema;

use crate::audit::{audited_with, Who};
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::passkeys::PasskeyView;
use crate::state::AppState;

/// What a removal did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedPasskeys {
    /// How many passkeys were removed.
    pub removed: usize,
    /// How many the user has left.
    pub remaining: usize,
}

/// A user by its id; malformed and unknown ids are both `404`.
fn user_by_id(state: &AppState, id: &str) -> Result<std::sync::Arc<User>, ApiError> {
    uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| state.engine.users.get(&id))
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// The user's passkeys.
pub async fn list_passkeys(
    state: &AppState,
    _who: &Who,
    user_id: &str,
) -> Result<Vec<PasskeyView>, ApiError> {
    let user = user_by_id(state, user_id)?;
    Ok(user.passkeys.iter().map(PasskeyView::new).collect())
}

/// Remove the user's passkey `credential_id`, or every passkey (`None`).
pub async fn remove_passkeys(
    state: &AppState,
    who: &Who,
    user_id: &str,
    credential_id: Option<&str>,
) -> Result<RemovedPasskeys, ApiError> {
    let target = Some(match credential_id {
        Some(c) => format!("user:{user_id} passkey:{c}"),
        None => format!("user:{user_id}"),
    });
    let action = if credential_id.is_some() {
        "user.passkey.remove"
    } else {
        "user.passkeys.remove_all"
    };
    let result = async {
        let user = user_by_id(state, user_id)?;
        let (after, removed) = state
            .engine
            .directory
            .send(RemovePasskeys {
                user: user.id,
                id: credential_id.map(str::to_string),
            })
            .await?
            .map_err(|e| match e {
                DirectoryError::Invalid {
                    field: "credential_id",
                    ..
                } => ApiError::not_found("the user has no passkey with this id"),
                e => ApiError::from(e),
            })?;
        tracing::info!(user_id = %user.id, removed, actor = %who.actor, "passkeys removed by an administrator");
        let out = RemovedPasskeys {
            removed,
            remaining: after.passkeys.len(),
        };
        let detail = Some(format!("removed {removed}"));
        Ok((out, detail))
    }
    .await;
    audited_with(&state.engine, who, action, target, result).await
}

#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The user's id")), responses(
    (status = 200, description = "The user's passkeys (never their keys)", body = [PasskeyView]),
    (status = 401, description = "No or wrong admin token", body = ErrorBody),
    (status = 404, description = "No such user", body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/users/{id}/passkeys")]
#[tracing::instrument(skip_all)]
pub async fn get_passkeys(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let list = list_passkeys(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(list))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The user's id")), responses(
    (status = 200, description = "Every passkey of the user removed", body = RemovedPasskeys),
    (status = 401, description = "No or wrong admin token", body = ErrorBody),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 409, description = "The account changed meanwhile; try again", body = ErrorBody),
    (status = 503, description = "The removal or its audit record could not be stored; see Retry-After", body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/users/{id}/passkeys")]
#[tracing::instrument(skip_all)]
pub async fn delete_passkeys(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let done = remove_passkeys(&state, &Who::api(&req), &path, None).await?;
    Ok(HttpResponse::Ok().json(done))
}

#[utoipa::path(tag = "admin", params(
    ("id" = String, Path, description = "The user's id"),
    ("credential_id" = String, Path, description = "The passkey's credential id (base64url)"),
), responses(
    (status = 200, description = "The passkey removed", body = RemovedPasskeys),
    (status = 401, description = "No or wrong admin token", body = ErrorBody),
    (status = 404, description = "No such user, or the user has no such passkey", body = ErrorBody),
    (status = 409, description = "The account changed meanwhile; try again", body = ErrorBody),
    (status = 503, description = "The removal or its audit record could not be stored; see Retry-After", body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/users/{id}/passkeys/{credential_id}")]
#[tracing::instrument(skip_all)]
pub async fn delete_passkey(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, cred) = path.into_inner();
    let done = remove_passkeys(&state, &Who::api(&req), &id, Some(&cred)).await?;
    Ok(HttpResponse::Ok().json(done))
}
