//! `POST /oauth2/token/introspect` (RFC 7662): the hot path, answered from
//! the published views only.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::oauth::OAuthError;
use utoipa::ToSchema;

use crate::error::{OAuthErrorBody, OAuthHttpError};
use crate::extract::{authenticate_client, AuthMethod, OAuthForm};
use crate::state::AppState;

const INACTIVE: &[u8] = br#"{"active":false}"#;

/// Introspection request (form).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IntrospectionRequest {
    token: String,
    /// `access_token` or `refresh_token`; a hint only.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7662 answer. Inactive tokens answer exactly `{"active":false}`.
#[derive(Serialize, ToSchema)]
pub struct IntrospectionResponse {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    sub: Option<String>,
    /// `Bearer` for access tokens.
    token_type: Option<String>,
    /// `access_token`, `refresh_token`, ...
    token_use: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
    iss: Option<String>,
    aud: Option<Vec<String>>,
}

#[utoipa::path(
    tag = "oauth2",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token state", body = IntrospectionResponse),
        (status = 400, description = "Missing token or malformed request", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    ),
    security(("client_secret_basic" = []), ("client_secret_post" = []))
)]
#[post("/oauth2/token/introspect")]
// The one handler without `#[tracing::instrument]`, on purpose: this is the
// hot path whose rate is the product's headline, and a span costs an
// allocation and a subscriber call on every request. Its latency and counts
// are in the per-route metrics (`telemetry::track`) and in
// `tessera_introspections_total`.
pub async fn introspect(
    req: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthHttpError> {
    let engine = &state.engine;
    let auth = authenticate_client(&req, &form, engine)?;
    if auth.method == AuthMethod::None {
        return Err(
            OAuthError::invalid_client("introspection requires client authentication").into(),
        );
    }
    let token = form.require("token")?;
    if let Some(why) = state.refuse_introspection() {
        metrics::counter!("tessera_introspections_total", "result" => "refused").increment(1);
        return Err(OAuthError::unavailable(why).into());
    }
    let body = match engine.introspect(&auth.client, token) {
        Some(active) => {
            metrics::counter!("tessera_introspections_total", "result" => "active").increment(1);
            serde_json::to_vec(&active).map_err(|e| OAuthError::server_error(e.to_string()))?
        }
        None => {
            metrics::counter!("tessera_introspections_total", "result" => "inactive").increment(1);
            INACTIVE.to_vec()
        }
    };
    Ok(super::no_store_json(body))
}
