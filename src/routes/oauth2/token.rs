//! `POST /oauth2/token`: authenticate the client, dispatch on `grant_type`.

use actix_web::{post, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use tessera_actors::domain::GrantType;
use tessera_actors::grants::{self, token_exchange};
use tessera_actors::oauth::{ErrorCode, OAuthError};
use utoipa::ToSchema;

use crate::error::{OAuthErrorBody, OAuthHttpError};
use crate::extract::{authenticate_client, dpop, AuthMethod, OAuthForm};
use crate::state::AppState;

/// Token request (form). camelCase aliases (`grantType`, `clientId`, ...) are accepted.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` or
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    grant_type: String,
    /// authorization_code: the code, the request's redirect_uri, the PKCE verifier.
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    /// refresh_token grant.
    refresh_token: Option<String>,
    /// Device authorization grant (RFC 8628): the device code.
    device_code: Option<String>,
    /// Space-separated scopes, a subset of the client's.
    scope: Option<String>,
    /// Space-separated audiences registered for the client (RFC 8707 `resource` also accepted).
    audience: Option<String>,
    resource: Option<String>,
    /// Token exchange (RFC 8693): the token traded, and its type
    /// (`urn:ietf:params:oauth:token-type:access_token`, `refresh_token`,
    /// `id_token` or `jwt`).
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    /// Token exchange: the acting party's token (delegation) and its type.
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    /// Token exchange: `...:access_token` (default), `...:jwt` or
    /// `...:refresh_token`.
    requested_token_type: Option<String>,
    /// For `client_secret_post`.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.1 token response.
#[derive(Serialize, ToSchema)]
pub struct TokenResponseDoc {
    access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the request's DPoP key.
    token_type: String,
    expires_in: i64,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: String,
    /// Token exchange only: the type of what was issued.
    issued_token_type: Option<String>,
}

#[utoipa::path(
    tag = "oauth2",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    params(("DPoP" = Option<String>, Header, description = "RFC 9449 proof: the issued tokens are bound to its key")),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponseDoc),
        (status = 400, description = "invalid_request, invalid_grant, invalid_scope, invalid_target, unsupported_grant_type, unauthorized_client, invalid_dpop_proof, use_dpop_nonce (with a DPoP-Nonce header); device_code grant: authorization_pending, slow_down, access_denied, expired_token", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 413, description = "Body over 64 KiB"),
        (status = 503, description = "temporarily_unavailable", body = OAuthErrorBody),
    ),
    security(("client_secret_basic" = []), ("client_secret_post" = []))
)]
#[post("/oauth2/token")]
#[tracing::instrument(skip_all, fields(grant_type, client_id))]
pub async fn token(req: HttpRequest, form: OAuthForm, state: web::Data<AppState>) -> HttpResponse {
    let mut nonces = dpop::nonce_required(&state, None);
    let answer = grant(&req, &form, &state, &mut nonces).await;
    let r = match answer {
        Ok(r) => r,
        Err(e) => OAuthHttpError(e).error_response(),
    };
    dpop::with_nonce(r, &state, nonces)
}

/// Authenticate the client, check its DPoP proof, run the grant.
/// `nonces` learns whether the client must use DPoP nonces.
async fn grant(
    req: &HttpRequest,
    form: &OAuthForm,
    state: &AppState,
    nonces: &mut bool,
) -> Result<HttpResponse, OAuthError> {
    let engine = &state.engine;
    let grant_type = form.require("grant_type")?;
    tracing::Span::current().record("grant_type", grant_type);
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "this grant_type is not supported",
        )
    })?;
    let auth = authenticate_client(req, form, state, "/oauth2/token").await?;
    tracing::Span::current().record("client_id", auth.client.client_id.as_str());
    let client = &auth.client;
    // Only public clients authenticate with `none` (authenticate_client
    // sees to it); client_credentials is not a grant a public client may
    // use (RFC 6749 §4.4).
    if auth.method == AuthMethod::None && grant == GrantType::ClientCredentials {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client may not use the client_credentials grant",
        ));
    }
    *nonces = dpop::nonce_required(state, Some(client));
    let jkt = dpop::token_binding(req, state, client).await?;
    // RFC 8705 §3: the client's certificate, when its tokens are bound to it.
    let x5t = if client.tls_client_certificate_bound_access_tokens {
        let cert = state.mtls.presented(req).ok_or_else(|| {
            OAuthError::invalid_request(
                "this client's access tokens are bound to its certificate: present one (mutual TLS)",
            )
        })?;
        Some(cert.thumbprint())
    } else {
        None
    };
    let response = match grant {
        GrantType::ClientCredentials => {
            let mut audience = form.list("audience");
            audience.extend(form.list("resource"));
            grants::client_credentials::issue(
                engine,
                client,
                form.get("scope"),
                &audience,
                jkt,
                x5t,
            )
            .await?
        }
        GrantType::AuthorizationCode => {
            let code = form.require("code")?;
            let redirect = form.get("redirect_uri");
            let verifier = form.get("code_verifier");
            let resource = form.list("resource");
            grants::authorization_code::exchange(
                engine, client, code, redirect, verifier, jkt, x5t, &resource,
            )
            .await?
        }
        GrantType::RefreshToken => {
            let refresh = form.require("refresh_token")?;
            let resource = form.list("resource");
            grants::refresh_token::refresh(
                engine,
                client,
                refresh,
                form.get("scope"),
                jkt,
                x5t,
                &resource,
            )
            .await?
        }
        GrantType::DeviceCode => {
            let device_code = form.require("device_code")?;
            let resource = form.list("resource");
            let polled = grants::device_code::poll(
                engine,
                &state.devices,
                client,
                device_code,
                jkt,
                x5t,
                &resource,
            )
            .await;
            metrics::counter!("tessera_device_authorizations_total",
                "outcome" => grants::device_code::outcome(&polled))
            .increment(1);
            polled?
        }
        GrantType::TokenExchange => {
            let mut audience = form.list("audience");
            audience.extend(form.list("resource"));
            let request = token_exchange::ExchangeRequest {
                subject_token: form.require("subject_token")?,
                subject_token_type: form.require("subject_token_type")?,
                actor_token: form.get("actor_token"),
                actor_token_type: form.get("actor_token_type"),
                audience,
                scope: form.get("scope"),
                requested_token_type: form.get("requested_token_type"),
                jkt,
            };
            token_exchange::exchange(engine, client, request).await?
        }
    };
    let body =
        serde_json::to_vec(&response).map_err(|e| OAuthError::server_error(e.to_string()))?;
    Ok(super::no_store_json(body))
}
