//! Personal tokens (SPEC §4): what a user makes, lists and deletes for
//! scripts and tools, and revoking a token with its whole family. The
//! issuer keeps the records (`tokens::personal`); these are the
//! operations over it.

use crate::directory::User;
use crate::domain::Scope;
use crate::engine::{ActionError, Engine};
use crate::grants::first_party::{self, AccountGrant, AccountTokens};
use crate::oauth::OAuthError;
use crate::revocation::Revoke;
use crate::tokens::personal::{
    DeletePersonal, ListPersonal, PersonalError, PersonalToken, PERSONAL,
};
use crate::tokens::TokenRecord;

impl Engine {
    /// Issue a personal token for `user`: a non-rotating refresh token of a
    /// new family, issued to the account client, living
    /// `accounts.personal_token_ttl`. (An access token of the family is
    /// minted with it, as for every account grant; the caller may drop it.)
    pub async fn issue_personal(
        &self,
        user: &User,
        scope: Scope,
        amr: Vec<String>,
    ) -> Result<AccountTokens, OAuthError> {
        first_party::issue(
            self,
            AccountGrant {
                user,
                client: None,
                scope,
                origin: PERSONAL,
                rotating: false,
                refresh_ttl: self.config.accounts.personal_token_ttl,
                sid: None,
                amr,
            },
        )
        .await
    }

    /// The user's live personal tokens, newest first.
    pub async fn list_personal(
        &self,
        user_id: uuid::Uuid,
    ) -> Result<Vec<PersonalToken>, actix::MailboxError> {
        self.issuer.send(ListPersonal { user_id }).await
    }

    /// Delete one of the user's personal tokens (see [`DeletePersonal`]).
    pub async fn delete_personal(
        &self,
        user_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(), PersonalError> {
        self.issuer
            .send(DeletePersonal {
                user_id,
                id,
                linger: self.config.max_access_token_ttl,
            })
            .await?
    }

    /// Revoke a live token and, when it belongs to a grant family, the
    /// family: its refresh tokens and every access token minted from it.
    /// Durable and visible to every introspection before it returns.
    pub async fn revoke_with_family(&self, rec: &TokenRecord) -> Result<(), ActionError> {
        let mut ids = vec![(rec.jti, rec.exp)];
        if rec.family != 0 {
            // Outlive any refresh token the family may hold, and any access
            // token minted from it just before.
            let family_life = self
                .config
                .max_family_lifetime
                .max(self.config.accounts.personal_token_ttl);
            let until = self
                .clock
                .now()
                .max(rec.exp)
                .saturating_add(family_life)
                .saturating_add(self.config.max_access_token_ttl);
            ids.push((rec.family, until));
        }
        self.revocations.send(Revoke(ids)).await??;
        Ok(())
    }
}
