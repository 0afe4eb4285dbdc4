//! The `code-flow` scenario: virtual users, each a browser with its own
//! connection and cookie jar, running the whole authorization code flow.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use hdrhistogram::Histogram;
use tessera_actors::secret;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::fixture::Fixture;
use crate::generator::{connect, headers, read_response, request, Control, Response, Stats};
use crate::measure::{join_stats, process_cpu_secs, process_minor_faults, server_cpu_secs, Report};
use crate::opts::Opts;
use crate::report::{combine, ms, print_report, result_line};
use crate::requests::{contains, login_body, post_json};
use crate::servers::Target;
use crate::{BUSY_PAUSE, LOGIN_PATH, REQUEST_TIMEOUT};

/// What every virtual user of the code flow shares.
pub(crate) struct FlowSpec {
    pub(crate) host: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) token_path: String,
    /// Per user: the complete `POST /auth/login` request.
    pub(crate) logins: Vec<Vec<u8>>,
    pub(crate) login_once: bool,
}

/// Why a step got no answer.
pub(crate) enum StepError {
    Connection,
    Timeout,
}

/// Send `req` on the virtual user's connection (connecting if needed) and
/// read the answer into `buf`. The connection is dropped on an error and
/// after a `Connection: close`.
pub(crate) async fn send_on(
    addr: SocketAddr,
    stream: &mut Option<TcpStream>,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> Result<Response, StepError> {
    if stream.is_none() {
        *stream = Some(connect(addr).await.map_err(|_| StepError::Connection)?);
    }
    let Some(st) = stream.as_mut() else {
        return Err(StepError::Connection);
    };
    if st.write_all(req).await.is_err() {
        *stream = None;
        return Err(StepError::Connection);
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, read_response(st, buf)).await {
        Ok(Ok(r)) => {
            if r.close {
                *stream = None;
            }
            Ok(r)
        }
        Ok(Err(_)) => {
            *stream = None;
            Err(StepError::Connection)
        }
        Err(_) => {
            *stream = None;
            Err(StepError::Timeout)
        }
    }
}

/// Keep the cookies a response sets; drop the ones it clears.
pub(crate) fn absorb_cookies(jar: &mut Vec<(String, String)>, head: &[u8]) {
    for (n, v) in headers(head) {
        if !n.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let (pair, attrs) = v.split_once(';').unwrap_or((v.as_str(), ""));
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        jar.retain(|(k, _)| k != name);
        if !value.is_empty() && !attrs.to_ascii_lowercase().contains("max-age=0") {
            jar.push((name.to_string(), value.to_string()));
        }
    }
}

pub(crate) fn micros_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The steps of a flow, for the per-step error counts.
pub(crate) const STEP_LOGIN: usize = 0;
pub(crate) const STEP_AUTHORIZE: usize = 1;
pub(crate) const STEP_TOKEN: usize = 2;

/// One virtual user: a browser with its own connection and cookie jar,
/// running flows until told to stop. A flow that fails at a step is
/// counted against that step and started again from the login.
pub(crate) async fn flow_user(
    addr: SocketAddr,
    spec: Arc<FlowSpec>,
    ctl: Arc<Control>,
    vu: u64,
) -> Stats {
    let mut s = Stats::new();
    let mut buf = Vec::with_capacity(8192);
    let mut jar: Vec<(String, String)> = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let login = spec
        .logins
        .get(usize::try_from(vu).unwrap_or(0) % spec.logins.len().max(1))
        .cloned()
        .unwrap_or_default();
    let mut next_send = ctl
        .pace
        .map(|iv| ctl.started + iv.mul_f64(vu.saturating_sub(1) as f64 / ctl.conns.max(1) as f64));
    let fail = |s: &mut Stats, step: usize, e: Option<StepError>| {
        if let Some(c) = s.step_errors.get_mut(step) {
            *c += 1;
        }
        match e {
            Some(StepError::Connection) => s.conn_errors += 1,
            Some(StepError::Timeout) => s.timeouts += 1,
            None => {}
        }
    };
    while Instant::now() < ctl.deadline {
        if let (Some(iv), Some(at)) = (ctl.pace, next_send.as_mut()) {
            tokio::time::sleep_until((*at).into()).await;
            *at += iv;
        }
        if !ctl.go() {
            break;
        }
        let flow_started = Instant::now();

        // 1. Log in (a fresh browser), unless the session is kept.
        if !spec.login_once || jar.is_empty() {
            jar.clear();
            let t = Instant::now();
            let r = match send_on(addr, &mut stream, &login, &mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    fail(&mut s, STEP_LOGIN, Some(e));
                    continue;
                }
            };
            let micros = micros_since(t);
            match r.status {
                200 if contains(
                    buf.get(r.body.clone()).unwrap_or_default(),
                    br#""mode":"authentication""#,
                ) =>
                {
                    s.completed += 1;
                    s.login_h.saturating_record(micros);
                    absorb_cookies(&mut jar, buf.get(..r.head).unwrap_or_default());
                }
                503 => {
                    s.busy += 1;
                    tokio::time::sleep(BUSY_PAUSE).await;
                    continue;
                }
                status => {
                    s.completed += 1;
                    if status == 429 {
                        s.limited += 1;
                    }
                    if (200..300).contains(&status) {
                        s.bad_body += 1;
                    } else {
                        s.non_2xx += 1;
                    }
                    fail(&mut s, STEP_LOGIN, None);
                    tokio::time::sleep(BUSY_PAUSE).await;
                    continue;
                }
            }
            if jar.is_empty() {
                s.bad_body += 1;
                fail(&mut s, STEP_LOGIN, None);
                continue;
            }
        }

        // 2. Authorize with PKCE; the answer is a redirect with the code.
        let verifier = secret::b64url(&secret::random_bytes::<32>());
        let challenge = secret::b64url(&secret::sha256(verifier.as_bytes()));
        let state = secret::b64url(&secret::random_bytes::<12>());
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &spec.client_id)
            .append_pair("redirect_uri", &spec.redirect_uri)
            .append_pair("scope", &spec.scope)
            .append_pair("state", &state)
            .append_pair("nonce", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = request(
            "GET",
            &spec.host,
            &format!("/oauth2/authorize?{query}"),
            &[("Cookie", &cookie)],
            None,
            "",
        );
        let t = Instant::now();
        let r = match send_on(addr, &mut stream, &req, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                fail(&mut s, STEP_AUTHORIZE, Some(e));
                continue;
            }
        };
        let micros = micros_since(t);
        s.completed += 1;
        if !matches!(r.status, 302 | 303) {
            // 200 would be a consent page: the client is first-party, so
            // this is an error like any other.
            if (200..300).contains(&r.status) {
                s.bad_body += 1;
            } else {
                s.non_2xx += 1;
            }
            fail(&mut s, STEP_AUTHORIZE, None);
            jar.clear();
            continue;
        }
        let location = headers(buf.get(..r.head).unwrap_or_default())
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v)
            .unwrap_or_default();
        let params: HashMap<String, String> = location
            .split_once('?')
            .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let code = match params.get("code") {
            Some(code)
                if location.starts_with(&spec.redirect_uri)
                    && params.get("state") == Some(&state) =>
            {
                code.clone()
            }
            _ => {
                // An error redirect, or to the login page (session lost).
                s.bad_body += 1;
                fail(&mut s, STEP_AUTHORIZE, None);
                jar.clear();
                continue;
            }
        };
        s.authorize_h.saturating_record(micros);

        // 3. The code for tokens, with the verifier (public client).
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &spec.redirect_uri)
            .append_pair("code_verifier", &verifier)
            .append_pair("client_id", &spec.client_id)
            .finish();
        let req = request(
            "POST",
            &spec.host,
            &spec.token_path,
            &[],
            Some("application/x-www-form-urlencoded"),
            &body,
        );
        let t = Instant::now();
        let r = match send_on(addr, &mut stream, &req, &mut buf).await {
            Ok(r) => r,
            Err(e) => {
                fail(&mut s, STEP_TOKEN, Some(e));
                continue;
            }
        };
        let micros = micros_since(t);
        s.completed += 1;
        if r.status != 200 {
            s.non_2xx += 1;
            fail(&mut s, STEP_TOKEN, None);
            continue;
        }
        if !contains(
            buf.get(r.body.clone()).unwrap_or_default(),
            br#""access_token""#,
        ) {
            s.bad_body += 1;
            fail(&mut s, STEP_TOKEN, None);
            continue;
        }
        s.exchange_h.saturating_record(micros);
        s.flows += 1;
        s.all.saturating_record(micros_since(flow_started));
    }
    s
}

