//! Start-up: open the store, start the engine, bind, serve.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

use tessera_actors::clock::{SharedClock, SystemClock};
use tessera_actors::cluster::Cluster;
use tessera_actors::revocation::UseCluster;

use tessera_actors::secret::{self, prefix};
use tessera_actors::store::Store;
use tessera_actors::Engine;
use utoipa_actix_web::AppExt;

use crate::configuration::Settings;
use crate::error::{extractor_error, json_body_error, ApiError};
use crate::extract::form::MAX_BODY;
use crate::routes;
use crate::state::{AppState, Limits};

pub struct Application {
    port: u16,
    cluster: Option<Cluster>,
    server: Server,
    engine: Engine,
    backend: crate::backend::Opened,
    admin_token: String,
    issuer: String,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Build with an injected clock (tests move time without sleeping).
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: SharedClock,
    ) -> anyhow::Result<Application> {
        for name in &settings.ignored_env {
            tracing::warn!(
                variable = %name,
                "ignoring the environment variable {name}: it is not a configuration key"
            );
        }
        let backend = crate::backend::Opened::open(&settings, false)?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
        let addr = listener.local_addr()?;
        if settings.issuer.is_none() {
            settings.issuer = Some(format!("http://{addr}"));
        }
        let config = settings.engine_config()?;
        let issuer = config.issuer.clone();
        let alg = config.keys.alg.as_str();
        let insecure_cookies = settings.insecure_cookies();
        // The recorder goes in first: the actors set their gauges as they
        // load, and a gauge set before it exists is lost.
        let metrics = crate::telemetry::metrics_handle();
        crate::telemetry::register_token_series(config.access_token_format);
        // A cluster node loads its snapshot after noting the feed's seq, and
        // replays what came after.
        let snapshot = match (settings.cluster.enabled, backend.postgres()) {
            (true, Some(pg)) => Some((pg.clone(), Cluster::snapshot_seq(pg)?)),
            _ => None,
        };
        let engine = Engine::start(config, backend.stores()?, clock.clone())?;
        engine.seal_start().await?;
        let limits = Arc::new(Limits::new(&settings.limits, clock.clone()));
        let cluster = match snapshot {
            Some((pg, seq)) => {
                let c = Cluster::new(&pg, settings.cluster.config(addr.port())?, seq)?;
                crate::telemetry::register_cluster_series();
                let mut appliers = engine.appliers();
                // The login limits count every node's failures.
                appliers.sinks.push(limits.share(&pg));
                // A DPoP proof works once on all the nodes together.
                engine.dpop.share(&pg);
                if settings.dpop.require_nonce && settings.dpop.nonce_secret.is_none() {
                    tracing::warn!(
                        "dpop.require_nonce without dpop.nonce_secret: each node makes its own \
                         nonces, so a client sent to another node must fetch a new one; \
                         set the same dpop.nonce_secret on every node"
                    );
                }
                c.start(appliers)?;
                engine
                    .revocations
                    .addr()
                    .send(UseCluster(c.clone()))
                    .await
                    .map_err(|e| anyhow::anyhow!("the revocation list is down: {e}"))?;
                tracing::info!(
                    node = c.node_id(),
                    snapshot_seq = seq,
                    strict = c.strict(),
                    "cluster node started"
                );
                Some(c)
            }
            None => None,
        };
        engine
            .ensure_account_client()
            .await
            .map_err(|e| anyhow::anyhow!("could not register the account client: {e}"))?;
        let admin_token = admin_token(&settings)?;
        let state = web::Data::new(AppState {
            engine: engine.clone(),
            insecure_cookies,
            account_mail: crate::mail::AccountMail::new(&settings, clock.clone()),
            limits,
            ua: crate::ua::UaParser::new()?,
            admin_token_hash: secret::sha256(admin_token.as_bytes()),
            metrics,
            discovery: routes::oauth2::discovery::metadata(&issuer, alg).to_string(),
            openapi: openapi_document(),
            upstreams: crate::federation::Upstreams::new(
                &settings.federation,
                &settings.public_url(),
            )?,
            cluster: cluster.clone(),
        });
        let pruned = state.clone();
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(crate::state::PRUNE_EVERY);
            loop {
                every.tick().await;
                pruned.prune_limits();
            }
        });
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(MAX_BODY)
                        .error_handler(|e, _| json_body_error(e)),
                )
                .app_data(
                    web::PathConfig::default().error_handler(|e, _| extractor_error(e, false)),
                )
                .app_data(
                    web::QueryConfig::default().error_handler(|e, _| extractor_error(e, false)),
                )
                .app_data(
                    web::FormConfig::default()
                        .limit(MAX_BODY)
                        .error_handler(|e, _| {
                            use actix_web::error::UrlencodedError as U;
                            let over = matches!(e, U::Overflow { .. });
                            extractor_error(e, over)
                        }),
                )
                .wrap(from_fn(crate::telemetry::track))
                .default_service(web::to(not_found))
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                // The interactive API page, over the generated document.
                .service(
                    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/openapi.json")),
                )
                .route("/docs", web::get().to(docs_redirect))
        })
        .listen(listener)?
        .workers(workers)
        .shutdown_timeout(5)
        .run();
        Ok(Application {
            port: addr.port(),
            cluster,
            server,
            engine,
            backend,
            admin_token,
            issuer,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    /// The embedded store under the engine, when sled is the backend.
    /// Nothing in the server reaches it (the owners do, through their
    /// storage traits); tests inspect it and inject faults through it.
    pub fn store(&self) -> Option<&Store> {
        self.backend.sled()
    }
    /// The database under the engine, when PostgreSQL is the backend.
    pub fn database(&self) -> Option<&tessera_actors::pg::Pg> {
        self.backend.postgres()
    }
    /// This node's membership, when it runs in a cluster.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let r = self.server.await;
        self.engine.shutdown();
        r
    }
}

/// The OpenAPI document, with the security schemes the handlers name.
pub fn openapi_document() -> String {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
    };
    let mut api = routes::openapi();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "client_secret_basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    components.add_security_scheme(
        "client_secret_post",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some("client_id and client_secret in the form body"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "admin_token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("an access token of the user"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::extract::session::cookie_name(true),
            "the browser session cookie (`tessera_session` in plain-HTTP development)",
        ))),
    );
    serde_json::to_string(&api).unwrap_or_else(|_| "{}".into())
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let e = ApiError::not_found("no such route");
    if crate::browser::wants_html(&req) {
        // A browser navigation: the error as a page.
        return Ok(crate::views::api_error(&e));
    }
    Err(e)
}

/// The admin token: configured, or read from / generated into
/// `{data_dir}/admin_token` (mode 0600) on first start.
fn admin_token(settings: &Settings) -> anyhow::Result<String> {
    if let Some(t) = settings.admin_token.as_ref().filter(|t| !t.is_empty()) {
        anyhow::ensure!(
            t.len() >= 32,
            "the admin token must be at least 32 characters"
        );
        return Ok(t.clone());
    }
    let path = settings.data_dir.join("admin_token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    let t = secret::new_secret(prefix::ADMIN_TOKEN);
    write_private(&path, &t)?;
    tracing::info!(path = %path.display(), "generated the admin token");
    Ok(t)
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// `/docs` → `/docs/` (the page's relative asset paths need the slash).
async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}
