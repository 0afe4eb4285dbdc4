//! Users: list and search, read, create, change, delete, set the password,
//! set roles, reset TOTP, and their browser sessions.

use std::sync::Arc;

use actix_web::http::StatusCode;
use tessera_actors::directory::users::{valid_email, valid_username};
use tessera_actors::directory::{DirectoryError, NewUser, SetRoles, User, UserPatch, UserStatus};
use tessera_actors::domain::Scope;
use tessera_actors::flows::NewPassword;
use tessera_actors::sessions::{CloseAllForUser, Session};

use super::parse_id;
use crate::audit::{audited, audited_with, Who};
use crate::error::ApiError;
use crate::state::AppState;

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {message}"))
}

/// A user by its id; malformed and unknown ids are both `404`.
pub fn get(state: &AppState, id: &str) -> Result<Arc<User>, ApiError> {
    uuid::Uuid::parse_str(id)
        .ok()
        .and_then(|id| state.engine.users.get(&id))
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// A user by id, username or e-mail.
pub fn find(state: &AppState, user: &str) -> Result<Arc<User>, ApiError> {
    get(state, user).or_else(|_| {
        state
            .engine
            .users
            .by_login(user)
            .ok_or_else(|| ApiError::not_found("no such user"))
    })
}

/// Every user, oldest first; with `q`, those whose username or e-mail
/// contains it (any case).
pub fn list(state: &AppState, q: Option<&str>) -> Vec<Arc<User>> {
    let q = q
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    state
        .engine
        .users
        .list()
        .into_iter()
        .filter(|u| {
            q.as_deref().is_none_or(|q| {
                u.username.to_lowercase().contains(q) || u.email.to_lowercase().contains(q)
            })
        })
        .collect()
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub email: String,
    pub password: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Space-separated scopes the user's personal tokens may carry.
    pub scope: Option<String>,
}

pub async fn create(state: &AppState, who: &Who, b: NewUserInput) -> Result<Arc<User>, ApiError> {
    let target = Some(b.username.clone());
    let r: Result<Arc<User>, ApiError> = async {
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
        Ok(state
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
            .await?)
    }
    .await;
    audited(&state.engine, who, "user.create", target, r).await
}

/// Delete a user; every session ends and every token is revoked.
pub async fn delete(state: &AppState, who: &Who, id: &str) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let u = get(state, id)?;
        state.engine.delete_user(u.id).await?;
        Ok(())
    }
    .await;
    audited(&state.engine, who, "user.delete", Some(id.to_string()), r).await
}

/// Set a user's password; every session ends and every token is revoked.
pub async fn set_password(
    state: &AppState,
    who: &Who,
    id: &str,
    password: String,
) -> Result<(), ApiError> {
    let r: Result<(), ApiError> = async {
        let u = get(state, id)?;
        let password = NewPassword::parse(password)?;
        state.engine.set_password(u.id, password).await?;
        Ok(())
    }
    .await;
    audited(
        &state.engine,
        who,
        "user.password.set",
        Some(id.to_string()),
        r,
    )
    .await
}

/// Profile and status changes; `None` leaves a field alone, `Some(None)`
/// clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    /// Space-separated scopes the user's personal tokens may carry.
    pub scope: Option<String>,
    /// `active` or `disabled` (disabling ends every session and token).
    pub status: Option<String>,
}

pub async fn update(
    state: &AppState,
    who: &Who,
    id: &str,
    b: UserChanges,
) -> Result<Arc<User>, ApiError> {
    let r: Result<Arc<User>, ApiError> = async {
        let u = get(state, id)?;
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
        let patch = UserPatch {
            email: b.email,
            email_verified: b.email_verified,
            name: b.name,
            given_name: b.given_name,
            family_name: b.family_name,
            scope,
            status,
            totp: None,
        };
        Ok(state.engine.update_user(&u, patch).await?)
    }
    .await;
    audited(&state.engine, who, "user.update", Some(id.to_string()), r).await
}

/// Replace a user's server roles (`admin`, or none).
pub async fn set_roles(
    state: &AppState,
    who: &Who,
    id: &str,
    roles: Vec<String>,
) -> Result<Arc<User>, ApiError> {
    let r: Result<(Arc<User>, Option<String>), ApiError> = async {
        let u = get(state, id)?;
        let u = state
            .engine
            .directory
            .send(SetRoles { id: u.id, roles })
            .await??;
        let now = if u.roles.is_empty() {
            "roles: none".to_string()
        } else {
            format!("roles: {}", u.roles.join(", "))
        };
        Ok((u, Some(now)))
    }
    .await;
    audited_with(
        &state.engine,
        who,
        "user.roles.set",
        Some(id.to_string()),
        r,
    )
    .await
}

/// Turn a user's TOTP off (enrolled or half-enrolled): they sign in with
/// the password alone until they enrol again. Refused when there is none.
pub async fn reset_totp(state: &AppState, who: &Who, id: &str) -> Result<Arc<User>, ApiError> {
    let r: Result<Arc<User>, ApiError> = async {
        let u = get(state, id)?;
        if u.totp.is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the user has no TOTP enrolment",
            ));
        }
        let patch = UserPatch {
            totp: Some(None),
            ..UserPatch::default()
        };
        Ok(state.engine.update_user(&u, patch).await?)
    }
    .await;
    audited(
        &state.engine,
        who,
        "user.totp.reset",
        Some(id.to_string()),
        r,
    )
    .await
}

/// A user's live browser sessions, newest first.
pub fn sessions(state: &AppState, id: &str) -> Result<Vec<Arc<Session>>, ApiError> {
    let u = get(state, id)?;
    let now = state.engine.clock.now();
    Ok(state
        .engine
        .sessions
        .of_user(&u.id)
        .into_iter()
        .filter(|s| s.is_live(now))
        .collect())
}

/// End every browser session of a user (the clients that were given an
/// authorization in them are told by back-channel logout); answers how
/// many ended. Tokens are left alone.
pub async fn end_sessions(state: &AppState, who: &Who, id: &str) -> Result<usize, ApiError> {
    let r: Result<(usize, Option<String>), ApiError> = async {
        let user = parse_id(id, "user")?;
        if state.engine.users.get(&user).is_none() {
            return Err(ApiError::not_found("no such user"));
        }
        let n = state
            .engine
            .session_registry
            .send(CloseAllForUser {
                user_id: user,
                except: None,
            })
            .await??;
        Ok((n, Some(format!("{n} session(s) ended"))))
    }
    .await;
    audited_with(
        &state.engine,
        who,
        "user.sessions.end",
        Some(id.to_string()),
        r,
    )
    .await
}
