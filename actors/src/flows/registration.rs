//! Self-service registration (SPEC §2 and §4), whichever front it comes
//! through (`/registration`, the `/auth/register` pages, the direct
//! `/api/oauth/register`).
//!
//! With a mailed code: [`Engine::start_registration`] never tells whether
//! the address already has an account. For an active account it does the
//! same work — the password is hashed all the same, the same durable
//! writes are waited for — and mails a notice that an account exists
//! instead of a code (so only the owner learns it). A still-pending
//! address gets a fresh code (the old one is void) and the newest username
//! and password. A username taken by another account is refused whatever
//! the address, so that answer says nothing about it either.
//!
//! Each front checks its request first ([`Engine::check_registration`],
//! [`Engine::check_account`]: cheap, before any argon2 run), applies its
//! own rate limits, then makes the one call that does the work.

use std::sync::Arc;

use super::{AccountMails, FlowError, NewPassword};
use crate::directory::users::{valid_email, valid_username};
use crate::directory::{
    invalid, Client, CodeEffect, CodeError, CodePurpose, CodeRef, CreateUser, DirectoryError,
    IssueCode, NewUser, RedeemCode, RenewPending, User, UserStatus,
};
use crate::engine::Engine;
use crate::grants::first_party::{self, AccountGrant, AccountTokens};

/// A registration whose fields were checked; what
/// [`Engine::start_registration`] takes.
pub struct RegistrationRequest {
    client: Arc<Client>,
    username: String,
    email: String,
    password: NewPassword,
    /// The account this address has already, if any.
    existing: Option<Arc<User>>,
}

impl RegistrationRequest {
    /// The client the account is for.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
    /// The address (trimmed) the code goes to.
    pub fn email(&self) -> &str {
        &self.email
    }
}

/// A new active account for `/api/oauth/register`, its fields checked.
pub struct AccountRequest {
    client: Arc<Client>,
    user: NewUser,
    password: NewPassword,
}

impl AccountRequest {
    /// The address (trimmed) the verification link goes to.
    pub fn email(&self) -> &str {
        &self.user.email
    }
}

/// The fields of `/api/oauth/register` (no `Debug`: it holds a password).
#[derive(Clone, Default)]
pub struct AccountFields {
    pub username: String,
    pub email: String,
    pub password: String,
    pub role: Option<String>,
    pub company: Option<String>,
}

/// A registration redeemed: the active account and its first tokens.
pub struct Registered {
    pub user: Arc<User>,
    /// The client the registration was made for (or the account client).
    pub client: Arc<Client>,
    pub tokens: AccountTokens,
}

/// Check the fields of a new account (cheap checks, before any argon2).
pub fn check_new_account(
    username: &str,
    email: &str,
    password: String,
) -> Result<NewPassword, FlowError> {
    if !valid_username(username) {
        return Err(invalid(
            "username",
            "3-64 characters of letters, digits, '.', '_' or '-'",
        )
        .into());
    }
    if !valid_email(email) {
        return Err(invalid("email", "not a valid e-mail address").into());
    }
    Ok(NewPassword::parse(password)?)
}

impl Engine {
    /// Refused while self-service registration is disabled (every front
    /// asks first, before it reads the request).
    pub fn registration_open(&self) -> Result<(), FlowError> {
        if self.config.accounts.registration_enabled {
            Ok(())
        } else {
            Err(FlowError::RegistrationDisabled)
        }
    }

    /// The client named by `applicationId`, or the account client.
    pub fn registration_client(&self, id: Option<&str>) -> Result<Arc<Client>, FlowError> {
        match id {
            Some(id) => self.clients.get(id).ok_or(FlowError::UnknownApplication),
            None => {
                first_party::account_client(self).map_err(|e| FlowError::Unavailable(e.description))
            }
        }
    }

    /// Check a registration with a mailed code: the client, the fields,
    /// and the username (taken by someone other than a pending
    /// registration of this very address: refused alike whether or not
    /// the address has an account).
    pub fn check_registration(
        &self,
        application_id: Option<&str>,
        username: String,
        email: &str,
        password: String,
    ) -> Result<RegistrationRequest, FlowError> {
        let client = self.registration_client(application_id)?;
        let email = email.trim();
        let password = check_new_account(&username, email, password)?;
        let existing = self.user_by_email(email);
        if let Some(holder) = self.users.by_login(&username) {
            let renewing = existing
                .as_ref()
                .is_some_and(|e| e.id == holder.id && e.status == UserStatus::Pending);
            if !renewing {
                return Err(DirectoryError::Taken("username").into());
            }
        }
        Ok(RegistrationRequest {
            client,
            username,
            email: email.to_string(),
            password,
            existing,
        })
    }

