//! `dpop`: what DPoP (RFC 9449) and token exchange (RFC 8693) cost, each
//! against a baseline measured on the same server in the same run. Every
//! comparison runs at least two rounds, the second in the opposite order
//! (A B, then B A), so that a drift of the machine cancels out.
//!
//! - Introspection of `--jwts` client_credentials tokens issued over HTTP
//!   with a DPoP proof (bound: `cnf.jkt`) against as many issued without.
//! - client_credentials with a DPoP proof against the same request
//!   without. One ES256 proof key; each request carries a proof of its own
//!   (fresh `jti`, `iat` the server's clock now, `htu` the discovered
//!   token endpoint). The proofs are signed before each run, on every
//!   core, so that signing does not limit the generator: enough for the
//!   warm-up and the run at 1.25 times the best rate without proofs.
//! - Token exchange: a client_credentials subject token and an actor token
//!   of the same client traded for a token with `act`, in the same rounds
//!   as the client_credentials runs.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use tessera_actors::clock::{Clock, SystemClock};

use crate::fixture::{issue_tokens, Fixture};
use crate::generator::{exchange_once, request, Answer};
use crate::measure::{measure, Report};
use crate::opts::Opts;
use crate::report::{combine, compare, result_line};
use crate::requests::{basic, form_value, on_every_core, post};
use crate::servers::Target;
use crate::setup_http::{create_client, discovery};
use crate::workload::{Mode, Workload};

use crate::proof::ProofKey;

const FORM: &str = "application/x-www-form-urlencoded";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Most proofs signed for one run (each pre-built request is about 1 KB).
const MAX_PROOFS: usize = 400_000;

/// Where proofs point and which clock they are dated by.
struct Proofs<'a> {
    key: ProofKey,
    /// The token endpoint's URL (`htu`).
    htu: String,
    target: &'a Target,
    fixture: &'a Fixture,
}

impl Proofs<'_> {
    /// The server's clock: the in-process engine's, else this machine's
    /// (`--url` is a loopback server).
    fn now(&self) -> i64 {
        self.target
            .engine
            .as_ref()
            .map_or_else(|| SystemClock.now(), |e| e.clock.now())
    }

    /// `n` client_credentials requests of the fixture's client, each with
    /// a proof of its own dated now, signed on every core.
    fn requests(&self, n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        let f = self.fixture;
        let iat = self.now();
        let auth = format!("Basic {}", f.auth);
        let (key, htu) = (&self.key, self.htu.as_str());
        let (host, path, body) = (f.host.as_str(), f.paths.token.as_str(), f.cc_body.as_str());
        let one = |_: usize| {
            let proof = key.proof("POST", htu, iat);
            request(
                "POST",
                host,
                path,
                &[("Authorization", &auth), ("DPoP", &proof)],
                Some(FORM),
                body,
            )
        };
        on_every_core(n, one)
    }
}

