//! Logging, the Prometheus recorder, and the per-route request metrics.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_actors::Engine;

use crate::configuration::LogSettings;

/// Latency buckets (seconds): fine below a millisecond, where
/// introspection lives, coarse above.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];
/// Actor mailbox wait and handling (seconds): most messages take a few
/// microseconds, so the buckets start at one.
const ACTOR_BUCKETS: &[f64] = &[
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// How often the exporter drains histogram samples into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use, with real histogram
/// buckets (never summaries: those cannot be aggregated across instances)
/// and a background upkeep thread.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            // A prefix matcher wins over a suffix one; a histogram matching
            // neither still gets the latency buckets.
            let builder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Prefix("tessera_actor_".into()),
                        ACTOR_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZE_BUCKETS)
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // Another recorder may already be installed (tests, embedding):
            // then ours still renders what it records through `handle`.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("tessera-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            describe();
            register_series();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    // Traffic.
    describe_counter!(
        "tessera_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "tessera_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route"
    );
    // Tokens.
    describe_counter!(
        "tessera_introspections_total",
        "Introspections by result (active, inactive)"
    );
    describe_counter!(
        "tessera_tokens_issued_total",
        "Tokens issued by kind, grant and format"
    );
    describe_counter!(
        "tessera_authorization_codes_issued_total",
        "Authorization codes issued"
    );
    describe_counter!(
        "tessera_code_replays_total",
        "Authorization codes presented a second time (the family is revoked)"
    );
    describe_counter!(
        "tessera_refresh_reuse_detected_total",
        "Rotated refresh tokens presented again (the family is revoked)"
    );
    describe_counter!(
        "tessera_revocations_total",
        "Token ids and families revoked"
    );
    describe_gauge!(
        "tessera_tokens_live",
        "Token records resident in the introspection index"
    );
    describe_gauge!("tessera_revoked_entries", "Entries in the revoked set");
    // Accounts.
    describe_gauge!("tessera_clients", "Registered clients");
    describe_gauge!("tessera_users", "User accounts");
    describe_gauge!("tessera_entities", "Entities");
    describe_gauge!("tessera_sessions_active", "Browser sessions held");
    describe_counter!(
        "tessera_logins_total",
        "Password and MFA logins by result (success, failure, rate_limited, busy, mfa_success, mfa_failure)"
    );
    describe_counter!(
        "tessera_federation_logins_total",
        "Logins through an upstream OpenID provider by provider and result (started, success, linked, created, denied, invalid_state, invalid_request, invalid_token, upstream_error, refused, busy, store_error)"
    );
    describe_gauge!(
        "tessera_federation_links",
        "Upstream subjects linked to local users"
    );
    describe_counter!(
        "tessera_registrations_total",
        "Self-service registrations by API"
    );
    describe_counter!(
        "tessera_account_recoveries_total",
        "Account recoveries by result"
    );
    describe_gauge!(
        "tessera_password_pool_queue_depth",
        "Password hashes queued or running in the argon2 pool"
    );
    describe_histogram!(
        "tessera_password_pool_wait_seconds",
        Unit::Seconds,
        "Time a password hash waited for an argon2 worker"
    );
    describe_counter!(
        "tessera_password_pool_rejected_total",
        "Password hashes refused because the argon2 pool queue was full"
    );
    // Actors.
    describe_histogram!(
        "tessera_actor_mailbox_wait_seconds",
        Unit::Seconds,
        "Time a message waited in an actor's mailbox, by actor and message"
    );
    describe_histogram!(
        "tessera_actor_handling_seconds",
        Unit::Seconds,
        "Time an actor spent handling a message, by actor and message"
    );
    // Store.
    describe_histogram!(
        "tessera_store_flush_duration_seconds",
        Unit::Seconds,
        "Durable flush (group commit) latency"
    );
    describe_histogram!(
        "tessera_store_flush_batch_size",
        "Writers sharing one durable flush"
    );
    describe_counter!(
        "tessera_store_flush_failures_total",
        "Durable flushes that failed"
    );
    describe_gauge!(
        "tessera_store_size_bytes",
        Unit::Bytes,
        "Size of the store on disk"
    );
    describe_gauge!(
        "tessera_store_writable",
        "1 while the store can make writes durable; 0 while free space is below the reserve (until freed) or after a failed write (until restart)"
    );
    describe_gauge!(
        "tessera_store_low_space",
        "1 while free space on the store's filesystem is below store.reserve_bytes (writes answer 503)"
    );
    // Mail.
    describe_gauge!("tessera_mail_queued", "Mails waiting for delivery");
    describe_gauge!(
        "tessera_mail_dead",
        "Mails given up on (dead letters kept in the queue tree)"
    );
    describe_counter!("tessera_mail_sent_total", "Mails delivered");
    describe_counter!(
        "tessera_mail_failed_total",
        "Mail delivery attempts that failed"
    );
    // Keys.
    describe_counter!("tessera_key_rotations_total", "Signing key rotations");
    describe_gauge!("tessera_keys_published", "Keys in the JWKS");
    describe_gauge!(
        "tessera_signing_key_activated_timestamp_seconds",
        Unit::Seconds,
        "When the current signing key took over"
    );
    describe_gauge!(
        "tessera_signing_key_age_seconds",
        Unit::Seconds,
        "Age of the current signing key"
    );
}

