//! Start-up: open the store, start the engine, bind, serve.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
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
    /// `https` with TLS, else `http`.
    scheme: &'static str,
    /// The plain-HTTP listener of the health endpoints (`tls.health_bind`).
    health: Option<(u16, Server)>,
    /// The plain listener served beside TLS ([`Application::build_with_plain_listener`]).
    plain_port: Option<u16>,
    /// The certificate reload task, with TLS.
    reload: Option<actix_web::rt::task::JoinHandle<()>>,
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
        settings: Settings,
        clock: SharedClock,
    ) -> anyhow::Result<Application> {
        Self::build_serving(settings, clock, None).await
    }

    /// The application with TLS on its bind address and, beside it, plain
    /// HTTP on `plain`: one engine and one set of workers behind both, so
    /// that the load harness measures what TLS itself costs. Not a way to
    /// deploy (the issuer and cookies follow the TLS side).
    pub async fn build_with_plain_listener(
        settings: Settings,
        plain: TcpListener,
    ) -> anyhow::Result<Application> {
        anyhow::ensure!(
            settings.tls.enabled(),
            "a plain listener beside the TLS one needs tls.cert_file and tls.key_file"
        );
        Self::build_serving(settings, Arc::new(SystemClock), Some(plain)).await
    }

    async fn build_serving(
        mut settings: Settings,
        clock: SharedClock,
        plain: Option<TcpListener>,
    ) -> anyhow::Result<Application> {
        for name in &settings.ignored_env {
            tracing::warn!(
                variable = %name,
                "ignoring the environment variable {name}: it is not a configuration key"
            );
        }
        // Certificate problems stop the start before the store is opened.
        settings.tls.validate()?;
        let tls = if settings.tls.enabled() {
            Some(crate::tls::server_config(&settings.tls)?)
        } else {
            None
        };
        let health_listener = match &settings.tls.health_bind {
            Some(bind) => Some(
                TcpListener::bind(bind)
                    .map_err(|e| anyhow::anyhow!("cannot bind tls.health_bind {bind}: {e}"))?,
            ),
            None => None,
        };
        let mtls = crate::mtls::Mtls::new(&settings.tls)?;
        let backend = crate::backend::Opened::open(&settings, false)?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind))?;
        let addr = listener.local_addr()?;
        let scheme = settings.scheme();
        if settings.issuer.is_none() {
            settings.issuer = Some(format!("{scheme}://{addr}"));
        }
        let mut config = settings.engine_config()?;
        if settings.cluster.enabled {
            // The audit log names a cluster node as the cluster does.
            config.audit.node = settings.cluster.config(addr.port())?.node_id;
        }
        let issuer = config.issuer.clone();
        let alg = config.keys.alg.as_str();
        let insecure_cookies = settings.insecure_cookies();
        // The recorder goes in first: the actors set their gauges as they
        // load, and a gauge set before it exists is lost.
        let metrics = crate::telemetry::metrics_handle();
        crate::telemetry::register_token_series(config.access_token_format);
        if tls.is_some() {
            crate::telemetry::register_tls_series();
        }
        // A cluster node loads its snapshot after noting the feed's seq, and
        // replays what came after.
        let snapshot = match (settings.cluster.enabled, backend.postgres()) {
            (true, Some(pg)) => Some((pg.clone(), Cluster::snapshot_seq(pg)?)),
            _ => None,
        };
        crate::backchannel::register_series();
        let engine = Engine::start(config, backend.stores()?, clock.clone())?;
        engine.seal_start().await?;
        crate::backchannel::start(&engine).await?;
        let limits = Arc::new(Limits::new(
            &settings.limits,
            &settings.device,
            clock.clone(),
        ));
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
            discovery: routes::oauth2::register::advertise(
                settings.registration.enabled(),
                &issuer,
                routes::oauth2::discovery::metadata(
                    &issuer,
                    alg,
                    settings.par.required,
                    settings.tls.client_certificates_usable(),
                ),
            )
            .to_string(),
            openapi: routes::ops::openapi::document(),
            upstreams: crate::federation::Upstreams::new(
                &settings.federation,
                &settings.public_url(),
            )?,
            cluster: cluster.clone(),
            client_keys: crate::client_keys::ClientKeys::new(&settings.client_auth)?,
            jtis: jtis(&settings, &backend),
            pushed: pushed(cluster.is_some(), &backend),
            par: settings.par.clone(),
            devices: devices(&backend),
            device: settings.device.clone(),
            registration: routes::oauth2::register::Registration::new(
                &settings.registration,
                settings.client_auth.allow_http_jwks_uri,
                clock.clone(),
            )?,
            mtls,
            passkeys: crate::passkeys::Passkeys::new(&settings, backend.postgres())?,
            console: settings.console.clone(),
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
        let health = match health_listener {
            Some(l) => Some(health_server(l, state.clone())?),
            None => None,
        };
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
                // The admin console: pages for people, not in the document.
                .configure(routes::console::configure)
                // The interactive API page, over the generated document.
                .service(
                    utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/openapi.json")),
                )
                .route("/docs", web::get().to(docs_redirect))
        })
        .workers(workers)
        .shutdown_timeout(5);
        let (server, reload) = match tls {
            Some((config, reloader)) => {
                let tls_interval = reloader.interval();
                tracing::info!(
                    reload_every_secs = tls_interval.as_secs(),
                    client_certificates = settings.tls.client_certificates,
                    "serving HTTPS (HTTP/1.1 and HTTP/2)"
                );
                // `on_connect` applies to the listeners bound after it.
                // TCP_NODELAY: after a TLS 1.3 handshake the session tickets
                // go out as a small write of their own, and with Nagle's
                // algorithm the first response then waits for the client's
                // delayed ACK of them (40 ms on Linux) on every new connection.
                let server = server
                    .tcp_nodelay(true)
                    .on_connect(crate::tls::on_connect)
                    .listen_rustls_0_23(listener, config)?;
                (server, Some(reloader.spawn()))
            }
            None => (server.listen(listener)?, None),
        };
        let (server, plain_port) = match plain {
            Some(p) => {
                let port = p.local_addr()?.port();
                (server.listen(p)?, Some(port))
            }
            None => (server, None),
        };
        let server = server.run();
        Ok(Application {
            port: addr.port(),
            scheme,
            health,
            plain_port,
            reload,
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
    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }
    /// The port of the plain-HTTP health listener (`tls.health_bind`).
    pub fn health_port(&self) -> Option<u16> {
        self.health.as_ref().map(|(port, _)| *port)
    }
    /// The port of the plain listener beside TLS, when built with
    /// [`Application::build_with_plain_listener`].
    pub fn plain_port(&self) -> Option<u16> {
        self.plain_port
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
    /// A handle to stop the server (and its health listener) from
    /// elsewhere.
    pub fn handle(&self) -> AppHandle {
        AppHandle {
            main: self.server.handle(),
            health: self.health.as_ref().map(|(_, s)| s.handle()),
        }
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // A server serves while it is polled: the health listener runs as
        // a task of its own beside the main one.
        let health = self.health.map(|(_, server)| {
            let handle = server.handle();
            (handle, actix_web::rt::spawn(server))
        });
        let r = self.server.await;
        // The health listener reports on this server: it goes with it,
        // however the server was stopped (a handle, a signal).
        if let Some((handle, task)) = health {
            drop(handle.stop(true));
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the health listener stopped with an error")
                }
                Err(e) => tracing::warn!(error = %e, "the health listener's task failed"),
            }
        }
        if let Some(task) = self.reload {
            task.abort();
        }
        self.engine.shutdown();
        r
    }
}

