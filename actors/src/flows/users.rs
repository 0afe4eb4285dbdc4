//! Operations an operator makes on a user (the admin API and the CLI call
//! the same ones): creating one, and those that end a user's access —
//! deleting the account, disabling it, and the step both share (every
//! session closed, every token revoked).

use std::sync::Arc;

use super::{FlowError, NewPassword};
use crate::directory::{CreateUser, DeleteUser, NewUser, UpdateUser, User, UserPatch, UserStatus};
use crate::engine::{ActionError, Engine};

impl Engine {
    /// Create a user with this password (hashed on the pool; the
    /// `password_hash` of `user` is replaced by it).
    pub async fn create_user(
        &self,
        user: NewUser,
        password: NewPassword,
    ) -> Result<Arc<User>, FlowError> {
        let password_hash = self.passwords.hash(password.into_inner()).await?;
        Ok(self
            .directory
            .send(CreateUser(NewUser {
                password_hash,
                ..user
            }))
            .await??)
    }

    /// End a user's access everywhere: close every browser session and
    /// revoke every token issued to them until now (password change,
    /// account deletion, password reset). Durable before it returns.
    pub async fn end_user_access(&self, user: uuid::Uuid) -> Result<usize, ActionError> {
        let now = self.clock.now();
        let until = now.saturating_add(
            self.config
                .max_family_lifetime
                .max(self.config.max_access_token_ttl),
        );
        // Every token resident now, one by one (exact, whatever its second)...
        let ids: Vec<(u128, i64)> = self
            .tokens
            .of_subject(&user.to_string())
            .into_iter()
            .flat_map(|r| [(r.jti, r.exp), (r.family, until)])
            .filter(|(id, _)| *id != 0)
            .collect();
        if !ids.is_empty() {
            self.revocations
                .send(crate::revocation::Revoke(ids))
                .await??;
        }
        // ...and, as a backstop for tokens held nowhere in memory (a JWT
        // whose record was lost), everything issued in an earlier second.
        self.revocations
            .send(crate::revocation::RevokeSubject {
                sub: user.to_string(),
                cutoff: now,
                until,
            })
            .await??;
        let closed = self
            .session_registry
            .send(crate::sessions::CloseAllForUser {
                user_id: user,
                except: None,
            })
            .await??;
        Ok(closed)
    }

    /// Delete a user and end their access everywhere; answers how many
    /// browser sessions were closed.
    pub async fn delete_user(&self, user: uuid::Uuid) -> Result<usize, FlowError> {
        self.directory.send(DeleteUser(user)).await??;
        Ok(self.end_user_access(user).await?)
    }

    /// Change a user's profile or status; disabling an active account
    /// ends its access everywhere.
    pub async fn update_user(&self, user: &User, patch: UserPatch) -> Result<Arc<User>, FlowError> {
        let disabling = patch.status == Some(UserStatus::Disabled);
        let updated = self
            .directory
            .send(UpdateUser { id: user.id, patch })
            .await??;
        if disabling && user.status != UserStatus::Disabled {
            self.end_user_access(user.id).await?;
        }
        Ok(updated)
    }
}