    /// Start a registration: hash the password, and mail a code, or for an
    /// address that has an account already, do the same work and tell its
    /// owner.
    pub async fn start_registration(
        &self,
        r: RegistrationRequest,
        mails: &dyn AccountMails,
    ) -> Result<(), FlowError> {
        // Every path hashes the password, so every answer costs the same.
        let hash = self.passwords.hash(r.password.into_inner()).await?;
        match r.existing {
            None => {
                let user = self
                    .directory
                    .send(CreateUser(NewUser {
                        username: r.username,
                        email: r.email,
                        password_hash: hash,
                        status: UserStatus::Pending,
                        ..NewUser::default()
                    }))
                    .await??;
                self.mail_registration_code(&user, &r.client.client_id, mails)
                    .await?;
            }
            Some(u) if u.status == UserStatus::Pending => {
                let user = self
                    .directory
                    .send(RenewPending {
                        id: u.id,
                        username: r.username,
                        password_hash: hash,
                    })
                    .await??;
                self.mail_registration_code(&user, &r.client.client_id, mails)
                    .await?;
            }
            Some(u) => {
                // The same durable writes as a new registration (the user
                // and the code), and the owner hears of it if the account
                // is live (the third write: the queued mail).
                self.health.durable().await?;
                self.health.durable().await?;
                if u.status == UserStatus::Active {
                    self.queue_mail(mails.account_exists(&u.email)?).await?;
                } else {
                    self.health.durable().await?;
                }
            }
        }
        Ok(())
    }

    /// Mint a registration code for `user` and mail it.
    async fn mail_registration_code(
        &self,
        user: &User,
        application_id: &str,
        mails: &dyn AccountMails,
    ) -> Result<(), FlowError> {
        let accounts = &self.config.accounts;
        let issued = self
            .directory
            .send(IssueCode {
                user: user.id,
                purpose: CodePurpose::Registration,
                ttl: accounts.code_ttl,
                attempts: accounts.code_attempts,
                application_id: Some(application_id.to_string()),
            })
            .await??;
        let mail = mails.registration_code(
            &issued.email,
            &user.username,
            &issued.secret,
            accounts.code_ttl,
        )?;
        self.queue_mail(mail).await
    }

    /// Redeem a mailed registration code: the account is active. Answers
    /// its user and the client it was made for (the account client when
    /// that one is gone).
    pub async fn redeem_registration(
        &self,
        email: &str,
        code: String,
    ) -> Result<(Arc<User>, Arc<Client>), FlowError> {
        let redeemed = self
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
                return Err(FlowError::InvalidCode(CodePurpose::Registration))
            }
            Err(CodeError::Directory(e)) => return Err(e.into()),
        };
        let client = redeemed
            .application_id
            .as_deref()
            .and_then(|id| self.clients.get(id))
            .map_or_else(|| self.registration_client(None), Ok)?;
        Ok((redeemed.user, client))
    }

    /// Redeem a mailed registration code and issue the account's first
    /// tokens.
    pub async fn complete_registration(
        &self,
        email: &str,
        code: String,
    ) -> Result<Registered, FlowError> {
        let (user, client) = self.redeem_registration(email, code).await?;
        let tokens = self.registration_tokens(&user, &client).await?;
        Ok(Registered {
            user,
            client,
            tokens,
        })
    }

    /// A first family of account tokens for a user who just proved their
    /// address (registration) or just registered.
    async fn registration_tokens(
        &self,
        user: &User,
        client: &Client,
    ) -> Result<AccountTokens, FlowError> {
        first_party::issue(
            self,
            AccountGrant {
                user,
                client: Some(client),
                scope: client.scope.clone(),
                origin: "registration",
                rotating: true,
                refresh_ttl: self.config.refresh_token_ttl,
                sid: None,
                amr: vec!["pwd".into()],
            },
        )
        .await
        .map_err(|e| FlowError::Unavailable(e.description))
    }

    /// Check a direct account (`/api/oauth/register`): the fields, then a
    /// username or address already taken (this API's contract says so),
    /// then the account client the tokens go to.
    pub fn check_account(&self, f: AccountFields) -> Result<AccountRequest, FlowError> {
        let email = f.email.trim().to_string();
        let password = check_new_account(&f.username, &email, f.password)?;
        for (login, what) in [(&f.username, "username"), (&email, "email")] {
            if self.users.by_login(login).is_some() {
                return Err(DirectoryError::Taken(what).into());
            }
        }
        let client = self.registration_client(None)?;
        Ok(AccountRequest {
            client,
            user: NewUser {
                username: f.username,
                email,
                email_verified: false,
                role: f.role,
                company: f.company,
                status: UserStatus::Active,
                ..NewUser::default()
            },
            password,
        })
    }

    /// Create an active account at once and issue its first tokens. The
    /// address is not verified yet: a verification link is mailed (one
    /// that cannot be queued is logged; the user can ask for another).
    pub async fn create_account(
        &self,
        r: AccountRequest,
        mails: &dyn AccountMails,
    ) -> Result<(Arc<User>, AccountTokens), FlowError> {
        let password_hash = self.passwords.hash(r.password.into_inner()).await?;
        let user = self
            .directory
            .send(CreateUser(NewUser {
                password_hash,
                ..r.user
            }))
            .await??;
        if let Err(e) = self.mail_verification_link(&user, mails).await {
            tracing::error!(user = %user.id, error = %e, "could not queue the verification mail");
        }
        let tokens = self.registration_tokens(&user, &r.client).await?;
        Ok((user, tokens))
    }

    /// Mint an e-mail verification link for `user` and mail it to their
    /// address.
    pub async fn mail_verification_link(
        &self,
        user: &User,
        mails: &dyn AccountMails,
    ) -> Result<(), FlowError> {
        let ttl = self.config.accounts.code_ttl;
        let issued = self
            .directory
            .send(IssueCode {
                user: user.id,
                purpose: CodePurpose::VerifyEmail,
                ttl,
                attempts: 1,
                application_id: None,
            })
            .await??;
        let mail = mails.verify_email(&issued.email, &user.username, &issued.secret, ttl)?;
        self.queue_mail(mail).await
    }
}