/// Stops the server and its health listener together.
#[derive(Clone)]
pub struct AppHandle {
    main: ServerHandle,
    health: Option<ServerHandle>,
}

impl AppHandle {
    /// Send both listeners the stop command now (as
    /// [`ServerHandle::stop`] does); the future resolves once both have
    /// stopped.
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> {
        let main = self.main.stop(graceful);
        let health = self.health.as_ref().map(|h| h.stop(graceful));
        async move {
            main.await;
            if let Some(h) = health {
                h.await;
            }
        }
    }
}

/// The plain-HTTP listener of `tls.health_bind`: `/healthz` and `/readyz`
/// only, on one worker; everything else is `404`.
fn health_server(
    listener: TcpListener,
    state: web::Data<AppState>,
) -> anyhow::Result<(u16, Server)> {
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(routes::ops::health::healthz)
            .service(routes::ops::health::readyz)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// The single-use set of assertion and request object `jti`s: claimed in
/// the database too with PostgreSQL, so a `jti` works once on every node
/// and across restarts.
fn jtis(
    settings: &Settings,
    backend: &crate::backend::Opened,
) -> tessera_actors::single_use::SingleUse {
    let set = tessera_actors::single_use::SingleUse::new(
        "tessera_client_jwts_total",
        tessera_actors::pg::single_use::OnceTable::UsedJtis,
        settings.client_auth.replay_cache_size,
    );
    if let Some(pg) = backend.postgres() {
        set.share(pg);
    }
    set
}

/// Device authorization grants: in memory on sled; in the database with
/// PostgreSQL, where any node may approve what another is polled on.
fn devices(backend: &crate::backend::Opened) -> tessera_actors::device::DeviceGrants {
    let d = tessera_actors::device::DeviceGrants::default();
    if let Some(pg) = backend.postgres() {
        d.share(pg);
    }
    d
}

/// Pushed requests: in memory on one node; in the database on a cluster,
/// since the browser may reach another node than the client did.
fn pushed(
    clustered: bool,
    backend: &crate::backend::Opened,
) -> tessera_actors::pushed::PushedRequests {
    let p = tessera_actors::pushed::PushedRequests::default();
    if let (true, Some(pg)) = (clustered, backend.postgres()) {
        p.share(pg);
    }
    p
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
