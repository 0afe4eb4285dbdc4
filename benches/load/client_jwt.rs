//! `client-jwt`: what key-based client authentication (RFC 7523
//! `private_key_jwt`) and signed introspection answers (RFC 9701) cost,
//! each against its baseline on the same server in the same run, in
//! rounds of alternating order (A B, then B A).
//!
//! - client_credentials authenticated by an ES256 client assertion (a
//!   fresh `jti` per request, signed before each run on every core)
//!   against the same request with `client_secret_basic`.
//! - Introspection of `--jwts` tokens with `Accept:
//!   application/token-introspection+jwt` (a JWT signed with the server's
//!   key per answer) against the plain JSON answer.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use serde_json::json;
use tessera_actors::clock::{Clock, SystemClock};

use crate::fixture::{issue_tokens, Fixture};
use crate::generator::{exchange_once, request};
use crate::measure::{measure, Report};
use crate::opts::Opts;
use crate::report::compare;
use crate::requests::{form_value, on_every_core, post};
use crate::servers::Target;
use crate::setup_http::{admin_call, discovery};
use crate::workload::{Mode, Workload};

use crate::proof::{ProofKey, ProofSpec};

const FORM: &str = "application/x-www-form-urlencoded";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";
/// Most assertions signed for one run.
const MAX_ASSERTIONS: usize = 400_000;

struct Assertions<'a> {
    key: ProofKey,
    client_id: String,
    /// The token endpoint's URL (`aud`).
    aud: String,
    target: &'a Target,
    fixture: &'a Fixture,
}

impl Assertions<'_> {
    /// The server's clock: the in-process engine's, else this machine's.
    fn now(&self) -> i64 {
        self.target
            .engine
            .as_ref()
            .map_or_else(|| SystemClock.now(), |e| e.clock.now())
    }

    fn one(&self, iat: i64) -> String {
        let spec = ProofSpec::new("", "", iat)
            .without_header("jwk")
            .header("typ", json!("JWT"))
            .header("kid", json!("k1"))
            .without_claim("htm")
            .without_claim("htu")
            .claim("iss", json!(self.client_id))
            .claim("sub", json!(self.client_id))
            .claim("aud", json!(self.aud))
            .claim("exp", json!(iat + 240));
        self.key.proof_with(spec)
    }

    /// `n` client_credentials requests, each with an assertion of its own,
    /// signed on every core.
    fn requests(&self, n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        let f = self.fixture;
        let iat = self.now();
        let one = |_: usize| {
            let body = format!(
                "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
                form_value(JWT_BEARER),
                self.one(iat)
            );
            request("POST", &f.host, &f.paths.token, &[], Some(FORM), &body)
        };
        on_every_core(n, one)
    }
}

