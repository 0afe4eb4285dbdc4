//! What every run works on: tokens seeded through the engine or issued over
//! HTTP, users, and the pre-built request bodies.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use tessera::telemetry::resident_bytes;
use tessera_actors::clock::{Clock, SystemClock};
use tessera_actors::directory::{CreateUser, NewUser};
use tessera_actors::secret::{self, prefix};
use tessera_actors::tokens::{Grant, NewToken, RecordUnpersisted, TokenKind};
use tessera_actors::Engine;
use tokio::io::AsyncWriteExt;

use crate::generator::{connect, read_response, request_once};
use crate::opts::{Opts, Scenario};
use crate::requests::{basic, contains, form_value, login_body, post, post_json, Rng};
use crate::servers::{Paths, Target};
use crate::setup_http::{create_flow_client, create_users_http};
use crate::{LOGIN_PASSWORD, LOGIN_PATH, REQUEST_TIMEOUT, SEED_BATCH};

/// What the runs work on.
pub(crate) struct Fixture {
    pub(crate) host: String,
    pub(crate) auth: String,
    /// Tokens whose requests are pre-built (seeded sample and JWTs, shuffled).
    pub(crate) pool: Vec<String>,
    /// A real active introspection answer, served verbatim by the baseline.
    pub(crate) active_body: Vec<u8>,
    /// Resident tokens and the RSS they cost (in-process only).
    pub(crate) seeded: usize,
    pub(crate) rss: Option<(u64, u64)>,
    /// login-storm, code-flow, faults: usernames created through the
    /// engine or the admin API (password [`LOGIN_PASSWORD`]).
    pub(crate) users: Vec<String>,
    /// The standard endpoints' paths.
    pub(crate) paths: Paths,
    /// The client_credentials request body.
    pub(crate) cc_body: String,
    /// code-flow: the public first-party client made for it.
    pub(crate) flow_client: Option<String>,
}

/// The client_credentials form body asking for `scope` (none if empty).
pub(crate) fn cc_body(scope: &str) -> String {
    if scope.trim().is_empty() {
        "grant_type=client_credentials".to_string()
    } else {
        format!("grant_type=client_credentials&scope={}", form_value(scope))
    }
}

