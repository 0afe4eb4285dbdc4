//! Per-route request counts and latency, recorded by the [`track`]
//! middleware.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

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