/// Series that exist from the start, at zero: `rate()` and `increase()`
/// need a first sample before the first event, and a dashboard panel over
/// a rare event (reuse detection, a failed flush) shows 0 rather than
/// "no data".
fn register_series() {
    for name in [
        "tessera_authorization_codes_issued_total",
        "tessera_code_replays_total",
        "tessera_refresh_reuse_detected_total",
        "tessera_revocations_total",
        "tessera_password_pool_rejected_total",
        "tessera_store_flush_failures_total",
        "tessera_mail_sent_total",
        "tessera_mail_failed_total",
        "tessera_key_rotations_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    for result in ["active", "inactive"] {
        metrics::counter!("tessera_introspections_total", "result" => result).increment(0);
    }
    for result in [
        "success",
        "failure",
        "rate_limited",
        "busy",
        "mfa_success",
        "mfa_failure",
    ] {
        metrics::counter!("tessera_logins_total", "result" => result).increment(0);
    }
    for result in ["success", "failure"] {
        metrics::counter!("tessera_account_recoveries_total", "result" => result).increment(0);
    }
    for api in ["registration", "api_oauth"] {
        metrics::counter!("tessera_registrations_total", "api" => api).increment(0);
    }
    metrics::gauge!("tessera_password_pool_queue_depth").set(0.0);
}

