//! `GET /oauth2/jwks`: every key whose tokens may still be live.

use actix_web::{get, web, HttpResponse};

use crate::state::AppState;

#[utoipa::path(
    tag = "oauth2",
    responses((status = 200, description = "JWK Set (RFC 7517): current, next and retired-but-unexpired keys; public parts only", content_type = "application/json", body = serde_json::Value))
)]
#[get("/oauth2/jwks")]
#[tracing::instrument(skip_all)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let jwks = state.engine.keys.jwks();
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=300",
        ))
        .content_type("application/jwk-set+json")
        .body(jwks.rendered.as_bytes().to_vec())
}
