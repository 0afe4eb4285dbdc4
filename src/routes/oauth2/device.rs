//! `POST /oauth2/device_authorization` (RFC 8628 §3.1-3.2): a device
//! without a browser (a TV, a command-line tool) asks for authorization
//! and gets a `device_code` to poll the token endpoint with, and a
//! `user_code` for its user to enter at `/device`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::device::{self, DeviceError, DeviceRequest};
use tessera_actors::domain::GrantType;
use tessera_actors::grants::{granted_audience, granted_scope};
use tessera_actors::oauth::{ErrorCode, OAuthError};
use tessera_actors::secret::{self, prefix};
use utoipa::ToSchema;

use crate::error::{OAuthErrorBody, OAuthHttpError};
use crate::extract::{authenticate_client, OAuthForm};
use crate::state::AppState;

/// The device authorization request (form), with the client's
/// authentication as at the token endpoint (public clients: `client_id`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationRequest {
    client_id: Option<String>,
    /// Space-separated scopes, a subset of the client's (default: all).
    scope: Option<String>,
    /// RFC 8707: resources the tokens are for, registered for the client.
    resource: Option<String>,
    /// For `client_secret_post`.
    client_secret: Option<String>,
}

/// RFC 8628 §3.2.
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorizationResponse {
    /// The secret the device polls the token endpoint with
    /// (`grant_type=urn:ietf:params:oauth:grant-type:device_code`).
    device_code: String,
    /// What the user enters at `verification_uri`: `XXXX-XXXX`, letters
    /// of `BCDFGHJKLMNPQRSTVWXZ`, case, dashes and spaces ignored.
    user_code: String,
    /// `{issuer}/device`.
    verification_uri: String,
    /// `{issuer}/device?user_code=…` (for a QR code or a link).
    verification_uri_complete: String,
    /// Seconds both codes live.
    expires_in: i64,
    /// Seconds the device waits between polls.
    interval: i64,
}

/// Draws of a fresh user code when one collides with a live grant's.
const DRAWS: usize = 5;

#[utoipa::path(
    tag = "oauth2",
    request_body(content = DeviceAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes; show the user_code and verification_uri, then poll the token endpoint", body = DeviceAuthorizationResponse),
        (status = 400, description = "invalid_request, invalid_scope, invalid_target, unauthorized_client (the client lacks the device_code grant)", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable", body = OAuthErrorBody),
    ),
    security(("client_secret_basic" = []), ("client_secret_post" = []))
)]
#[post("/oauth2/device_authorization")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn device_authorization(
    req: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthHttpError> {
    let auth = authenticate_client(&req, &form, &state, "/oauth2/device_authorization").await?;
    let client = auth.client;
    tracing::Span::current().record("client_id", client.client_id.as_str());
    if !client.allows(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device_code grant",
        )
        .into());
    }
    let scope = granted_scope(&client, form.get("scope"))?;
    let resources = form.list("resource");
    if !resources.is_empty() {
        granted_audience(&client, &resources)?;
    }
    let settings = &state.device;
    let now = state.engine.clock.now();
    let request = DeviceRequest {
        client_id: client.client_id.clone(),
        scope: scope.to_string(),
        resources,
    };
    let device_code = secret::new_secret(prefix::DEVICE_CODE);
    let id = secret::sha256(device_code.as_bytes());
    let mut user_code = None;
    for _ in 0..DRAWS {
        let code = device::new_user_code();
        let Some(normalized) = device::normalize_user_code(&code) else {
            continue;
        };
        match state
            .devices
            .start(
                id,
                device::user_code_hash(&normalized),
                request.clone(),
                now.saturating_add(settings.expires_in),
                settings.interval,
                now,
            )
            .await
        {
            Ok(()) => {
                user_code = Some(code);
                break;
            }
            Err(DeviceError::Collision) => continue,
            Err(e) => return Err(OAuthError::unavailable(e.to_string()).into()),
        }
    }
    let user_code = user_code
        .ok_or_else(|| OAuthError::unavailable("no free user code could be drawn; try again"))?;
    metrics::counter!("tessera_device_authorizations_total", "outcome" => "started").increment(1);
    let issuer = &state.engine.config.issuer;
    let verification_uri = format!("{issuer}/device");
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("user_code", &user_code);
    let verification_uri_complete = format!("{verification_uri}?{}", q.finish());
    let body = serde_json::to_vec(&DeviceAuthorizationResponse {
        device_code,
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: settings.expires_in,
        interval: settings.interval,
    })
    .map_err(|e| OAuthError::server_error(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .content_type("application/json")
        .body(body))
}
