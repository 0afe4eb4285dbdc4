//! The servers under test: tessera in-process over a temporary store or an
//! already running one (`--url`), the bare actix-web baseline, and `--hold`.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use tessera::configuration::Settings;
use tessera::startup::{AppHandle, Application};
use tessera_actors::directory::{ClientSpec, CreateClient};
use tessera_actors::secret::{self};
use tessera_actors::Engine;

use crate::opts::Opts;
use crate::tls::TlsTarget;
use crate::{INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH};

/// How a server on its own thread is told to stop.
pub(crate) enum Stop {
    Actix(actix_web::dev::ServerHandle),
    Tessera(AppHandle),
}

/// A server on its own thread with its own actix System.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: Option<Stop>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub(crate) fn stop(mut self) {
        // Not graceful: the generator is done; the handle future is not
        // needed, the command is sent when it is created.
        match self.handle.take() {
            Some(Stop::Actix(h)) => drop(h.stop(false)),
            Some(Stop::Tessera(h)) => drop(h.stop(false)),
            None => {}
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The system under test.
pub(crate) struct Target {
    pub(crate) server: Running,
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    /// The in-process engine, for seeding and RSS (None with --url).
    pub(crate) engine: Option<Engine>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// tessera's admin token (in-process: set by the harness).
    pub(crate) admin_token: Option<String>,
    /// The standard endpoints' paths.
    pub(crate) paths: Paths,
    pub(crate) describe: String,
    /// --tls: the same server over TLS, on a second port.
    pub(crate) tls: Option<TlsTarget>,
    pub(crate) _dir: Option<tempfile::TempDir>,
    /// --backend postgres: the run's database, dropped with the target.
    pub(crate) _db: Option<crate::database::BenchDb>,
}

/// Where the standard endpoints are.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) token: String,
    pub(crate) introspect: String,
    pub(crate) revoke: String,
}

impl Paths {
    pub(crate) fn tessera() -> Paths {
        Paths {
            token: TOKEN_PATH.into(),
            introspect: INTROSPECT_PATH.into(),
            revoke: REVOKE_PATH.into(),
        }
    }
}

impl Target {
    pub(crate) fn stop(self) {
        self.server.stop();
    }
}

pub(crate) fn start_tessera(opts: &Opts) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    let admin_token = secret::new_secret("adm_");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        workers: Some(opts.workers),
        admin_token: Some(admin_token.clone()),
        ..Settings::default()
    };
    if let Some(a) = &opts.alg {
        settings.keys.algorithm = a.clone();
    }
    if opts.scenario == crate::opts::Scenario::Register {
        settings.registration.mode = tessera::configuration::RegistrationMode::Open;
        settings.registration.open_per_hour = 100_000;
    }
    if let Some(f) = &opts.format {
        settings.tokens.access_token_format = f.clone();
    }
    if let Some(w) = opts.password_workers {
        settings.sessions.password_workers = Some(w);
    }
    if let Some(q) = opts.password_queue {
        settings.sessions.password_queue = q;
    }
    let db = if opts.backend == "postgres" {
        let db = crate::database::BenchDb::create(&opts.database_url)?;
        settings.store.backend = tessera::configuration::Backend::Postgres;
        settings.store.database_url = Some(db.url.clone());
        Some(db)
    } else {
        None
    };
    let describe = format!(
        "{} store, {}, {} access tokens, password pool {} at once + queue to {}",
        opts.backend,
        settings.keys.algorithm,
        settings.tokens.access_token_format,
        settings
            .sessions
            .password_workers
            .map_or_else(|| "cores".to_string(), |w| w.to_string()),
        settings.sessions.password_queue
    );
    // --tls: TLS on the bind address and plain HTTP on a second listener,
    // one engine behind both.
    let (tls_files, plain) = if opts.tls {
        let files = crate::tls::write_certificate(dir.path())?;
        settings.tls.cert_file = Some(files.cert.clone());
        settings.tls.key_file = Some(files.key.clone());
        let plain = std::net::TcpListener::bind("127.0.0.1:0")?;
        (Some(files), Some(plain))
    } else {
        (None, None)
    };
    struct Ready {
        port: u16,
        tls_port: Option<u16>,
        handle: AppHandle,
        engine: Engine,
        client_id: String,
        client_secret: String,
    }
    let (tx, rx) = mpsc::channel::<anyhow::Result<Ready>>();
    let thread = std::thread::Builder::new()
        .name("tessera-server".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let built = match plain {
                    Some(l) => Application::build_with_plain_listener(settings, l).await,
                    None => Application::build(settings).await,
                };
                let app = match built {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let spec = ClientSpec {
                    client_id: Some("loadtest".into()),
                    name: Some("load test client".into()),
                    scope: Some("read write".into()),
                    ..ClientSpec::default()
                };
                let created = match app.engine().directory.send(CreateClient(spec)).await {
                    Ok(Ok((c, Some(s)))) => Ok((c.client_id.clone(), s)),
                    Ok(Ok((_, None))) => Err(anyhow!("the load test client has no secret")),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(e.into()),
                };
                let ready = created.map(|(client_id, client_secret)| Ready {
                    port: app.plain_port().unwrap_or(app.port()),
                    tls_port: app.plain_port().map(|_| app.port()),
                    handle: app.handle(),
                    engine: app.engine().clone(),
                    client_id,
                    client_secret,
                });
                let ok = ready.is_ok();
                let _ = tx.send(ready);
                if ok {
                    let _ = app.run_until_stopped().await;
                }
            });
        })?;
    let ready = rx
        .recv()
        .map_err(|_| anyhow!("the tessera server thread died"))??;
    let addr = SocketAddr::from(([127, 0, 0, 1], ready.port));
    println!(
        "tessera: in-process on {addr} ({} HTTP workers, {describe})",
        opts.workers
    );
    let tls = match (ready.tls_port, &tls_files) {
        (Some(port), Some(files)) => {
            let tls_addr = SocketAddr::from(([127, 0, 0, 1], port));
            println!(
                "tessera: the same server over TLS on {tls_addr} ({})",
                files.describe
            );
            Some(crate::tls::target(tls_addr, files)?)
        }
        _ => None,
    };
    let (engine, client_id, client_secret) = (ready.engine, ready.client_id, ready.client_secret);
    Ok(Target {
        server: Running {
            addr,
            handle: Some(Stop::Tessera(ready.handle)),
            thread: Some(thread),
        },
        addr,
        host: "127.0.0.1".into(),
        engine: Some(engine),
        client_id,
        client_secret,
        admin_token: Some(admin_token),
        paths: Paths::tessera(),
        describe,
        tls,
        _dir: Some(dir),
        _db: db,
    })
}

