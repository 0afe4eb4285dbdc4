//! `Engine::start` picks the storage backend, opens every actor over its own
//! part of it, each supervised on its own arbiter, and hands back one handle
//! with every address and read view.

use std::sync::Arc;

use actix::prelude::*;

use crate::clock::SharedClock;
use crate::directory::{ClientsView, ConsentsView, Directory, EntitiesView, UsersView};
use crate::domain::TokenFormat;
use crate::federation::{Federation, LinksView};
use crate::keys::{KeyConfig, KeyRotator, KeysView, RotateError};
use crate::mailer::{Mailer, MailerConfig};
use crate::password::PasswordPool;
use crate::revocation::{RevocationList, RevokedSet};
use crate::sessions::{SessionConfig, SessionRegistry, SessionsView};
use crate::store::StoreError;
use crate::stores::{StoreHealth, Stores};
use crate::timing::TimedAddr;
use crate::tokens::{TokenIndex, TokenIssuer};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The `iss` of every token and the base of discovery.
    pub issuer: String,
    pub access_token_ttl: i64,
    /// Upper bound of any per-client access token lifetime.
    pub max_access_token_ttl: i64,
    pub access_token_format: TokenFormat,
    /// How long a refresh-token family may live, however often rotated.
    pub max_family_lifetime: i64,
    /// Lifetime of one refresh token (rotation issues a fresh one).
    pub refresh_token_ttl: i64,
    pub id_token_ttl: i64,
    /// Authorization code lifetime (RFC 6749 §4.1.2: short; 60 s default).
    pub code_ttl: i64,
    /// Rotate confidential clients' refresh tokens too (public ones always rotate).
    pub rotate_confidential_refresh: bool,
    pub keys: KeyConfig,
    pub sessions: SessionConfig,
    /// Concurrent argon2 computations (default: cores).
    pub password_workers: usize,
    /// Password checks allowed to wait beyond those; more are refused.
    pub password_queue: usize,
    pub accounts: AccountsConfig,
    /// The outbound mail queue and its transport.
    pub mail: MailerConfig,
    /// DPoP proofs (RFC 9449).
    pub dpop: crate::dpop::DpopConfig,
    /// Back-channel logout deliveries.
    pub backchannel_logout: crate::logout::LogoutConfig,
    /// The audit log: this node's name in it, and its retention.
    pub audit: crate::audit::AuditConfig,
}

/// The first-party account surface (SPEC §2 and §4).
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Self-service registration (`/registration`, `/api/oauth/register`).
    pub registration_enabled: bool,
    /// The built-in public, first-party client that account tokens (after
    /// registration, recovery, personal tokens) are issued to. Created at
    /// start when missing.
    pub client_id: String,
    /// Lifetime of a personal refresh token, seconds.
    pub personal_token_ttl: i64,
    /// Lifetime of a mailed one-time code or link, seconds.
    pub code_ttl: i64,
    /// Wrong tries a mailed code survives.
    pub code_attempts: u32,
    /// Lifetime of an entity token created without an expiry, seconds.
    pub entity_token_ttl: i64,
    /// Longest an entity token's expiry may be set ahead, seconds.
    pub entity_token_max_ttl: i64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            registration_enabled: true,
            client_id: "tessera-account".into(),
            personal_token_ttl: 90 * 86_400,
            code_ttl: 600,
            code_attempts: 5,
            entity_token_ttl: 30 * 86_400,
            entity_token_max_ttl: 365 * 86_400,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] RotateError),
}

/// A multi-actor operation failed; nothing after the failing step ran.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Session(#[from] crate::sessions::SessionError),
    #[error("a component is restarting: {0}")]
    Mailbox(#[from] actix::MailboxError),
}

