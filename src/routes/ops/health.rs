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
    (status = 503, description = "Not ready (`reason` says why): store_unavailable (the database cannot be reached; back by itself), store_low_space (free space below the store's reserve, until space is freed), store_write_failed (a failed sled write, until restarted), actors_down, cluster_lagging (a cluster node that is catching up, cannot reach the database, or is behind by more than cluster.max_lag; `cluster.detail` says which)")
))]
#[get("/readyz")]
#[tracing::instrument(skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let e = &state.engine;
    let keys = e.keys.is_ready();
    let actors = e.is_ready();
    let health = e.store_health();
    let unavailable = health.unavailable();
    let failed = !health.writable() && !unavailable;
    let low_space = !health.space_ok();
    let writable = !failed && !low_space && !unavailable;
    let cluster = state.cluster.as_ref().and_then(|c| c.not_serving());
    let ready = actors && writable && cluster.is_none();
    let reason = if unavailable {
        Some("store_unavailable")
    } else if failed {
        Some("store_write_failed")
    } else if low_space {
        Some("store_low_space")
    } else if !actors {
        Some("actors_down")
    } else if cluster.is_some() {
        Some("cluster_lagging")
    } else {
        None
    };
    let mut body = json!({"status": if ready { "ready" } else { "not_ready" }, "reason": reason, "keys_loaded": keys, "actors_up": actors, "store_writable": writable, "store_low_space": low_space, "store_write_failed": failed, "store_unavailable": unavailable});
    if let (Some(c), Some(map)) = (state.cluster.as_ref(), body.as_object_mut()) {
        map.insert(
            "cluster".into(),
            json!({
                "node_id": c.node_id(),
                "applied_seq": c.applied(),
                "lag_ms": c.staleness().map(|d| d.as_millis() as u64),
                "listening": c.listening(),
                "serving": cluster.is_none(),
                "detail": cluster,
            }),
        );
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