pub(crate) fn external_target(url: &str, opts: &Opts) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must be http://host:port (plain HTTP on loopback)"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addrs: Vec<SocketAddr> = hostport
        .to_socket_addrs()
        .with_context(|| format!("resolving {hostport}"))?
        .collect();
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!(
            "--url must name a loopback address (127.0.0.1, ::1, localhost); {hostport} does not"
        );
    }
    let (id, secret) = match (opts.client_id.clone(), opts.client_secret.clone()) {
        (Some(id), Some(secret)) => (id, secret),
        // Created through the admin API by `setup_http`.
        (None, None) if opts.admin_token.is_some() => (String::new(), String::new()),
        _ => bail!(
            "--url needs --client-id and --client-secret of a client allowed client_credentials, or --admin-token to create one"
        ),
    };
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| anyhow!("no address"))?;
    println!("{}: external at {addr}", opts.name);
    Ok(Target {
        server: Running {
            addr,
            handle: None,
            thread: None,
        },
        addr,
        host: hostport.to_string(),
        engine: None,
        client_id: id,
        client_secret: secret,
        admin_token: opts.admin_token.clone(),
        paths: Paths::tessera(),
        describe: "external server's configuration".into(),
        tls: None,
        _dir: None,
        _db: None,
    })
}

/// The baseline: a bare actix-web server with the same worker count and one
/// POST handler that parses the form body and answers a fixed JSON body.
pub(crate) fn start_baseline(workers: usize, body: Vec<u8>) -> anyhow::Result<Running> {
    use actix_web::{web, App, HttpResponse, HttpServer};

    pub(crate) async fn handler(
        form: web::Form<HashMap<String, String>>,
        body: web::Data<web::Bytes>,
    ) -> HttpResponse {
        if form.is_empty() {
            return HttpResponse::BadRequest().finish();
        }
        HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .insert_header(("pragma", "no-cache"))
            .content_type("application/json")
            .body(body.get_ref().clone())
    }

    type Ready = io::Result<(SocketAddr, Stop)>;
    let (tx, rx) = mpsc::channel::<Ready>();
    let body = web::Bytes::from(body);
    let thread = std::thread::Builder::new()
        .name("baseline-server".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(body.clone()))
                        .default_service(web::post().to(handler))
                })
                .workers(workers)
                .bind(("127.0.0.1", 0));
                let server = match server {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let addr = server.addrs().first().copied();
                let server = server.run();
                match addr {
                    Some(a) => {
                        let _ = tx.send(Ok((a, Stop::Actix(server.handle()))));
                        let _ = server.await;
                    }
                    None => {
                        let _ = tx.send(Err(io::Error::other("baseline bound no address")));
                    }
                }
            });
        })?;
    let (addr, handle) = rx
        .recv()
        .map_err(|_| anyhow!("the baseline server thread died"))??;
    println!("baseline: bare actix-web on {addr} ({workers} HTTP workers)");
    Ok(Running {
        addr,
        handle: Some(handle),
        thread: Some(thread),
    })
}

/// `--hold`: serve for an external load tool (wrk) instead of generating load.
pub(crate) fn hold(target: &Target, baseline: Option<&Running>, opts: &Opts, secs: u64) {
    println!();
    println!("serving for {secs} s; point wrk at these (from the repository root):");
    let tokens = opts
        .token_file
        .as_ref()
        .map_or_else(|| "TOKEN_FILE".to_string(), |p| p.display().to_string());
    println!(
        "  wrk -t2 -c64 -d10s --latency -s benches/wrk_introspect.lua http://{}{INTROSPECT_PATH} -- {} {} {tokens}",
        target.addr, target.client_id, target.client_secret
    );
    if let Some(b) = baseline {
        println!(
            "  wrk -t2 -c64 -d10s --latency -s benches/wrk_introspect.lua http://{}{INTROSPECT_PATH} -- {} {} {tokens}",
            b.addr, target.client_id, target.client_secret
        );
    }
    std::thread::sleep(Duration::from_secs(secs));
}
