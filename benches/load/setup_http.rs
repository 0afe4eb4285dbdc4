//! Setup over HTTP only (`--url`): discovery and tessera's admin API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use crate::generator::{exchange_once, request, Answer};
use crate::opts::Opts;
use crate::servers::Target;
use crate::{BUSY_PAUSE, LOGIN_PASSWORD};

/// The path of an endpoint URL from discovery (`http://host/p` -> `/p`).
pub(crate) fn url_path(url: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_string());
    }
    let rest = url.split_once("://")?.1;
    let i = rest.find('/')?;
    rest.get(i..).map(str::to_string)
}

/// With `--url`: the endpoints from discovery, and a client_credentials
/// client from the admin API when none was given. The path flags win.
pub(crate) async fn setup_http(target: &mut Target, opts: &Opts) -> anyhow::Result<()> {
    if target.engine.is_none() {
        match discovery(target).await.ok() {
            Some(d) => {
                let path = |k: &str| d.get(k).and_then(|v| v.as_str()).and_then(url_path);
                if let Some(p) = path("token_endpoint") {
                    target.paths.token = p;
                }
                if let Some(p) = path("introspection_endpoint") {
                    target.paths.introspect = p;
                }
                if let Some(p) = path("revocation_endpoint") {
                    target.paths.revoke = p;
                }
                println!(
                    "discovery: token {}, introspection {}, revocation {}",
                    target.paths.token, target.paths.introspect, target.paths.revoke
                );
            }
            None => println!("discovery: no /.well-known/openid-configuration; tessera's paths"),
        }
    }
    if let Some(p) = &opts.token_path {
        target.paths.token = p.clone();
    }
    if let Some(p) = &opts.introspect_path {
        target.paths.introspect = p.clone();
    }
    if let Some(p) = &opts.revoke_path {
        target.paths.revoke = p.clone();
    }
    if target.client_id.is_empty() {
        let mut spec = serde_json::json!({ "name": "load test client" });
        if !opts.scope.trim().is_empty() {
            spec["scope"] = opts.scope.clone().into();
        }
        if let Some(f) = &opts.client_token_format {
            spec["access_token_format"] = f.clone().into();
            target.describe = format!("a client with {f} access tokens");
        }
        let (id, secret) = create_client(target, &spec, "the load test client").await?;
        target.client_id = id;
        target.client_secret = secret;
        println!("created client {} through the admin API", target.client_id);
    }
    Ok(())
}

/// One admin API call (JSON body, bearer admin token); the JSON answer of
/// a 2xx.
pub(crate) async fn admin_call(
    target: &Target,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let a = admin_send(target, method, path, body).await?;
    anyhow::ensure!(
        (200..300).contains(&a.status),
        "{method} {path} answered {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

pub(crate) async fn admin_send(
    target: &Target,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<Answer> {
    let token = target
        .admin_token
        .as_deref()
        .ok_or_else(|| anyhow!("{method} {path} needs --admin-token"))?;
    let bearer = format!("Bearer {token}");
    let req = request(
        method,
        &target.host,
        path,
        &[("Authorization", &bearer)],
        Some("application/json"),
        &body.to_string(),
    );
    exchange_once(target.addr, &req).await
}

/// Create `n` users through the admin API (each is an argon2 hash on the
/// server): `storm000000`... with [`LOGIN_PASSWORD`], e-mail verified. A
/// name already taken (`409`, an earlier run against the same server) is
/// taken as made with the same password; the login check after catches it
/// if not. A `503` (password pool full) is retried after a pause.
pub(crate) async fn create_users_http(target: &Target, n: usize) -> anyhow::Result<Vec<String>> {
    const TASKS: usize = 4;
    const TRIES: usize = 100;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let names: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("storm{i:06}")).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let (made, existed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let target = Arc::new((target.addr, target.host.clone(), target.admin_token.clone()));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (next, names, made, existed, target) = (
            next.clone(),
            names.clone(),
            made.clone(),
            existed.clone(),
            target.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (addr, host, token) = &*target;
            let bearer = format!("Bearer {}", token.as_deref().unwrap_or_default());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                let body = serde_json::json!({
                    "username": name,
                    "email": format!("{name}@example.com"),
                    "password": LOGIN_PASSWORD,
                    "email_verified": true,
                    "name": format!("Load {name}"),
                })
                .to_string();
                let req = request(
                    "POST",
                    host,
                    "/admin/users",
                    &[("Authorization", &bearer)],
                    Some("application/json"),
                    &body,
                );
                let mut tries = 0;
                loop {
                    tries += 1;
                    anyhow::ensure!(
                        tries <= TRIES && Instant::now() < deadline,
                        "creating {name}: gave up after {TRIES} tries or 600 s"
                    );
                    let a = exchange_once(*addr, &req).await?;
                    match a.status {
                        201 | 200 => {
                            made.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        409 => {
                            existed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        503 => tokio::time::sleep(BUSY_PAUSE * 5).await,
                        s => bail!(
                            "POST /admin/users {name}: {s} {}",
                            String::from_utf8_lossy(&a.body)
                        ),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "users through the admin API in {:.2} s: {} created, {} already there",
        started.elapsed().as_secs_f64(),
        made.load(Ordering::Relaxed),
        existed.load(Ordering::Relaxed)
    );
    Ok(Arc::try_unwrap(names).unwrap_or_else(|a| (*a).clone()))
}

/// code-flow: a public, first-party client (PKCE, no consent page) with
/// `--redirect-uri`, made through the admin API.
pub(crate) async fn create_flow_client(target: &Target, opts: &Opts) -> anyhow::Result<String> {
    let spec = serde_json::json!({
        "name": "load test code flow",
        "public": true,
        "first_party": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [opts.redirect_uri],
        "scope": opts.flow_scope,
    });
    let v = admin_call(target, "POST", "/admin/clients", &spec)
        .await
        .context("creating the code-flow client")?;
    let id = v
        .get("client_id")
        .and_then(|x| x.as_str())
        .ok_or_else(|| anyhow!("no client_id in {v}"))?
        .to_string();
    println!("created public first-party client {id} for the code flow through the admin API");
    Ok(id)
}

/// Register a client through the admin API: its id and secret.
pub(crate) async fn create_client(
    target: &Target,
    spec: &serde_json::Value,
    what: &str,
) -> anyhow::Result<(String, String)> {
    let v = admin_call(target, "POST", "/admin/clients", spec)
        .await
        .with_context(|| format!("creating {what}"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no {k} in the created client: {v}"))
    };
    Ok((field("client_id")?, field("client_secret")?))
}

/// The server's discovery document.
pub(crate) async fn discovery(target: &Target) -> anyhow::Result<serde_json::Value> {
    let req = request(
        "GET",
        &target.host,
        "/.well-known/openid-configuration",
        &[],
        None,
        "",
    );
    let a = exchange_once(target.addr, &req).await?;
    anyhow::ensure!(a.status == 200, "discovery answered {}", a.status);
    a.json()
}