/// Every actor address and published view. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub config: Arc<EngineConfig>,
    pub(crate) issuer_arc: Arc<str>,
    pub clock: SharedClock,
    pub keys: Arc<KeysView>,
    pub clients: Arc<ClientsView>,
    pub users: Arc<UsersView>,
    pub consents: Arc<ConsentsView>,
    pub entities: Arc<EntitiesView>,
    pub tokens: Arc<TokenIndex>,
    pub revoked: Arc<RevokedSet>,
    pub key_rotator: TimedAddr<KeyRotator>,
    pub directory: TimedAddr<Directory>,
    pub issuer: TimedAddr<TokenIssuer>,
    pub revocations: TimedAddr<RevocationList>,
    pub sessions: Arc<SessionsView>,
    pub session_registry: TimedAddr<SessionRegistry>,
    pub passwords: Arc<PasswordPool>,
    pub mailer: TimedAddr<Mailer>,
    /// Back-channel logout tokens for the clients of ended sessions.
    pub logouts: TimedAddr<crate::logout::LogoutQueue>,
    /// Upstream logins in flight and upstream-subject links.
    pub federation: TimedAddr<Federation>,
    pub federation_links: Arc<LinksView>,
    /// DPoP proof checks, nonces and single use.
    pub dpop: Arc<crate::dpop::Dpop>,
    /// What administrators did.
    pub audit: TimedAddr<crate::audit::AuditLog>,
    /// The backend's health, whatever the backend.
    pub(crate) health: Arc<dyn StoreHealth>,
    arbiters: Arc<Vec<ArbiterHandle>>,
}

impl Engine {
    /// Load every actor's state from its storage (`Stores::sled` today;
    /// the caller picks the backend) and start them. Must run
    /// inside an actix `System`. Keys exist and are published when this
    /// returns, so the server is ready to sign.
    pub fn start(
        config: EngineConfig,
        stores: Stores,
        clock: SharedClock,
    ) -> Result<Engine, EngineError> {
        let keys = Arc::new(KeysView::default());
        let clients = Arc::new(ClientsView::default());
        let users = Arc::new(UsersView::default());
        let consents = Arc::new(ConsentsView::default());
        let entities = Arc::new(EntitiesView::default());
        let tokens = Arc::new(TokenIndex::default());
        let revoked = Arc::new(RevokedSet::default());
        let sessions = Arc::new(SessionsView::default());

        let rotator = KeyRotator::open(
            config.keys.clone(),
            stores.keys,
            clock.clone(),
            keys.clone(),
        )?;
        let directory = Directory::open(
            stores.directory,
            clock.clone(),
            crate::directory::ClientRules {
                max_ttl: config.max_access_token_ttl,
                signing_alg: config.keys.alg.as_str(),
            },
            clients.clone(),
            users.clone(),
            consents.clone(),
            entities.clone(),
        )?;
        let revocations = RevocationList::open(stores.revocations, clock.clone(), revoked.clone())?;
        // The logout queue has a thread of its own: a slow client never
        // holds up anything else.
        let logout_queue = crate::logout::LogoutQueue::open(
            config.backchannel_logout.clone(),
            stores.logout,
            clock.clone(),
            keys.clone(),
            clients.clone(),
            &config.issuer,
        )?;
        let logout_arbiter = Arbiter::new();
        let logouts = Supervisor::start_in_arbiter(&logout_arbiter.handle(), move |_| logout_queue);
        let session_registry = SessionRegistry::open(
            config.sessions.clone(),
            stores.sessions,
            clock.clone(),
            sessions.clone(),
        )?
        .tell_ended(logouts.clone().recipient());

        // One thread per actor: a slow key generation never delays a
        // revocation, and a revocation flush never delays issuance.
        let arbiters: Vec<Arbiter> = (0..5).map(|_| Arbiter::new()).collect();
        let handles: Vec<ArbiterHandle> = arbiters.iter().map(|a| a.handle()).collect();
        let mut h = handles.iter();
        let (Some(a0), Some(a1), Some(a2), Some(a3), Some(a4)) =
            (h.next(), h.next(), h.next(), h.next(), h.next())
        else {
            return Err(EngineError::Store(StoreError::Write(
                "could not start arbiters".into(),
            )));
        };
        let key_rotator = Supervisor::start_in_arbiter(a0, move |_| rotator);
        let directory = Supervisor::start_in_arbiter(a1, move |_| directory);
        let revocations: TimedAddr<RevocationList> =
            Supervisor::start_in_arbiter(a3, move |_| revocations).into();
        let issuer = TokenIssuer::open(
            stores.tokens,
            clock.clone(),
            tokens.clone(),
            revoked.clone(),
            revocations.clone(),
        )?;
        let issuer_addr = Supervisor::start_in_arbiter(a2, move |_| issuer);
        let session_registry = Supervisor::start_in_arbiter(a4, move |_| session_registry);
        // The mailer gets a thread of its own too: a slow mail server never
        // holds up anything else.
        let mailer = Mailer::open(config.mail.clone(), stores.mail, clock.clone())?;
        let mail_arbiter = Arbiter::new();
        let mailer = Supervisor::start_in_arbiter(&mail_arbiter.handle(), move |_| mailer);
        let mut handles = handles;
        handles.push(mail_arbiter.handle());
        drop(mail_arbiter);
        handles.push(logout_arbiter.handle());
        drop(logout_arbiter);
        let federation_links = Arc::new(LinksView::default());
        let federation =
            Federation::open(stores.federation, clock.clone(), federation_links.clone())?;
        let federation_arbiter = Arbiter::new();
        let federation =
            Supervisor::start_in_arbiter(&federation_arbiter.handle(), move |_| federation);
        handles.push(federation_arbiter.handle());
        drop(federation_arbiter);
        let audit_log =
            crate::audit::AuditLog::open(config.audit.clone(), stores.audit, clock.clone())?;
        let audit_arbiter = Arbiter::new();
        let audit = Supervisor::start_in_arbiter(&audit_arbiter.handle(), move |_| audit_log);
        handles.push(audit_arbiter.handle());
        drop(audit_arbiter);
        let passwords = Arc::new(PasswordPool::new(
            config.password_workers,
            config.password_queue,
        ));
        // The arbiters run until stopped; their threads are detached here.
        drop(arbiters);

        Ok(Engine {
            issuer_arc: Arc::from(config.issuer.as_str()),
            dpop: Arc::new(crate::dpop::Dpop::new(config.dpop.clone())),
            config: Arc::new(config),
            clock,
            keys,
            clients,
            users,
            consents,
            entities,
            tokens,
            revoked,
            key_rotator: key_rotator.into(),
            directory: directory.into(),
            issuer: issuer_addr.into(),
            revocations,
            sessions,
            session_registry: session_registry.into(),
            passwords,
            mailer: mailer.into(),
            logouts: logouts.into(),
            federation: federation.into(),
            federation_links,
            audit: audit.into(),
            health: stores.health,
            arbiters: Arc::new(handles),
        })
    }