pub(crate) fn client_jwt(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    fixture: &Fixture,
    opts: &Opts,
) -> anyhow::Result<()> {
    if target.admin_token.is_none() {
        bail!(
            "--scenario client-jwt registers its client through the admin API: give --admin-token"
        );
    }
    let rounds = opts.rounds.max(2);
    let key = match opts.assertion_alg.as_str() {
        "EdDSA" => ProofKey::ed25519(),
        "RS256" => ProofKey::rs256(),
        "PS256" => ProofKey::ps256(),
        _ => ProofKey::es256(),
    };
    let mut jwk = key.jwk();
    jwk["kid"] = json!("k1");
    let aud = rt
        .block_on(discovery(target))?
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("discovery has no token_endpoint"))?;
    let spec = json!({
        "name": "load client-jwt",
        "scope": opts.scope,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": key.alg(),
        "jwks": {"keys": [jwk]},
    });
    let created = rt.block_on(admin_call(target, "POST", "/admin/clients", &spec))?;
    let client_id = created
        .get("client_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow!("no client_id in {created}"))?
        .to_string();
    let assertions = Assertions {
        key,
        client_id,
        aud,
        target,
        fixture,
    };
    // One request first, so a misconfiguration fails here, not as errors.
    let probe = assertions.requests(1)?;
    let a = rt.block_on(exchange_once(
        target.addr,
        probe.first().ok_or_else(|| anyhow!("no request"))?,
    ))?;
    anyhow::ensure!(
        a.status == 200,
        "a private_key_jwt client_credentials request answered {}",
        a.status
    );
    println!(
        "client-jwt: private_key_jwt client {} ({}), aud {}",
        assertions.client_id,
        assertions.key.alg(),
        assertions.aud
    );

    // 1. client_credentials: client_secret_basic against private_key_jwt.
    let name = &opts.name;
    let cc_wl = Arc::new(Workload::with_tokens(Mode::Fixed, fixture, &[], opts));
    let (mut basic, mut signed) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let tag = format!(" [round {round}/{rounds}]");
        for jwt_first in [round % 2 == 0] {
            let mut order = [false, true];
            if jwt_first {
                order.reverse();
            }
            for jwt in order {
                if !jwt {
                    basic.push(measure(
                        rt,
                        &format!("{name} client_credentials, client_secret_basic{tag}"),
                        target.addr,
                        cc_wl.clone(),
                        opts,
                    ));
                    continue;
                }
                let best = basic.iter().map(Report::rps).fold(0.0, f64::max);
                let best = if best > 0.0 { best } else { 20_000.0 };
                let want = ((1.25 * best * (opts.warmup + opts.duration)) as usize + 1_000)
                    .min(MAX_ASSERTIONS);
                let started = std::time::Instant::now();
                let mut wl = Workload::with_tokens(Mode::Once, fixture, &[], opts);
                wl.once = assertions.requests(want)?;
                println!(
                    "\nsigned {want} assertions in {:.2} s (before the run, on every core)",
                    started.elapsed().as_secs_f64()
                );
                let r = measure(
                    rt,
                    &format!("{name} client_credentials, private_key_jwt (ES256){tag}"),
                    target.addr,
                    Arc::new(wl),
                    opts,
                );
                if r.stats.exhausted {
                    println!("(every signed assertion was used before the end of the run)");
                }
                signed.push(r);
            }
        }
    }

    // 2. Introspection: plain JSON against signed JWT answers.
    let n = opts.jwts;
    let conns = opts.connections.min(16);
    let issue = post(
        &fixture.host,
        &fixture.paths.token,
        &fixture.auth,
        &fixture.cc_body,
    );
    let tokens = rt.block_on(issue_tokens(target.addr, Arc::new(vec![issue]), n, conns))?;
    println!(
        "issued {} tokens over HTTP (client_credentials)",
        tokens.len()
    );
    let json_wl = Arc::new(Workload::with_tokens(
        Mode::Introspect { check: true },
        fixture,
        &tokens,
        opts,
    ));
    let mut jwt_wl =
        Workload::with_tokens(Mode::Introspect { check: false }, fixture, &tokens, opts);
    let auth = format!("Basic {}", fixture.auth);
    jwt_wl.introspect = tokens
        .iter()
        .map(|t| {
            request(
                "POST",
                &fixture.host,
                &fixture.paths.introspect,
                &[("Authorization", &auth), ("Accept", INTROSPECTION_JWT)],
                Some(FORM),
                &format!("token={}", form_value(t)),
            )
        })
        .collect();
    check_signed(rt, target, &jwt_wl)?;
    let jwt_wl = Arc::new(jwt_wl);
    let (mut json_runs, mut jwt_runs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let tag = format!(" [round {round}/{rounds}]");
        let plain = || {
            measure(
                rt,
                &format!("{name} introspection, JSON answers{tag}"),
                target.addr,
                json_wl.clone(),
                opts,
            )
        };
        let jwt = || {
            measure(
                rt,
                &format!("{name} introspection, signed JWT answers (RFC 9701){tag}"),
                target.addr,
                jwt_wl.clone(),
                opts,
            )
        };
        if round % 2 == 1 {
            json_runs.push(plain());
            jwt_runs.push(jwt());
        } else {
            jwt_runs.push(jwt());
            json_runs.push(plain());
        }
    }

    println!();
    println!(
        "=== summary (client-jwt, {} connections, {rounds} rounds in A B / B A order)",
        opts.connections
    );
    compare(
        "ClientJwt",
        &format!(
            "client_credentials, private_key_jwt ({}) / client_secret_basic",
            assertions.key.alg()
        ),
        basic,
        signed,
        Some(0.70),
    )?;
    compare(
        "ClientJwt",
        "introspection, signed JWT / JSON answers",
        json_runs,
        jwt_runs,
        None,
    )?;
    Ok(())
}

/// One signed answer, checked: the media type, and an active token inside.
fn check_signed(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    wl: &Workload,
) -> anyhow::Result<()> {
    let req = wl
        .introspect
        .first()
        .ok_or_else(|| anyhow!("no token to introspect"))?;
    let a = rt.block_on(exchange_once(target.addr, req))?;
    anyhow::ensure!(
        a.status == 200,
        "signed introspection answered {}",
        a.status
    );
    let body = String::from_utf8_lossy(&a.body).to_string();
    let claims = body
        .split('.')
        .nth(1)
        .and_then(tessera_actors::secret::b64url_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or_else(|| anyhow!("the signed introspection answer is not a JWT: {body}"))?;
    anyhow::ensure!(
        claims["token_introspection"]["active"] == json!(true),
        "the signed answer does not hold an active token: {claims}"
    );
    Ok(())
}
