//! Passkeys (WebAuthn) through `webauthn-rs`: registration, passwordless
//! sign-in with a discoverable credential, and a passkey as the second
//! factor after the password. No WebAuthn check is made here by hand; this
//! module keeps the ceremonies, stores what the library returns on the
//! user record (through the `Directory`), and turns results into `amr`.
//!
//! - A ceremony's state lives server-side between its two requests
//!   ([`tessera_actors::ceremonies`]: in memory, or in the database on
//!   PostgreSQL so any node may finish it), taken once, expiring after
//!   `[passkeys] ceremony_ttl`. The browser holds only a random handle.
//! - A registration is bound to the session that started it; a second
//!   factor to the pending login; a passwordless login to nothing (the
//!   credential names its user, by the user handle we registered: the
//!   user's id).
//! - `amr`: `hwk` for a credential bound to one device (not backup
//!   eligible), `swk` for one that may be synced (backup eligible); `user`
//!   when the authenticator verified the user (always, as passkeys here
//!   require it). With `user`, the passkey alone is `acr` `mfa`.
//! - After each use the stored credential takes the library's update
//!   (counter, backup state). A counter that did not grow, or a backup
//!   eligibility that changed, is refused, logged and counted in
//!   `tessera_passkey_clone_signals_total`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_actors::ceremonies::{Ceremonies, CeremonyError};
use tessera_actors::directory::{
    AddPasskey, DirectoryError, StoredPasskey, UsePasskey, User, UserStatus,
};
use tessera_actors::secret::b64url;
use tessera_actors::sessions::Session;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnError,
};

use crate::error::ApiError;
use crate::state::AppState;

/// The browser side, served at `/assets/passkeys.js`.
pub const SCRIPT: &str = include_str!("passkeys.js");

mod setup;
mod wire;

pub use wire::{json_body, parse_credential, PasskeyView};

/// What a ceremony's first request answers: the handle to bring back, and
/// the options for `navigator.credentials.create()` / `.get()` (WebAuthn
/// JSON: bytes as base64url).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub ceremony: String,
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// A ceremony in flight.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Ceremony {
    Register {
        user: Uuid,
        session: Uuid,
        name: String,
        state: PasskeyRegistration,
    },
    Login {
        state: DiscoverableAuthentication,
    },
    SecondFactor {
        user: Uuid,
        session: Uuid,
        state: PasskeyAuthentication,
    },
}

/// A verified assertion: whose, with which passkey, and the `amr` it gives.
pub struct Verified {
    pub user: Arc<User>,
    pub passkey: StoredPasskey,
    pub amr: Vec<String>,
}

pub struct Passkeys {
    webauthn: Option<Webauthn>,
    rp_id: Option<String>,
    ceremonies: Ceremonies,
    /// Seconds after a login within which passkeys may be added or removed.
    pub reauth_max_age: i64,
    ttl: i64,
}

fn ceremony_error(e: CeremonyError) -> ApiError {
    match e {
        CeremonyError::Unknown => ApiError::bad_request("invalid_ceremony", e.to_string()),
        CeremonyError::Busy | CeremonyError::Unavailable => ApiError::unavailable(e.to_string()),
    }
}

/// The answer to an assertion that did not verify: one shape whatever the
/// reason, so the answer tells an attacker nothing.
fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "passkey_refused",
        "the passkey was not accepted",
    )
}

fn count(kind: &'static str, result: &'static str) {
    metrics::counter!("tessera_passkey_ceremonies_total", "kind" => kind, "result" => result)
        .increment(1);
}

impl Passkeys {
    /// Whether passkeys can be used on this server.
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// The relying party id, when passkeys are available.
    pub fn rp_id(&self) -> Option<&str> {
        self.rp_id.as_deref()
    }

    fn webauthn(&self) -> Result<&Webauthn, ApiError> {
        self.webauthn
            .as_ref()
            .ok_or_else(|| ApiError::not_found("passkeys are not available on this server"))
    }

    /// Whether the session's login is recent enough to change passkeys.
    pub fn recent(&self, session: &Session, now: i64) -> bool {
        now - session.auth_time <= self.reauth_max_age
    }

    async fn put(&self, c: &Ceremony, now: i64) -> Result<String, ApiError> {
        let payload = serde_json::to_vec(c).map_err(ApiError::internal)?;
        self.ceremonies
            .put(payload, now + self.ttl, now)
            .await
            .map_err(ceremony_error)
    }

    async fn take(&self, handle: &str, now: i64) -> Result<Ceremony, ApiError> {
        let payload = self
            .ceremonies
            .take(handle, now)
            .await
            .map_err(ceremony_error)?;
        serde_json::from_slice(&payload).map_err(ApiError::internal)
    }

