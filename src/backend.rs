//! The one place the server and the CLI open the configured backend.

use tessera_actors::pg::Pg;
use tessera_actors::store::{Store, StoreError};
use tessera_actors::stores::Stores;

use crate::configuration::{Backend, Settings};

/// The backend an engine runs over.
pub enum Opened {
    Sled(Store),
    Postgres(Pg),
}

impl Opened {
    /// Open what `settings` names. A server holds the PostgreSQL server
    /// lock shared (several may share one database); `alone` asks for it
    /// exclusively, and is refused with [`StoreError::Locked`]-like
    /// semantics when a server holds it, as sled refuses a second opener.
    pub fn open(settings: &Settings, alone: bool) -> Result<Opened, OpenError> {
        if settings.cluster.enabled && settings.store.backend != Backend::Postgres {
            return Err(OpenError::Config(anyhow::anyhow!(
                "cluster.enabled needs store.backend = \"postgres\": the nodes share one database"
            )));
        }
        match settings.store.backend {
            Backend::Sled => Store::open_with(&settings.data_dir, settings.store_options())
                .map(Opened::Sled)
                .map_err(OpenError::Store),
            Backend::Postgres => {
                let mut opts = settings.store.pg_options().map_err(OpenError::Config)?;
                // A cluster node's writes carry events, under an id of this
                // process (a restarted node is a new writer).
                if settings.cluster.enabled && !alone {
                    opts.origin = Some(i64::from_be_bytes(
                        tessera_actors::secret::random_bytes::<8>(),
                    ));
                    // Which node a connection belongs to, for operators
                    // reading pg_stat_activity.
                    if let Some(node) = settings.cluster.node_id.as_deref() {
                        opts.application_name = format!("tessera {node}");
                    }
                }
                let pg = Pg::connect(&opts).map_err(OpenError::Store)?;
                if !pg.hold_server_lock(alone).map_err(OpenError::Store)? {
                    return Err(OpenError::InUse(pg.target().to_string()));
                }
                tracing::info!(
                    database = pg.target(),
                    tls = pg.tls_in_use().unwrap_or(false),
                    "store: PostgreSQL"
                );
                Ok(Opened::Postgres(pg))
            }
        }
    }

    /// Every owner's store over this backend.
    pub fn stores(&self) -> Result<Stores, StoreError> {
        match self {
            Opened::Sled(s) => Stores::sled(s),
            Opened::Postgres(pg) => Ok(Stores::postgres(pg)),
        }
    }

    /// The embedded store, when that is the backend (tests inspect it).
    pub fn sled(&self) -> Option<&Store> {
        match self {
            Opened::Sled(s) => Some(s),
            Opened::Postgres(_) => None,
        }
    }

    /// The database, when that is the backend.
    pub fn postgres(&self) -> Option<&Pg> {
        match self {
            Opened::Sled(_) => None,
            Opened::Postgres(pg) => Some(pg),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Config(anyhow::Error),
    /// Another process (a server) uses the store.
    #[error("the database at {0} is in use by a running tessera server")]
    InUse(String),
}

impl OpenError {
    /// Whether a running server holds the store, so the CLI should go
    /// through its admin API instead.
    pub fn in_use(&self) -> bool {
        matches!(
            self,
            OpenError::InUse(_) | OpenError::Store(StoreError::Locked { .. })
        )
    }
}
