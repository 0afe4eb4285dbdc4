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
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use, with real histogram
/// buckets and a background upkeep thread.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
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
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                });
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "tessera_http_requests_total",
        "HTTP requests by route, method and status"
    );
    describe_histogram!(
        "tessera_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route"
    );
    describe_counter!(
        "tessera_introspections_total",
        "Introspections by result (active, inactive)"
    );
    describe_counter!(
        "tessera_tokens_issued_total",
        "Tokens issued by kind, grant and format"
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
    describe_gauge!("tessera_clients", "Registered clients");
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
    describe_counter!("tessera_key_rotations_total", "Signing key rotations");
    describe_gauge!("tessera_keys_published", "Keys in the JWKS");
    describe_gauge!(
        "tessera_signing_key_activated_timestamp_seconds",
        Unit::Seconds,
        "When the current signing key took over"
    );
    describe_gauge!(
        "tessera_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident set size"
    );
    describe_gauge!("tessera_process_open_fds", "Open file descriptors");
}

/// Gauges that are cheaper to read at scrape time than to keep current.
pub fn refresh_gauges(engine: &Engine) {
    metrics::gauge!("tessera_tokens_live").set(engine.tokens.len() as f64);
    metrics::gauge!("tessera_revoked_entries").set(engine.revoked.len() as f64);
    metrics::gauge!("tessera_clients").set(engine.clients.len() as f64);
    metrics::gauge!("tessera_store_size_bytes").set(engine.store.size_on_disk() as f64);
    if let Some(rss) = resident_bytes() {
        metrics::gauge!("tessera_process_resident_memory_bytes").set(rss as f64);
    }
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("tessera_process_open_fds").set(d.count() as f64);
    }
}

/// Resident set size of this process (Linux), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
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
