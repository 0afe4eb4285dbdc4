//! A user as the JSON APIs show it (the admin API, and the account API's
//! answer to a registration): never the password hash or a TOTP secret.

use serde::Serialize;
use tessera_actors::directory::{User, UserStatus};
use utoipa::ToSchema;

/// A user as the admin API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: uuid::Uuid,
    username: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    role: Option<String>,
    company: Option<String>,
    /// Scopes the user's personal tokens may carry.
    scope: String,
    /// `active`, `pending` or `disabled`.
    status: String,
    /// `password`; `totp` when enrolled; `passkey` when one is registered.
    mfa_methods: Vec<String>,
    /// Server roles (`admin`: may use the admin console).
    roles: Vec<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl UserView {
    pub fn new(u: &User) -> UserView {
        UserView {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            name: u.name.clone(),
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            role: u.role.clone(),
            company: u.company.clone(),
            scope: u.scope.to_string(),
            status: match u.status {
                UserStatus::Active => "active",
                UserStatus::Pending => "pending",
                UserStatus::Disabled => "disabled",
            }
            .to_string(),
            mfa_methods: u.mfa_methods().into_iter().map(str::to_string).collect(),
            roles: u.roles.clone(),
            created_at: tessera_actors::clock::rfc3339(u.created_at),
            updated_at: tessera_actors::clock::rfc3339(u.updated_at),
        }
    }
}