pub(crate) async fn prepare(target: &Target, opts: &Opts) -> anyhow::Result<Fixture> {
    let auth = basic(&target.client_id, &target.client_secret);
    let host = target.host.clone();

    // Real JWTs (or opaque tokens, per the server's format) over HTTP.
    let started = Instant::now();
    let cc = cc_body(&opts.scope);
    let issue = Arc::new(vec![post(&host, &target.paths.token, &auth, &cc)]);
    let jwts = issue_tokens(target.addr, issue, opts.jwts, opts.connections.min(16)).await?;
    println!(
        "issued {} tokens over HTTP (client_credentials) in {:.2} s",
        jwts.len(),
        started.elapsed().as_secs_f64()
    );

    let mut rng = Rng::new(0x7e55_e7a0);
    let mut pool = jwts;
    let mut seeded = 0;
    let mut rss = None;
    if let Some(engine) = &target.engine {
        let sample = opts.pool.saturating_sub(pool.len()).min(opts.tokens);
        let (from_seed, r) = seed(engine, &target.client_id, opts.tokens, sample).await?;
        pool.extend(from_seed);
        seeded = opts.tokens;
        rss = r;
    } else if opts.tokens > 0 {
        println!("(--url: no engine to seed; only the {} tokens issued over HTTP are resident from this run)", pool.len());
    }
    pool.truncate(opts.pool.max(1));
    rng.shuffle(&mut pool);
    anyhow::ensure!(
        !pool.is_empty(),
        "no tokens to work on (raise --jwts or --tokens)"
    );

    // One real introspection: its answer is what the baseline sends back.
    let first = pool.first().cloned().unwrap_or_default();
    let req = post(
        &host,
        &target.paths.introspect,
        &auth,
        &format!("token={}", form_value(&first)),
    );
    let (status, body) = request_once(target.addr, &req).await?;
    anyhow::ensure!(
        status == 200 && contains(&body, br#""active":true"#),
        "a seeded token does not introspect active: {status} {}",
        String::from_utf8_lossy(&body)
    );
    println!("active introspection answer: {} bytes", body.len());

    let users = if opts.scenario.needs_users() {
        // A virtual user of the code flow is one user: no more are needed.
        let n = if opts.scenario == Scenario::CodeFlow {
            opts.users.min(opts.connections)
        } else {
            opts.users
        };
        let users = match &target.engine {
            Some(engine) => seed_users(engine, n).await?,
            None => create_users_http(target, n).await?,
        };
        {
            // One real login: the storm's answers are checked against it.
            let first = users.first().ok_or_else(|| anyhow!("no users"))?;
            let req = post_json(
                &host,
                LOGIN_PATH,
                &opts.login_user_agent,
                &login_body(first),
            );
            let (status, body) = request_once(target.addr, &req).await?;
            anyhow::ensure!(
                status == 200 && contains(&body, br#""mode":"authentication""#),
                "a created user cannot log in: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        users
    } else {
        Vec::new()
    };
    let flow_client = if opts.scenario == Scenario::CodeFlow {
        Some(create_flow_client(target, opts).await?)
    } else {
        None
    };
    Ok(Fixture {
        host,
        auth,
        pool,
        active_body: body,
        seeded,
        rss,
        users,
        paths: target.paths.clone(),
        cc_body: cc,
        flow_client,
    })
}

/// Create `n` active users through the engine's directory, all with one
/// argon2id hash of [`LOGIN_PASSWORD`] made by the server's own pool.
pub(crate) async fn seed_users(engine: &Engine, n: usize) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let hash = engine
        .passwords
        .hash(LOGIN_PASSWORD.to_string())
        .await
        .map_err(|e| anyhow!("hashing the load-test password: {e}"))?;
    let names: Vec<String> = (0..n).map(|i| format!("storm{i:06}")).collect();
    // Each creation is a durable write; a few in flight overlap them.
    let next = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(names);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (next, names, hash) = (next.clone(), names.clone(), hash.clone());
        let directory = engine.directory.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                directory
                    .send(CreateUser(NewUser {
                        username: name.clone(),
                        email: format!("{name}@example.com"),
                        password_hash: hash.clone(),
                        email_verified: true,
                        name: Some(format!("Load {name}")),
                        ..NewUser::default()
                    }))
                    .await
                    .map_err(|e| anyhow!("directory mailbox: {e}"))?
                    .map_err(|e| anyhow!("creating {name}: {e}"))?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "created {n} users through the engine in {:.2} s ({})",
        started.elapsed().as_secs_f64(),
        hash.split('$').take(4).collect::<Vec<_>>().join("$")
    );
    Ok(Arc::try_unwrap(names).unwrap_or_else(|a| (*a).clone()))
}

/// Seed `n` live opaque access tokens of `client_id` through the engine, in
/// batches of `RecordUnpersisted`. Answers the first `sample` token strings
/// and the RSS before and after.
pub(crate) async fn seed(
    engine: &Engine,
    client_id: &str,
    n: usize,
    sample: usize,
) -> anyhow::Result<(Vec<String>, Option<(u64, u64)>)> {
    let grant = Grant {
        client_id: client_id.to_string(),
        sub: client_id.to_string(),
        username: None,
        scope: "read write".into(),
        aud: vec![Arc::from(client_id)],
        sid: None,
        ..Default::default()
    };
    let now = SystemClock.now();
    // Long enough to outlive any run; short enough to be a plausible token.
    let exp = now + 4 * 3600;
    // The sample is generated before the first RSS reading, so the strings
    // the generator keeps are not counted against the server.
    let kept: Vec<String> = (0..sample)
        .map(|_| secret::new_secret(prefix::ACCESS_TOKEN))
        .collect();
    let before_len = engine.tokens.len();
    let before = resident_bytes();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..n {
        let fresh;
        let token = match kept.get(i) {
            Some(t) => t.as_str(),
            None => {
                fresh = secret::new_secret(prefix::ACCESS_TOKEN);
                fresh.as_str()
            }
        };
        batch.push(NewToken {
            key: secret::token_key(token),
            jti: uuid::Uuid::new_v4().as_u128(),
            family: 0,
            iat: now,
            exp,
            kind: TokenKind::AccessToken,
            grant: grant.clone(),
        });
        if batch.len() == SEED_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(SEED_BATCH));
            engine.issuer.send(RecordUnpersisted(full)).await?;
        }
    }
    drop(grant);
    engine.issuer.send(RecordUnpersisted(batch)).await?;
    let after = resident_bytes();
    let resident = engine.tokens.len() - before_len;
    anyhow::ensure!(
        resident == n,
        "seeded {n} tokens but {resident} became resident"
    );
    println!(
        "seeded {n} resident tokens through the engine in {:.2} s ({} in the index now)",
        started.elapsed().as_secs_f64(),
        engine.tokens.len()
    );
    let rss = before.zip(after);
    if let Some((b, a)) = rss {
        println!(
            "RSS {:.1} MiB -> {:.1} MiB: {:.0} bytes per resident token",
            b as f64 / 1048576.0,
            a as f64 / 1048576.0,
            per_token(b, a, n)
        );
    }
    Ok((kept, rss))
}

pub(crate) fn per_token(before: u64, after: u64, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / n as f64
}

/// Issue `count` tokens over HTTP on `conns` connections, the i-th with
/// `reqs[i % reqs.len()]` (one request repeated, or single-use requests
/// each once); answers them.
pub(crate) async fn issue_tokens(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    count: usize,
    conns: usize,
) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(!reqs.is_empty(), "no token request to send");
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns.max(1) {
        let (reqs, next) = (reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut stream = connect(addr).await?;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let req = reqs.get(i % reqs.len()).map_or(&[][..], |r| r.as_slice());
                stream.write_all(req).await?;
                let r = tokio::time::timeout(REQUEST_TIMEOUT, read_response(&mut stream, &mut buf))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "token request timed out")
                    })??;
                let body = buf.get(r.body.clone()).unwrap_or_default();
                if r.status != 200 {
                    return Err(anyhow!(
                        "token endpoint answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(body)
                    ));
                }
                let v: serde_json::Value = serde_json::from_slice(body)?;
                let t = v
                    .get("access_token")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| anyhow!("no access_token in the token response"))?;
                out.push(t.to_string());
                if r.close {
                    stream = connect(addr).await?;
                }
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}
