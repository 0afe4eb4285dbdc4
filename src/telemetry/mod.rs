//! Logging, the Prometheus recorder, and the per-route request metrics.
//!
//! - `families.rs` — every metric family: described, and registered at
//!   zero at start.
//! - `http.rs` — the per-route request metrics ([`track`]).
//! - `process.rs` — the `tessera_process_*` section of a scrape.

mod families;
mod http;
mod process;

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_actors::Engine;

use crate::configuration::LogSettings;

pub use families::{register_cluster_series, register_tls_series, register_token_series};
pub use http::track;

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
            families::describe();
            families::register_series();
            handle
        })
        .clone()
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
