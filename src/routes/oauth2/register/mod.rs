//! Dynamic client registration (RFC 7591) and its management (RFC 7592).
//!
//! - `POST /oauth2/register` registers a client from its metadata, as
//!   `[registration]` allows: `closed` answers `403`; `initial_token` wants
//!   `Authorization: Bearer <initial access token>`; `open` takes anyone,
//!   so many per IP address per hour.
//! - `GET`, `PUT` and `DELETE /oauth2/register/{client_id}` read, replace
//!   and delete the registration with `Authorization: Bearer <registration
//!   access token>`. A `PUT` issues a new registration access token; the
//!   old one stops working. A wrong token, another client's token and an
//!   unknown client all answer the same `401 invalid_token`.
//!
//! Self-registered clients are never first-party: they get the consent
//! page on every authorization, and only the grants, scopes and
//! authentication methods the policy allows.

pub mod metadata;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use subtle::ConstantTimeEq;
use tessera_actors::directory::{
    DeleteClient, DirectoryError, RegisterClient, RegisterError, UpdateClient,
};
use tessera_actors::ratelimit::{Policy as LimitPolicy, RateLimiter};
use tessera_actors::secret;

use crate::configuration::{RegistrationMode, RegistrationSettings};
use crate::extract::session::client_ip;
use crate::state::AppState;

/// The discovery document, with `registration_endpoint` when clients may
/// register themselves.
pub fn advertise(enabled: bool, issuer: &str, mut doc: serde_json::Value) -> serde_json::Value {
    if let (true, Some(o)) = (enabled, doc.as_object_mut()) {
        o.insert(
            "registration_endpoint".into(),
            serde_json::Value::String(format!("{issuer}/oauth2/register")),
        );
    }
    doc
}

/// The registration policy and its rate limit, built once at start.
pub struct Registration {
    pub settings: RegistrationSettings,
    pub scope: tessera_actors::domain::Scope,
    /// Registrations per IP address in `open` mode.
    pub per_ip: RateLimiter,
    pub allow_loopback_http: bool,
}

impl Registration {
    pub fn new(
        settings: &RegistrationSettings,
        allow_loopback_http: bool,
        clock: tessera_actors::clock::SharedClock,
    ) -> anyhow::Result<Registration> {
        Ok(Registration {
            scope: settings.scopes()?,
            per_ip: RateLimiter::new(
                // Every request counts, refused ones too (probing metadata is
                // not free); the one past the allowance locks the address
                // out for an hour.
                LimitPolicy {
                    allowance: settings.open_per_hour.saturating_sub(1),
                    window: 3600,
                    base_lock: 3600,
                    max_lock: 3600,
                },
                clock,
            ),
            settings: settings.clone(),
            allow_loopback_http,
        })
    }
}

/// An RFC 7591 §3.2.2 / RFC 7592 error.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {description}")]
pub struct RegistrationError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<i64>,
}

impl RegistrationError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        RegistrationError {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    pub fn metadata(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            description,
        )
    }
    pub fn redirect(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", description)
    }
    pub fn software_statement() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_software_statement",
            "software statements are not accepted; send the metadata itself",
        )
    }
    fn token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
    }
    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the registration could not be stored; try again",
        )
    }
}

impl From<DirectoryError> for RegistrationError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid { field, message } if field.contains("redirect") => {
                if field == "redirect_uris" {
                    Self::redirect(format!("{field}: {message}"))
                } else {
                    Self::metadata(format!("{field}: {message}"))
                }
            }
            DirectoryError::Invalid { field, message } => {
                // The record's names for what the client called otherwise.
                let field = match field {
                    "name" => "client_name",
                    f => f,
                };
                Self::metadata(format!("{field}: {message}"))
            }
            DirectoryError::NotFound => Self::token("the registration access token is not valid"),
            DirectoryError::Store(e) => {
                tracing::warn!(error = %e, "a client registration could not be stored");
                Self::unavailable()
            }
            other => {
                tracing::warn!(error = %other, "a client registration failed");
                Self::unavailable()
            }
        }
    }
}