pub(crate) fn dpop(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    fixture: &Fixture,
    opts: &Opts,
) -> anyhow::Result<()> {
    let rounds = opts.rounds.max(2);
    let htu = rt.block_on(token_endpoint(target))?;
    let proofs = Proofs {
        key: ProofKey::es256(),
        htu,
        target,
        fixture,
    };
    println!(
        "DPoP: one {} proof key (thumbprint {}), htu {}",
        proofs.key.alg(),
        proofs.key.thumbprint(),
        proofs.htu
    );
    rt.block_on(check_binding(&proofs))?;
    let exchange = match target.admin_token {
        Some(_) => Some(rt.block_on(exchange_setup(target, fixture, opts))?),
        None => {
            println!("token exchange: skipped (no --admin-token to create its client)");
            None
        }
    };

    // 1. Introspection: DPoP-bound tokens against Bearer tokens.
    let n = opts.jwts;
    let conns = opts.connections.min(16);
    let plain_req = post(
        &fixture.host,
        &fixture.paths.token,
        &fixture.auth,
        &fixture.cc_body,
    );
    let plain_tokens = rt.block_on(issue_tokens(
        target.addr,
        Arc::new(vec![plain_req]),
        n,
        conns,
    ))?;
    let bound_tokens = rt.block_on(issue_tokens(
        target.addr,
        Arc::new(proofs.requests(n)?),
        n,
        conns,
    ))?;
    println!(
        "issued {} Bearer and {} DPoP-bound tokens over HTTP (client_credentials)",
        plain_tokens.len(),
        bound_tokens.len()
    );
    let intro = |tokens: &[String]| {
        Arc::new(Workload::with_tokens(
            Mode::Introspect { check: true },
            fixture,
            tokens,
            opts,
        ))
    };
    let (plain_wl, bound_wl) = (intro(&plain_tokens), intro(&bound_tokens));
    let name = &opts.name;
    let (mut plain_intro, mut bound_intro) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let tag = format!(" [round {round}/{rounds}]");
        let plain = || {
            measure(
                rt,
                &format!("{name} introspection, {n} Bearer tokens{tag}"),
                target.addr,
                plain_wl.clone(),
                opts,
            )
        };
        let bound = || {
            measure(
                rt,
                &format!("{name} introspection, {n} DPoP-bound tokens{tag}"),
                target.addr,
                bound_wl.clone(),
                opts,
            )
        };
        if round % 2 == 1 {
            plain_intro.push(plain());
            bound_intro.push(bound());
        } else {
            bound_intro.push(bound());
            plain_intro.push(plain());
        }
    }
    drop((plain_wl, bound_wl));

    // 2. and 3. client_credentials with and without a proof, and token
    // exchange, in the same rounds.
    let cc_wl = Arc::new(Workload::with_tokens(Mode::Fixed, fixture, &[], opts));
    let exchange_wl = exchange.map(|req| {
        let mut wl = Workload::with_tokens(Mode::Fixed, fixture, &[], opts);
        wl.fixed = req;
        Arc::new(wl)
    });
    let (mut plain_cc, mut bound_cc, mut exchanged) = (Vec::new(), Vec::new(), Vec::new());
    let mut signed = Vec::new();
    for round in 1..=rounds {
        let tag = format!(" [round {round}/{rounds}]");
        let mut order = vec![Run::Plain, Run::Proof, Run::Exchange];
        if round % 2 == 0 {
            order.reverse();
        }
        for run in order {
            match run {
                Run::Plain => plain_cc.push(measure(
                    rt,
                    &format!("{name} client_credentials, no proof{tag}"),
                    target.addr,
                    cc_wl.clone(),
                    opts,
                )),
                Run::Proof => {
                    // Enough for the warm-up and the run at 1.25 times the
                    // best rate without proofs so far (20,000/s before any).
                    let best = plain_cc.iter().map(Report::rps).fold(0.0, f64::max);
                    let best = if best > 0.0 { best } else { 20_000.0 };
                    let want = (1.25 * best * (opts.warmup + opts.duration)) as usize + 1_000;
                    let want = want.min(MAX_PROOFS);
                    let started = std::time::Instant::now();
                    let mut wl = Workload::with_tokens(Mode::Once, fixture, &[], opts);
                    wl.once = proofs.requests(want)?;
                    println!(
                        "\nsigned {want} proofs in {:.2} s (before the run, on every core)",
                        started.elapsed().as_secs_f64()
                    );
                    signed.push(want);
                    let r = measure(
                        rt,
                        &format!("{name} client_credentials, ES256 DPoP proof{tag}"),
                        target.addr,
                        Arc::new(wl),
                        opts,
                    );
                    if r.stats.exhausted {
                        println!("(every signed proof was used before the end of the run)");
                    }
                    bound_cc.push(r);
                }
                Run::Exchange => {
                    if let Some(wl) = &exchange_wl {
                        exchanged.push(measure(
                            rt,
                            &format!("{name} token exchange, with an actor token{tag}"),
                            target.addr,
                            wl.clone(),
                            opts,
                        ));
                    }
                }
            }
        }
    }

    println!();
    println!(
        "=== summary (dpop, {} connections, {rounds} rounds in A B / B A order)",
        opts.connections
    );
    compare(
        "Dpop",
        "introspection, DPoP-bound / Bearer tokens",
        plain_intro,
        bound_intro,
        Some(0.95),
    )?;
    let plain = compare(
        "Dpop",
        "client_credentials, ES256 proof / no proof",
        plain_cc,
        bound_cc,
        Some(0.70),
    )?;
    if !exchanged.is_empty() {
        let ex = combine("token exchange", exchanged).ok_or_else(|| anyhow!("no run"))?;
        println!(
            "token exchange (actor token): {:.0} req/s, p99 {:.2} ms, errors {}; client_credentials in the same rounds {:.0} req/s: {:.1}%",
            ex.rps(),
            ex.stats.all.value_at_quantile(0.99) as f64 / 1000.0,
            ex.errors() + ex.stats.bad_body,
            plain,
            100.0 * ex.rps() / plain.max(1e-9)
        );
        result_line(serde_json::json!({
            "name": opts.name,
            "scenario": "Dpop",
            "measure": "token exchange / client_credentials",
            "rps": ex.rps(),
            "baseline_rps": plain,
            "errors": ex.errors() + ex.stats.bad_body,
        }));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Run {
    Plain,
    Proof,
    Exchange,
}

/// The token endpoint's URL from discovery (what `htu` must name).
async fn token_endpoint(target: &Target) -> anyhow::Result<String> {
    discovery(target)
        .await?
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no token_endpoint in discovery"))
}

/// One request, its answer as JSON; a non-2xx is an error.
async fn call(target: &Target, req: &[u8], what: &str) -> anyhow::Result<serde_json::Value> {
    let a: Answer = exchange_once(target.addr, req).await?;
    anyhow::ensure!(
        a.status == 200,
        "{what} answered {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

/// One token with a proof: it must come back as `DPoP` and introspect
/// bound to the proof's key; one without must not.
async fn check_binding(p: &Proofs<'_>) -> anyhow::Result<()> {
    let f = p.fixture;
    let reqs = p.requests(1)?;
    let req = reqs.first().ok_or_else(|| anyhow!("no proof"))?;
    let v = call(p.target, req, "client_credentials with a DPoP proof").await?;
    anyhow::ensure!(
        v["token_type"] == "DPoP",
        "a token issued with a proof is not of type DPoP: {v}"
    );
    let token = v["access_token"].as_str().unwrap_or_default();
    let intro = post(
        &f.host,
        &f.paths.introspect,
        &f.auth,
        &format!("token={}", form_value(token)),
    );
    let v = call(p.target, &intro, "introspection of a DPoP-bound token").await?;
    anyhow::ensure!(
        v["active"] == true && v["cnf"]["jkt"] == p.key.thumbprint().as_str(),
        "a DPoP-bound token does not introspect bound to the proof's key: {v}"
    );
    let plain = post(&f.host, &f.paths.token, &f.auth, &f.cc_body);
    let v = call(p.target, &plain, "client_credentials").await?;
    anyhow::ensure!(
        v["token_type"] != "DPoP",
        "a token issued without a proof is of type DPoP: {v}"
    );
    Ok(())
}

/// A client allowed client_credentials and token exchange, made through
/// the admin API, two client_credentials tokens of it (subject and actor)
/// and the exchange request; one exchange is checked to carry `act`.
async fn exchange_setup(target: &Target, f: &Fixture, opts: &Opts) -> anyhow::Result<Vec<u8>> {
    let mut spec = serde_json::json!({
        "name": "load test token exchange",
        "grant_types": ["client_credentials", TOKEN_EXCHANGE],
        "token_exchange": { "impersonation": false },
    });
    if !opts.scope.trim().is_empty() {
        spec["scope"] = opts.scope.clone().into();
    }
    let (id, secret) = create_client(target, &spec, "the token exchange client").await?;
    let auth = basic(&id, &secret);
    let cc = post(&f.host, &f.paths.token, &auth, &f.cc_body);
    let tokens = issue_tokens(target.addr, Arc::new(vec![cc]), 2, 1).await?;
    let (Some(subject), Some(actor)) = (tokens.first(), tokens.get(1)) else {
        bail!("no subject and actor tokens");
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", TOKEN_EXCHANGE)
        .append_pair("subject_token", subject)
        .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
        .append_pair("actor_token", actor)
        .append_pair("actor_token_type", ACCESS_TOKEN_TYPE)
        .finish();
    let req = post(&f.host, &f.paths.token, &auth, &body);
    let v = call(target, &req, "token exchange").await?;
    anyhow::ensure!(
        v["issued_token_type"] == ACCESS_TOKEN_TYPE,
        "a token exchange answered {v}"
    );
    let token = v["access_token"].as_str().unwrap_or_default();
    let intro = post(
        &f.host,
        &f.paths.introspect,
        &auth,
        &format!("token={}", form_value(token)),
    );
    let v = call(target, &intro, "introspection of an exchanged token").await?;
    anyhow::ensure!(
        v["active"] == true && v["act"]["client_id"] == id.as_str(),
        "an exchanged token does not introspect with its actor: {v}"
    );
    println!("token exchange: client {id}, subject and actor tokens of its own, act checked");
    Ok(req)
}
