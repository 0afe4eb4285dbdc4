use actix_web::{get, web, HttpResponse};

use crate::startup::AppState;

#[utoipa::path(tag = "ops", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    crate::telemetry::refresh_gauges(&state.engine);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
