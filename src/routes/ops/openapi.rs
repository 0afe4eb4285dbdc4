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

/// The OpenAPI document, with the security schemes the handlers name.
pub fn document() -> String {
    use utoipa::openapi::security::{
        ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
    };
    let mut api = crate::routes::openapi();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "client_secret_basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    components.add_security_scheme(
        "client_secret_post",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some("client_id and client_secret in the form body"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "admin_token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("an access token of the user"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::extract::session::cookie_name(true),
            "the browser session cookie (`tessera_session` in plain-HTTP development)",
        ))),
    );
    serde_json::to_string(&api).unwrap_or_else(|_| "{}".into())
}