impl From<actix::MailboxError> for RegistrationError {
    fn from(_: actix::MailboxError) -> Self {
        Self::unavailable()
    }
}

impl ResponseError for RegistrationError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let mut r = HttpResponse::build(self.status);
        r.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\", error=\"invalid_token\""),
            ));
        }
        if let Some(secs) = self.retry_after {
            r.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        r.json(Body {
            error: self.code,
            error_description: &self.description,
        })
    }
}

/// The `Authorization: Bearer` token of the request, if any.
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// The JSON object of the request body.
fn json_body(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Value, RegistrationError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(RegistrationError::metadata(
            "send the client metadata as application/json",
        ));
    }
    if body.len() > crate::extract::form::MAX_BODY {
        return Err(RegistrationError::metadata(
            "the client metadata exceeds 64 KiB",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| RegistrationError::metadata(format!("the body is not JSON: {e}")))
}

fn policy<'a>(state: &'a AppState) -> metadata::Policy<'a> {
    let r = &state.registration;
    metadata::Policy {
        grant_types: &r.settings.grant_types,
        scope: &r.scope,
        auth_methods: &r.settings.auth_methods,
        signing_alg: state.engine.config.keys.alg.as_str(),
        allow_loopback_http: r.allow_loopback_http,
    }
}

fn client_uri(state: &AppState, id: &str) -> String {
    format!(
        "{}/oauth2/register/{}",
        state.engine.config.issuer.trim_end_matches('/'),
        id
    )
}

fn answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(body)
}

fn count(outcome: &'static str) {
    metrics::counter!("tessera_client_registrations_total", "outcome" => outcome).increment(1);
}

/// Register a client (RFC 7591).
#[utoipa::path(
    tag = "oauth2",
    request_body(content = serde_json::Value, content_type = "application/json", description = "RFC 7591 client metadata"),
    responses(
        (status = 201, description = "Registered: client_id, client_secret where one is used, registration_access_token and registration_client_uri", body = serde_json::Value),
        (status = 400, description = "invalid_redirect_uri, invalid_client_metadata or invalid_software_statement"),
        (status = 401, description = "initial_token mode: no, an unknown, a used-up or an expired initial access token"),
        (status = 403, description = "registration is closed"),
        (status = 429, description = "open mode: too many registrations from this address"),
    )
)]
#[post("/oauth2/register")]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, RegistrationError> {
    let r = &state.registration;
    let initial = match r.settings.mode {
        RegistrationMode::Closed => {
            count("closed");
            return Err(RegistrationError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "client registration is closed; ask an administrator",
            ));
        }
        RegistrationMode::InitialToken => {
            let Some(t) = bearer(&req) else {
                count("no_token");
                return Err(RegistrationError::token(
                    "an initial access token is required (Authorization: Bearer)",
                ));
            };
            Some(secret::sha256(t.as_bytes()))
        }
        RegistrationMode::Open => {
            let key = format!("ip:{}", client_ip(&req));
            if let Err(secs) = r.per_ip.check(&key) {
                count("rate_limited");
                let mut e = RegistrationError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many registrations from this address; try again later",
                );
                e.retry_after = Some(secs.max(1));
                return Err(e);
            }
            r.per_ip.fail(&key);
            None
        }
    };
    let spec = json_body(&req, &body).and_then(|v| metadata::to_spec(&v, &policy(&state)));
    let spec = match spec {
        Ok(s) => s,
        Err(e) => {
            count("invalid");
            return Err(e);
        }
    };
    let registered = state
        .engine
        .directory
        .send(RegisterClient { spec, initial })
        .await?
        .map_err(|e| match e {
            RegisterError::Token(t) => {
                count("bad_token");
                RegistrationError::token(t.to_string())
            }
            RegisterError::Directory(d) => {
                count("invalid");
                d.into()
            }
        })?;
    count("registered");
    let c = &registered.client;
    tracing::info!(client_id = %c.client_id, "a client registered itself");
    Ok(answer(
        StatusCode::CREATED,
        metadata::information(
            c,
            registered.secret.as_deref(),
            &registered.registration_token,
            &client_uri(&state, &c.client_id),
        ),
    ))
}