    /// Whether the store can take writes, how big it is: for `/health` and
    /// the metrics, whatever the backend.
    pub fn store_health(&self) -> &dyn StoreHealth {
        self.health.as_ref()
    }

    /// One group-committed durable flush, right after [`Engine::start`].
    /// Keys made on a first start are flushed without a generation bump;
    /// this flush records the store's generation marker, so damage to what
    /// start wrote is refused at the next open even if the process is
    /// killed right away.
    pub async fn seal_start(&self) -> Result<(), StoreError> {
        self.health.durable().await
    }

    /// Ready when keys are loaded and every actor's mailbox is open.
    pub fn is_ready(&self) -> bool {
        self.keys.is_ready()
            && self.key_rotator.connected()
            && self.directory.connected()
            && self.issuer.connected()
            && self.revocations.connected()
            && self.session_registry.connected()
            && self.mailer.connected()
            && self.logouts.connected()
            && self.federation.connected()
            && self.audit.connected()
    }

    /// Where a cluster's feed delivers other nodes' changes: each owner
    /// with the tables it keeps in memory.
    pub fn appliers(&self) -> crate::cluster::Appliers {
        use crate::pg::tables::Table as T;
        crate::cluster::Appliers {
            owners: vec![
                (
                    vec![T::Revoked, T::RevokedSubjects],
                    self.revocations.addr().clone().recipient(),
                ),
                (
                    vec![
                        T::AccessTokens,
                        T::AuthCodes,
                        T::RefreshTokens,
                        T::EntityTokens,
                    ],
                    self.issuer.addr().clone().recipient(),
                ),
                (vec![T::Keys], self.key_rotator.addr().clone().recipient()),
                (
                    vec![T::Clients, T::Users, T::Consents, T::Entities, T::ApiKeys],
                    self.directory.addr().clone().recipient(),
                ),
                (
                    vec![T::Sessions],
                    self.session_registry.addr().clone().recipient(),
                ),
                (
                    vec![T::FederationLinks],
                    self.federation.addr().clone().recipient(),
                ),
            ],
            sinks: Vec::new(),
        }
    }

    /// Stop every actor thread and flush the store.
    pub fn shutdown(&self) {
        for a in self.arbiters.iter() {
            a.stop();
        }
        if let Err(e) = self.health.flush_blocking() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}
