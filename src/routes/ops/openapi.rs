use actix_web::{get, web, HttpResponse};

use crate::state::AppState;

#[utoipa::path(tag = "ops", responses((status = 200, description = "This OpenAPI 3.1 document", body = serde_json::Value)))]
#[get("/openapi.json")]
#[tracing::instrument(skip_all)]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.as_bytes().to_vec())
}
