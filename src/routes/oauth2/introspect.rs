//! `POST /oauth2/token/introspect` (RFC 7662): the hot path, answered from
//! the published views only.

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::oauth::OAuthError;
use utoipa::ToSchema;

use tessera_actors::keys::JwtType;

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
        (status = 200, description = "Token state; with `Accept: application/token-introspection+jwt` (or for a client registered with `introspection_signed_response_alg`) a JWT signed with the server's key whose `token_introspection` claim holds it (RFC 9701)", body = IntrospectionResponse),
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
    let auth = authenticate_client(&req, &form, &state, "/oauth2/token/introspect").await?;
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
    if wants_jwt(&req) || auth.client.introspection_signed_response_alg.is_some() {
        return signed(&state, &auth.client.client_id, &body);
    }
    Ok(super::no_store_json(body))
}

/// RFC 9701 §4: the media type of a signed introspection response.
const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// Whether the caller asked for a signed response.
fn wants_jwt(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|m| {
                m.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(JWT_MEDIA_TYPE))
            })
        })
}

#[derive(Serialize)]
struct SignedIntrospection<'a> {
    iss: &'a str,
    /// The resource server that asked.
    aud: &'a str,
    iat: i64,
    token_introspection: serde_json::Value,
}

/// The answer `body` as a JWT signed with the server's current key
/// (`typ: token-introspection+jwt`).
fn signed(state: &AppState, client_id: &str, body: &[u8]) -> Result<HttpResponse, OAuthHttpError> {
    let engine = &state.engine;
    let signer = engine
        .keys
        .signer()
        .ok_or_else(|| OAuthError::unavailable("no signing key is ready"))?;
    let raw: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| OAuthError::server_error(e.to_string()))?;
    let claims = SignedIntrospection {
        iss: &engine.config.issuer,
        aud: client_id,
        iat: engine.clock.now(),
        token_introspection: raw,
    };
    let jwt = signer
        .sign(JwtType::IntrospectionResponse, &claims)
        .map_err(|e| OAuthError::server_error(e.to_string()))?;
    metrics::counter!("tessera_introspections_signed_total").increment(1);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .content_type(JWT_MEDIA_TYPE)
        .body(jwt))
}
