//! `POST /oauth2/par` (RFC 9126): a client pushes its authorization
//! request, authenticated, and gets a `request_uri` to send the browser
//! with instead of the parameters.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::domain::find_redirect;
use tessera_actors::oauth::{ErrorCode, OAuthError};
use tessera_actors::pushed::{PushedError, PushedRequest};
use utoipa::ToSchema;

use super::authorize::request::new_request_uri;
use super::authorize::validate::validate;
use crate::error::{OAuthErrorBody, OAuthHttpError};
use crate::extract::{authenticate_client, OAuthForm};
use crate::state::AppState;

/// Parameters that authenticate the client, not part of the request.
const CLIENT_AUTH: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// The pushed authorization request: the parameters of
/// `/oauth2/authorize` (or one `request` object holding them) and the
/// client's authentication.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ParRequest {
    response_type: String,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// RFC 9101: a request object holding the parameters instead.
    request: Option<String>,
}

/// RFC 9126 §2.2.
#[derive(Serialize, ToSchema)]
pub struct ParResponse {
    /// `urn:ietf:params:oauth:request_uri:…`, for one authorization.
    request_uri: String,
    /// Seconds the browser has to bring it.
    expires_in: i64,
}

#[utoipa::path(
    tag = "oauth2",
    request_body(content = ParRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Pushed; send the browser to /oauth2/authorize?client_id=…&request_uri=…", body = ParResponse),
        (status = 400, description = "invalid_request, invalid_request_object, invalid_scope, unauthorized_client, unsupported_response_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable", body = OAuthErrorBody),
    ),
    security(("client_secret_basic" = []), ("client_secret_post" = []))
)]
#[post("/oauth2/par")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn par(
    req: HttpRequest,
    form: OAuthForm,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthHttpError> {
    let auth = authenticate_client(&req, &form, &state, "/oauth2/par").await?;
    let client = auth.client;
    tracing::Span::current().record("client_id", client.client_id.as_str());
    if form.get("request_uri").is_some() {
        return Err(
            OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 §2.1)").into(),
        );
    }
    let mut pairs: Vec<(String, String)> = match form.get("request") {
        Some(jwt) => super::request_object::parameters(&state, &client, jwt).await?,
        None => form
            .pairs()
            .iter()
            .filter(|(k, _)| !CLIENT_AUTH.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    // The client authenticated (perhaps by Basic, with no client_id in
    // the body): the request is this client's.
    pairs.retain(|(k, _)| k != "client_id");
    pairs.push(("client_id".into(), client.client_id.clone()));
    let request = OAuthForm::from_pairs(pairs);
    // Checked now, so the browser meets no surprise the client could have
    // been told about (RFC 9126 §2.1).
    match request.get("redirect_uri") {
        Some(r) if find_redirect(&client.redirect_uris, r).is_none() => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is not registered for this client",
            )
            .into())
        }
        None if client.redirect_uris.len() != 1 => {
            return Err(OAuthError::invalid_request("redirect_uri is missing").into())
        }
        _ => {}
    }
    if !matches!(
        request.get("response_mode"),
        None | Some("query" | "form_post")
    ) {
        return Err(OAuthError::invalid_request("response_mode must be query or form_post").into());
    }
    if let Err((code, why)) = validate(&client, &request, None) {
        return Err(OAuthError::new(error_code(code), why).into());
    }
    let now = state.engine.clock.now();
    let (request_uri, id) = new_request_uri();
    let held = PushedRequest {
        client_id: client.client_id.clone(),
        pairs: request.pairs().to_vec(),
        expires_at: now.saturating_add(state.par.lifetime),
        binding: None,
        opened_at: 0,
    };
    state.pushed.put(id, held, now).await.map_err(|e| match e {
        PushedError::Busy | PushedError::Unavailable => OAuthError::unavailable(e.to_string()),
        other => OAuthError::server_error(other.to_string()),
    })?;
    metrics::counter!("tessera_pushed_requests_total").increment(1);
    let body = serde_json::to_vec(&ParResponse {
        request_uri,
        expires_in: state.par.lifetime,
    })
    .map_err(|e| OAuthError::server_error(e.to_string()))?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type("application/json")
        .body(body))
}

/// The authorization endpoint's error codes, as the token-style error
/// this endpoint answers with (RFC 9126 §2.3).
fn error_code(code: &str) -> ErrorCode {
    match code {
        "invalid_scope" => ErrorCode::InvalidScope,
        "unauthorized_client" => ErrorCode::UnauthorizedClient,
        "unsupported_response_type" => ErrorCode::UnsupportedResponseType,
        "invalid_target" => ErrorCode::InvalidTarget,
        _ => ErrorCode::InvalidRequest,
    }
}