/// Run `conns` virtual users for `secs` (or `max` flows).
pub(crate) fn run_flows(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    spec: &Arc<FlowSpec>,
    conns: usize,
    secs: f64,
    max: Option<u64>,
    rate: Option<f64>,
) -> (Stats, Duration) {
    rt.block_on(async {
        let ctl = Control::new(conns, secs, max, rate);
        let tasks: Vec<_> = (0..conns)
            .map(|i| tokio::spawn(flow_user(addr, spec.clone(), ctl.clone(), i as u64 + 1)))
            .collect();
        (join_stats(tasks).await, ctl.started.elapsed())
    })
}

pub(crate) fn code_flow(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    f: &Fixture,
    opts: &Opts,
) -> anyhow::Result<()> {
    let client_id = f
        .flow_client
        .clone()
        .ok_or_else(|| anyhow!("no code-flow client"))?;
    let spec = Arc::new(FlowSpec {
        host: f.host.clone(),
        client_id,
        redirect_uri: opts.redirect_uri.clone(),
        scope: opts.flow_scope.clone(),
        token_path: f.paths.token.clone(),
        logins: f
            .users
            .iter()
            .map(|u| post_json(&f.host, LOGIN_PATH, &opts.login_user_agent, &login_body(u)))
            .collect(),
        login_once: opts.login_once,
    });
    let mut runs = Vec::new();
    for round in 1..=opts.rounds {
        let tag = opts.round_tag(round);
        if opts.warmup > 0.0 {
            let _ = run_flows(
                rt,
                target.addr,
                &spec,
                opts.connections,
                opts.warmup,
                None,
                opts.rate,
            );
        }
        let cpu_before = process_cpu_secs();
        let faults_before = process_minor_faults();
        let server_before = server_cpu_secs();
        let (stats, elapsed) = run_flows(
            rt,
            target.addr,
            &spec,
            opts.connections,
            opts.duration,
            opts.max_requests,
            opts.rate,
        );
        let r = Report {
            label: format!("{} authorization code flow{tag}", opts.name),
            stats,
            elapsed,
            cpu: process_cpu_secs() - cpu_before,
            faults: process_minor_faults().saturating_sub(faults_before),
            server_cpu: server_cpu_secs().zip(server_before).map(|(a, b)| a - b),
            db_cpu: None,
        };
        print_report(&r);
        runs.push(r);
    }
    let r = combine(&format!("{} code flow, all rounds", opts.name), runs)
        .ok_or_else(|| anyhow!("no run"))?;
    if opts.rounds > 1 {
        print_report(&r);
    }
    let s = &r.stats;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!();
    println!(
        "=== summary (CodeFlow, {} virtual users over {} users, {}{})",
        opts.connections,
        f.users.len(),
        if opts.login_once {
            "one login each, then authorize + token"
        } else {
            "login + authorize + token every flow"
        },
        match &opts.url {
            Some(u) => format!(", external server at {u}"),
            None => String::new(),
        }
    );
    println!(
        "completed flows: {} = {:.1} flows/s; HTTP requests {:.0}/s",
        s.flows,
        s.flows as f64 / secs,
        r.rps()
    );
    for (name, h) in [
        ("whole flow", &s.all),
        ("login", &s.login_h),
        ("authorize", &s.authorize_h),
        ("token", &s.exchange_h),
    ] {
        if !h.is_empty() {
            println!(
                "{name}: p50 {}  p99 {}  max {}",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            );
        }
    }
    println!(
        "failed flows by step: login {}, authorize {}, token {}; password pool full (503) {}; rate-limited (429) {}",
        s.step_errors[STEP_LOGIN],
        s.step_errors[STEP_AUTHORIZE],
        s.step_errors[STEP_TOKEN],
        s.busy,
        s.limited
    );
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    result_line(serde_json::json!({
        "name": opts.name,
        "scenario": "code-flow",
        "connections": opts.connections,
        "login_once": opts.login_once,
        "flows_per_s": s.flows as f64 / secs,
        "flow_p50_ms": q(&s.all, 0.5),
        "flow_p99_ms": q(&s.all, 0.99),
        "login_p99_ms": q(&s.login_h, 0.99),
        "authorize_p99_ms": q(&s.authorize_h, 0.99),
        "token_p99_ms": q(&s.exchange_h, 0.99),
        "failed_flows": s.step_errors.iter().sum::<u64>(),
        "busy_503": s.busy,
        "limited_429": s.limited,
    }));
    Ok(())
}
