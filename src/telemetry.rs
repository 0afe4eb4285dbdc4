//! Logging, the Prometheus recorder, and the per-route request metrics.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
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

/// Count and time every request by its route pattern (not its raw path,
/// which would explode label cardinality).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    metrics::counter!("tessera_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("tessera_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
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