    /// Options to create a passkey for `user`, bound to `session`.
    pub async fn start_registration(
        &self,
        user: &User,
        session: &Session,
        name: String,
        now: i64,
    ) -> Result<Started, ApiError> {
        let w = self.webauthn()?;
        let exclude = user
            .passkeys
            .iter()
            .filter_map(|p| tessera_actors::secret::b64url_decode(&p.id))
            .collect::<Vec<_>>();
        let display = user.name.as_deref().unwrap_or(&user.username);
        let (ccr, state) = w
            .start_passkey_registration(user.id, &user.username, display, Some(exclude))
            .map_err(ApiError::internal)?;
        let mut options = serde_json::to_value(&ccr).map_err(ApiError::internal)?;
        // A passkey signs in without a username only if the authenticator
        // keeps it (a discoverable credential): ask for one.
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(|v| v.as_object_mut())
        {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        let ceremony = self
            .put(
                &Ceremony::Register {
                    user: user.id,
                    session: session.id,
                    name,
                    state,
                },
                now,
            )
            .await?;
        count("register", "started");
        Ok(Started { ceremony, options })
    }

    /// Verify the new credential and store it on the user.
    pub async fn finish_registration(
        &self,
        app: &AppState,
        handle: &str,
        user: &User,
        session: &Session,
        credential: &RegisterPublicKeyCredential,
        now: i64,
    ) -> Result<StoredPasskey, ApiError> {
        let w = self.webauthn()?;
        let (name, state) = match self.take(handle, now).await? {
            Ceremony::Register {
                user: u,
                session: s,
                name,
                state,
            } if u == user.id && s == session.id => (name, state),
            _ => return Err(ceremony_error(CeremonyError::Unknown)),
        };
        let passkey = w
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                count("register", "failure");
                tracing::info!(user_id = %user.id, error = %e, "a passkey registration was refused");
                ApiError::bad_request(
                    "invalid_passkey",
                    format!("the passkey could not be registered: {e}"),
                )
            })?;
        let cred = Credential::from(passkey.clone());
        let stored = StoredPasskey {
            id: b64url(passkey.cred_id()),
            name,
            created_at: now,
            last_used_at: None,
            counter: cred.counter,
            backup_eligible: cred.backup_eligible,
            backup_state: cred.backup_state,
            credential: serde_json::to_value(&passkey).map_err(ApiError::internal)?,
        };
        app.engine
            .directory
            .send(AddPasskey {
                user: user.id,
                passkey: stored.clone(),
            })
            .await?
            .map_err(|e| match e {
                DirectoryError::Taken(_) => ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "this passkey is already registered",
                ),
                e => ApiError::from(e),
            })?;
        count("register", "success");
        tracing::info!(user_id = %user.id, credential_id = %stored.id, "passkey registered");
        Ok(stored)
    }

    /// Options for a passwordless sign-in (any discoverable passkey).
    pub async fn start_login(&self, now: i64) -> Result<Started, ApiError> {
        let w = self.webauthn()?;
        let (rcr, state) = w
            .start_discoverable_authentication()
            .map_err(ApiError::internal)?;
        let options = serde_json::to_value(&rcr).map_err(ApiError::internal)?;
        let ceremony = self.put(&Ceremony::Login { state }, now).await?;
        count("login", "started");
        Ok(Started { ceremony, options })
    }

    /// Verify a passwordless sign-in: the credential names its user.
    pub async fn finish_login(
        &self,
        app: &AppState,
        handle: &str,
        credential: &PublicKeyCredential,
        now: i64,
    ) -> Result<Verified, ApiError> {
        let w = self.webauthn()?;
        let Ceremony::Login { state } = self.take(handle, now).await? else {
            return Err(ceremony_error(CeremonyError::Unknown));
        };
        let fail = |why: &str| {
            count("login", "failure");
            tracing::info!(reason = why, "a passkey sign-in was refused");
            refused()
        };
        let (user_id, cred_id) = w
            .identify_discoverable_authentication(credential)
            .map_err(|_| fail("no user handle"))?;
        let user = app
            .engine
            .users
            .get(&user_id)
            .filter(|u| u.status == UserStatus::Active)
            .ok_or_else(|| fail("no such active user"))?;
        // The credential must be one of the user the handle names.
        let stored = user
            .passkey(&b64url(cred_id))
            .cloned()
            .ok_or_else(|| fail("not a passkey of the named user"))?;
        let passkey: Passkey =
            serde_json::from_value(stored.credential.clone()).map_err(ApiError::internal)?;
        let result = w.finish_discoverable_authentication_v2(credential, state, &passkey);
        let v = self
            .record(app, "login", user, stored, passkey, result)
            .await?;
        count("login", "success");
        Ok(v)
    }

    /// Options for the second factor of the pending login `session`.
    pub async fn start_second_factor(
        &self,
        user: &User,
        session: &Session,
        now: i64,
    ) -> Result<Started, ApiError> {
        let w = self.webauthn()?;
        let keys = user
            .passkeys
            .iter()
            .filter_map(|p| serde_json::from_value::<Passkey>(p.credential.clone()).ok())
            .collect::<Vec<_>>();
        if keys.is_empty() {
            return Err(ApiError::bad_request(
                "no_passkey",
                "this account has no passkey",
            ));
        }
        let (rcr, state) = w
            .start_passkey_authentication(&keys)
            .map_err(ApiError::internal)?;
        let options = serde_json::to_value(&rcr).map_err(ApiError::internal)?;
        let ceremony = self
            .put(
                &Ceremony::SecondFactor {
                    user: user.id,
                    session: session.id,
                    state,
                },
                now,
            )
            .await?;
        count("second_factor", "started");
        Ok(Started { ceremony, options })
    }

    /// Verify the second factor of the pending login `session`.
    pub async fn finish_second_factor(
        &self,
        app: &AppState,
        handle: &str,
        user: Arc<User>,
        session: &Session,
        credential: &PublicKeyCredential,
        now: i64,
    ) -> Result<Verified, ApiError> {
        let w = self.webauthn()?;
        let state = match self.take(handle, now).await? {
            Ceremony::SecondFactor {
                user: u,
                session: s,
                state,
            } if u == user.id && s == session.id => state,
            _ => return Err(ceremony_error(CeremonyError::Unknown)),
        };
        let Some(stored) = user
            .passkey(&b64url(credential.get_credential_id()))
            .cloned()
        else {
            count("second_factor", "failure");
            return Err(refused());
        };
        let passkey: Passkey =
            serde_json::from_value(stored.credential.clone()).map_err(ApiError::internal)?;
        let result = w.finish_passkey_authentication(credential, &state);
        let v = self
            .record(app, "second_factor", user, stored, passkey, result)
            .await?;
        count("second_factor", "success");
        Ok(v)
    }

    /// Store the library's verdict: refuse (and count a clone signal) or
    /// record the use, then answer the `amr`.
    async fn record(
        &self,
        app: &AppState,
        kind: &'static str,
        user: Arc<User>,
        stored: StoredPasskey,
        mut passkey: Passkey,
        result: Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError>,
    ) -> Result<Verified, ApiError> {
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let signal = match e {
                    WebauthnError::CredentialPossibleCompromise => Some("counter"),
                    WebauthnError::CredentialBackupEligibilityInconsistent => {
                        Some("backup_eligibility")
                    }
                    _ => None,
                };
                if let Some(reason) = signal {
                    metrics::counter!("tessera_passkey_clone_signals_total", "reason" => reason)
                        .increment(1);
                    tracing::warn!(
                        user_id = %user.id,
                        credential_id = %stored.id,
                        reason,
                        stored_counter = stored.counter,
                        "a passkey assertion looks like a cloned authenticator; refused"
                    );
                } else {
                    tracing::info!(user_id = %user.id, error = %e, "a passkey assertion was refused");
                }
                count(kind, "failure");
                return Err(refused());
            }
        };
        passkey.update_credential(&result);
        let updated = app
            .engine
            .directory
            .send(UsePasskey {
                user: user.id,
                id: stored.id.clone(),
                seen_counter: stored.counter,
                counter: result.counter(),
                backup_eligible: result.backup_eligible(),
                backup_state: result.backup_state(),
                credential: serde_json::to_value(&passkey).map_err(ApiError::internal)?,
            })
            .await?;
        let user = match updated {
            Ok(u) => u,
            // Another login used this passkey with the same counter
            // meanwhile: one assertion, one login.
            Err(DirectoryError::Conflict(_)) | Err(DirectoryError::Invalid { .. }) => {
                count(kind, "failure");
                return Err(refused());
            }
            Err(e) => return Err(e.into()),
        };
        let now_stored = user.passkey(&stored.id).cloned().unwrap_or(stored);
        let mut amr = vec![now_stored.amr_key().to_string()];
        if result.user_verified() {
            amr.push("user".into());
        }
        Ok(Verified {
            user,
            passkey: now_stored,
            amr,
        })
    }
}