/// The client the path names, if the request's registration access token
/// is that client's. Every failure is the same `401`.
fn authorized(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
) -> Result<(std::sync::Arc<tessera_actors::directory::Client>, String), RegistrationError> {
    let invalid = || RegistrationError::token("the registration access token is not valid");
    let token = bearer(req).ok_or_else(invalid)?;
    let client = state.engine.clients.get(id).ok_or_else(invalid)?;
    let stored = client.registration.as_ref().ok_or_else(invalid)?;
    let presented = secret::sha256(token.as_bytes());
    if !bool::from(presented.ct_eq(&stored.token_hash)) {
        return Err(invalid());
    }
    Ok((client, token))
}

/// Read a registration (RFC 7592 §2.1).
#[utoipa::path(
    tag = "oauth2",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, description = "The client's registered metadata", body = serde_json::Value),
        (status = 401, description = "No or a wrong registration access token, or no such client"),
    )
)]
#[get("/oauth2/register/{client_id}")]
#[tracing::instrument(skip_all)]
pub async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    let (client, token) = authorized(&req, &state, &path)?;
    Ok(answer(
        StatusCode::OK,
        metadata::information(
            &client,
            None,
            &token,
            &client_uri(&state, &client.client_id),
        ),
    ))
}

/// Replace a registration (RFC 7592 §2.2): every field takes the body's
/// value; a new registration access token is issued.
#[utoipa::path(
    tag = "oauth2",
    params(("client_id" = String, Path)),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The whole RFC 7591 client metadata, with client_id"),
    responses(
        (status = 200, description = "The new metadata and registration access token", body = serde_json::Value),
        (status = 400, description = "invalid_redirect_uri or invalid_client_metadata"),
        (status = 401, description = "No or a wrong registration access token, or no such client"),
    )
)]
#[put("/oauth2/register/{client_id}")]
#[tracing::instrument(skip_all)]
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, RegistrationError> {
    let (client, token) = authorized(&req, &state, &path)?;
    let value = json_body(&req, &body)?;
    // RFC 7592 §2.2: the body names the client, and a secret it carries
    // must be the current one.
    match value.get("client_id").and_then(|v| v.as_str()) {
        Some(id) if id == client.client_id => {}
        Some(_) => {
            return Err(RegistrationError::metadata(
                "client_id: must be this client's id",
            ))
        }
        None => {
            return Err(RegistrationError::metadata(
                "client_id: required, this client's id",
            ))
        }
    }
    if let Some(s) = value.get("client_secret").filter(|v| !v.is_null()) {
        let ok = match (s.as_str(), &client.secret_hash) {
            (Some(s), Some(h)) => secret::verify_secret(s, h),
            _ => false,
        };
        if !ok {
            return Err(RegistrationError::metadata(
                "client_secret: not this client's current secret",
            ));
        }
    }
    let spec = metadata::to_spec(&value, &policy(&state))?;
    let updated = state
        .engine
        .directory
        .send(UpdateClient {
            client_id: client.client_id.clone(),
            spec,
            with_token: Some(secret::sha256(token.as_bytes())),
        })
        .await??;
    count("updated");
    let c = &updated.client;
    Ok(answer(
        StatusCode::OK,
        metadata::information(
            c,
            updated.secret.as_deref(),
            &updated.registration_token,
            &client_uri(&state, &c.client_id),
        ),
    ))
}

/// Delete a registration (RFC 7592 §2.3): the client can no longer
/// authenticate or obtain tokens.
#[utoipa::path(
    tag = "oauth2",
    params(("client_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or a wrong registration access token, or no such client"),
    )
)]
#[delete("/oauth2/register/{client_id}")]
#[tracing::instrument(skip_all)]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, RegistrationError> {
    let (client, _) = authorized(&req, &state, &path)?;
    state
        .engine
        .directory
        .send(DeleteClient(client.client_id.clone()))
        .await??;
    count("deleted");
    tracing::info!(client_id = %client.client_id, "a self-registered client deleted itself");
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish())
}