/// Gauges that are cheaper to read at scrape time than to keep current.
pub fn refresh_gauges(engine: &Engine) {
    metrics::gauge!("tessera_tokens_live").set(engine.tokens.len() as f64);
    let store = engine.store_health();
    let low_space = !store.space_ok();
    metrics::gauge!("tessera_store_writable").set(if store.writable() && !low_space {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("tessera_store_low_space").set(if low_space { 1.0 } else { 0.0 });
    metrics::gauge!("tessera_revoked_entries").set(engine.revoked.len() as f64);
    metrics::gauge!("tessera_clients").set(engine.clients.len() as f64);
    metrics::gauge!("tessera_users").set(engine.users.len() as f64);
    metrics::gauge!("tessera_entities").set(engine.entities.len() as f64);
    metrics::gauge!("tessera_sessions_active").set(engine.sessions.len() as f64);
    metrics::gauge!("tessera_store_size_bytes").set(store.size_on_disk() as f64);
    if let Some(at) = engine.keys.current_activated_at() {
        let age = engine.clock.now().saturating_sub(at).max(0);
        metrics::gauge!("tessera_signing_key_age_seconds").set(age as f64);
    }
}

/// The whole exposition: the recorder's metrics, then the process section.
pub fn render(handle: &PrometheusHandle, engine: &Engine) -> String {
    refresh_gauges(engine);
    let mut out = handle.render();
    process::render(&mut out);
    out
}

/// Resident set size of this process (Linux), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * process::PAGE_SIZE)
}

/// `tessera_process_*`, read from `/proc` at scrape time and written as
/// text: CPU time is a fractional counter, which the recorder's integer
/// counters cannot carry.
mod process {
    use std::fmt::Write;

    /// Linux reports CPU times in USER_HZ ticks, 100 per second on every
    /// architecture it exposes to user space.
    const USER_HZ: f64 = 100.0;
    pub(super) const PAGE_SIZE: u64 = 4096;

    /// The fields of `/proc/self/stat` after the command name, from
    /// field 3 (`state`) on.
    fn stat_fields(stat: &str) -> Vec<&str> {
        match stat.rfind(')') {
            Some(i) => stat.get(i + 1..).unwrap_or("").split_whitespace().collect(),
            None => Vec::new(),
        }
    }

    fn field(fields: &[&str], number: usize) -> Option<f64> {
        fields.get(number.checked_sub(3)?)?.parse().ok()
    }

    fn boot_time() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }

    fn max_fds() -> Option<f64> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.get("Max open files".len()..)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: Option<f64>) {
        if let Some(v) = value {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n\n"
            );
        }
    }

    pub(super) fn render(out: &mut String) {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f = stat_fields(&stat);
        let cpu = match (field(&f, 14), field(&f, 15)) {
            (Some(user), Some(system)) => Some((user + system) / USER_HZ),
            _ => None,
        };
        let start = match (field(&f, 22), boot_time()) {
            (Some(ticks), Some(boot)) => Some(boot + ticks / USER_HZ),
            _ => None,
        };
        let fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as f64);
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        metric(
            out,
            "tessera_process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent by the process",
            cpu,
        );
        metric(
            out,
            "tessera_process_resident_memory_bytes",
            "gauge",
            "Resident set size",
            super::resident_bytes().map(|b| b as f64),
        );
        metric(
            out,
            "tessera_process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size",
            field(&f, 23),
        );
        metric(
            out,
            "tessera_process_open_fds",
            "gauge",
            "Open file descriptors",
            fds,
        );
        metric(
            out,
            "tessera_process_max_fds",
            "gauge",
            "Limit on open file descriptors",
            max_fds(),
        );
        metric(
            out,
            "tessera_process_threads",
            "gauge",
            "Threads in the process",
            field(&f, 20),
        );
        metric(
            out,
            "tessera_process_start_time_seconds",
            "gauge",
            "Start time of the process since the unix epoch",
            start,
        );
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_survive_a_command_name_with_spaces_and_parens() {
            let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 7 0 1000 123456 300";
            let f = stat_fields(stat);
            assert_eq!(field(&f, 3), None, "state is not a number");
            assert_eq!(field(&f, 14), Some(250.0));
            assert_eq!(field(&f, 15), Some(50.0));
            assert_eq!(field(&f, 20), Some(7.0));
            assert_eq!(field(&f, 22), Some(1000.0));
            assert_eq!(field(&f, 23), Some(123456.0));
        }

        #[test]
        fn the_section_is_valid_exposition() {
            let mut out = String::new();
            render(&mut out);
            assert!(out.contains("# TYPE tessera_process_cpu_seconds_total counter\n"));
            assert!(out.contains("\ntessera_process_open_fds "));
            assert!(out.contains("\ntessera_process_resident_memory_bytes "));
        }
    }
}

/// The metric handles of one route, cached per worker thread.
struct RouteMetrics {
    duration: metrics::Histogram,
    /// By method and status: a handful per route.
    requests: Vec<(&'static str, u16, metrics::Counter)>,
}

thread_local! {
    /// `counter!`/`histogram!` with owned labels allocate the label strings
    /// and build, hash and look up a labelled key in the global registry on
    /// every call; on the introspection hot path that cost more than the
    /// token lookup itself. Each worker keeps the handles it has used.
    /// Bounded: routes are patterns, methods are folded into a fixed set.
    /// (The recorder has no idle timeout, so a handle never goes stale.)
    static ROUTE_METRICS: RefCell<HashMap<String, RouteMetrics>> = RefCell::new(HashMap::new());
}

/// A method as a label: the standard ones, anything else is `OTHER` (a
/// client must not be able to mint label values).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn record_request(route: &str, method: &'static str, status: u16, seconds: f64) {
    ROUTE_METRICS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(route) {
            let duration = metrics::histogram!("tessera_http_request_duration_seconds", "route" => route.to_string());
            cache.insert(route.to_string(), RouteMetrics { duration, requests: Vec::new() });
        }
        let Some(entry) = cache.get_mut(route) else { return };
        match entry.requests.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, c)) => c.increment(1),
            None => {
                let c = metrics::counter!("tessera_http_requests_total", "route" => route.to_string(), "method" => method, "status" => status.to_string());
                c.increment(1);
                entry.requests.push((method, status, c));
            }
        }
        entry.duration.record(seconds);
    });
}

/// Count and time every request by its route pattern (not its raw path,
/// which would explode label cardinality).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern();
    let method = method_label(req.method());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    record_request(
        route.as_deref().unwrap_or("unmatched"),
        method,
        status,
        started.elapsed().as_secs_f64(),
    );
    res
}

/// Install the tracing subscriber once (later calls are no-ops).
pub fn init_tracing(log: &LogSettings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
