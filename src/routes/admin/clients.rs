use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use tessera_actors::directory::{
    Client, ClientSpec, CreateClient, DeleteClient, ExchangePolicy, RotateClientSecret,
};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

/// A client as the admin API shows it (never the secret hash).
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    client_id: String,
    name: String,
    public: bool,
    grant_types: Vec<String>,
    scope: String,
    audiences: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    introspect_any: bool,
    introspect_audiences: Vec<String>,
    access_token_format: Option<String>,
    access_token_ttl: Option<i64>,
    first_party: bool,
    allow_plain_pkce: bool,
    /// RFC 9449 §5.2: token requests without a DPoP proof are refused.
    dpop_bound_access_tokens: bool,
    /// DPoP proofs must carry a server nonce.
    dpop_require_nonce: bool,
    /// RFC 8693 policy, when the client may exchange tokens.
    #[schema(value_type = Option<ExchangePolicyDoc>)]
    token_exchange: Option<ExchangePolicy>,
    /// RFC 3339.
    created_at: String,
    /// Only in the answer to create and rotate-secret; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ClientView {
    pub fn new(c: &Client, secret: Option<String>) -> ClientView {
        ClientView {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            public: c.is_public(),
            grant_types: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            scope: c.scope.to_string(),
            audiences: c.audiences.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            introspect_any: c.introspect_any,
            introspect_audiences: c.introspect_audiences.clone(),
            access_token_format: c
                .access_token_format
                .map(|f| format!("{f:?}").to_lowercase()),
            access_token_ttl: c.access_token_ttl,
            first_party: c.first_party,
            allow_plain_pkce: c.allow_plain_pkce,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            dpop_require_nonce: c.dpop_require_nonce,
            token_exchange: c.token_exchange.clone(),
            created_at: tessera_actors::clock::rfc3339(c.created_at),
            client_secret: secret,
        }
    }
}

/// Client registration (all fields optional; defaults: confidential,
/// `client_credentials`, generated id).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClientSpecDoc {
    client_id: Option<String>,
    name: Option<String>,
    public: Option<bool>,
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    grant_types: Option<Vec<String>>,
    scope: Option<String>,
    audiences: Option<Vec<String>>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    introspect_any: Option<bool>,
    introspect_audiences: Option<Vec<String>>,
    /// `jwt` or `opaque`.
    access_token_format: Option<String>,
    access_token_ttl: Option<i64>,
    first_party: Option<bool>,
    allow_plain_pkce: Option<bool>,
    /// RFC 9449 §5.2: refuse token requests without a DPoP proof.
    dpop_bound_access_tokens: Option<bool>,
    /// Demand a server nonce in this client's DPoP proofs.
    dpop_require_nonce: Option<bool>,
    /// RFC 8693: what the client may do with token exchange.
    token_exchange: Option<ExchangePolicyDoc>,
}

/// A client's token exchange policy.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExchangePolicyDoc {
    /// Audiences the client may exchange to, besides the subject token's.
    audiences: Option<Vec<String>>,
    /// Exchange without an actor token (the client impersonates the subject).
    impersonation: Option<bool>,
    /// Obtain refresh tokens by exchange.
    refresh_tokens: Option<bool>,
}

#[utoipa::path(
    tag = "admin",
    request_body = ClientSpecDoc,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = ClientView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "No or wrong admin token", body = ErrorBody),
        (status = 409, description = "client_id taken", body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[post("/admin/clients")]
#[tracing::instrument(skip_all, fields(client_id = ?spec.client_id))]
pub async fn create_client(
    _: AdminAuth,
    state: web::Data<AppState>,
    spec: web::Json<ClientSpec>,
) -> Result<HttpResponse, ApiError> {
    let (client, secret) = state
        .engine
        .directory
        .send(CreateClient(spec.into_inner()))
        .await??;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ClientView::new(&client, secret)))
}

#[utoipa::path(tag = "admin", responses((status = 200, description = "Every client", body = [ClientView]), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/clients")]
#[tracing::instrument(skip_all)]
pub async fn list_clients(_: AdminAuth, state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<ClientView> = state
        .engine
        .clients
        .list()
        .iter()
        .map(|c| ClientView::new(c, None))
        .collect();
    HttpResponse::Ok().json(list)
}

#[utoipa::path(tag = "admin", params(("client_id" = String, Path)), responses((status = 200, body = ClientView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/clients/{client_id}")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn get_client(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = state
        .engine
        .clients
        .get(&path)
        .ok_or_else(|| ApiError::not_found("no such client"))?;
    Ok(HttpResponse::Ok().json(ClientView::new(&c, None)))
}

#[utoipa::path(tag = "admin", params(("client_id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, description = "The built-in account client cannot be deleted", body = ErrorBody)), security(("admin_token" = [])))]
#[delete("/admin/clients/{client_id}")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn delete_client(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // Registration, recovery and personal tokens are issued to it; without
    // it those endpoints could only answer 503 until the next restart.
    if id == state.engine.config.accounts.client_id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the built-in account client cannot be deleted",
        ));
    }
    state.engine.directory.send(DeleteClient(id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "admin", params(("client_id" = String, Path)), responses((status = 200, description = "The new secret, shown once"), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[post("/admin/clients/{client_id}/secret")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn rotate_client_secret(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let secret = state
        .engine
        .directory
        .send(RotateClientSecret(id.clone()))
        .await??;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({"client_id": id, "client_secret": secret})))
}
