use actix_web::{get, web, HttpResponse};

use crate::state::AppState;

#[utoipa::path(tag = "ops", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
#[tracing::instrument(skip_all)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::render(&state.metrics, &state.engine))
}
