use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

#[utoipa::path(tag = "ops", responses((status = 200, description = "The process is alive")))]
#[get("/healthz")]
#[tracing::instrument(skip_all)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(tag = "ops", responses(
    (status = 200, description = "Store open and writable, keys loaded, actors up"),
    (status = 503, description = "Not ready: free space below the store's reserve (until space is freed), or a failed store write (until restarted)")
))]
#[get("/readyz")]
#[tracing::instrument(skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let e = &state.engine;
    let keys = e.keys.is_ready();
    let actors = e.is_ready();
    let failed = !e.store_health().writable();
    let low_space = !e.store_health().space_ok();
    let writable = !failed && !low_space;
    let ready = actors && writable;
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "keys_loaded": keys, "actors_up": actors, "store_writable": writable, "store_low_space": low_space, "store_write_failed": failed});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
