use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_actors::directory::{Client, ClientSpec, ExchangePolicy};
use utoipa::{IntoParams, ToSchema};

use super::ops;
use crate::audit::Who;
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
    /// `client_secret_basic`, `client_secret_post`, `client_secret_jwt`,
    /// `private_key_jwt`, `none`, `tls_client_auth` or
    /// `self_signed_tls_client_auth`; absent on clients registered without
    /// one (a secret, Basic or in the body; `none` if public).
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_signing_alg: Option<String>,
    /// The client's public keys, registered by value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    /// RFC 9126: authorization requests must be pushed (PAR) first.
    require_pushed_authorization_requests: bool,
    /// The algorithm of the client's request objects (`none`: unsigned
    /// ones accepted); absent: any asymmetric algorithm of its keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object_signing_alg: Option<String>,
    /// RFC 9701: introspection always answers this client with a JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    introspection_signed_response_alg: Option<String>,
    /// RFC 8705 §2.1.2: the certificate name of a `tls_client_auth`
    /// client (one of these five).
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_auth_subject_dn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_auth_san_dns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_auth_san_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_auth_san_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_auth_san_email: Option<String>,
    /// RFC 8705 §3: access tokens are bound to the client's certificate.
    tls_client_certificate_bound_access_tokens: bool,
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed.
    #[serde(skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
    /// Logout tokens to this client always carry `sid`.
    backchannel_logout_session_required: bool,
    /// RFC 3339.
    created_at: String,
    /// Only in the answer to create and rotate-secret; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ClientView {
    pub fn new(c: &Client, secret: Option<String>) -> ClientView {
        let name = |field: &str| {
            c.tls_client_auth
                .as_ref()
                .map(|n| n.field())
                .filter(|(f, _)| *f == field)
                .map(|(_, v)| v)
        };
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
            token_endpoint_auth_method: c.token_endpoint_auth_method.map(|m| m.as_str()),
            token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg.clone(),
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            request_object_signing_alg: c.request_object_signing_alg.clone(),
            introspection_signed_response_alg: c.introspection_signed_response_alg.clone(),
            tls_client_auth_subject_dn: name("tls_client_auth_subject_dn"),
            tls_client_auth_san_dns: name("tls_client_auth_san_dns"),
            tls_client_auth_san_uri: name("tls_client_auth_san_uri"),
            tls_client_auth_san_ip: name("tls_client_auth_san_ip"),
            tls_client_auth_san_email: name("tls_client_auth_san_email"),
            tls_client_certificate_bound_access_tokens: c
                .tls_client_certificate_bound_access_tokens,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
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
    /// RFC 7591: `client_secret_basic`, `client_secret_post`,
    /// `client_secret_jwt` (the secret is also the HMAC key of its
    /// assertions), `private_key_jwt` (no secret; needs `jwks` or
    /// `jwks_uri`), `none` (a public client), `tls_client_auth` (RFC 8705
    /// §2.1: a certificate from `tls.client_ca_file` with the registered
    /// subject or SAN; no secret) or `self_signed_tls_client_auth` (§2.2:
    /// a certificate registered as the `x5c` of a key in `jwks`/`jwks_uri`).
    token_endpoint_auth_method: Option<String>,
    /// The one algorithm the client's assertions use (RS256, ES256, PS256,
    /// EdDSA, ... for private_key_jwt; HS256/384/512 for client_secret_jwt).
    token_endpoint_auth_signing_alg: Option<String>,
    /// The client's public keys as a JWK Set (RSA ≥ 2048 bits, P-256,
    /// P-384, Ed25519); no private or symmetric keys.
    #[schema(value_type = Option<Object>)]
    jwks: Option<serde_json::Value>,
    /// Where the client publishes its JWK Set (https).
    jwks_uri: Option<String>,
    /// RFC 9126: refuse authorization requests that were not pushed.
    require_pushed_authorization_requests: Option<bool>,
    /// The one algorithm of the client's request objects (RFC 9101), or
    /// `none` to accept unsigned ones from this client.
    request_object_signing_alg: Option<String>,
    /// RFC 9701: answer this client's introspections as signed JWTs
    /// always (`RS256`, `ES256` or `EdDSA`; the server's key signs).
    introspection_signed_response_alg: Option<String>,
    /// RFC 8705 §2.1.2: exactly one of these five for a `tls_client_auth`
    /// client: the subject DN (RFC 4514) or a SAN of its certificate.
    tls_client_auth_subject_dn: Option<String>,
    tls_client_auth_san_dns: Option<String>,
    tls_client_auth_san_uri: Option<String>,
    tls_client_auth_san_ip: Option<String>,
    tls_client_auth_san_email: Option<String>,
    /// RFC 8705 §3: bind the client's access tokens to its certificate
    /// (`cnf.x5t#S256`); its token requests must then present one.
    tls_client_certificate_bound_access_tokens: Option<bool>,
    /// OIDC Back-Channel Logout 1.0: an http(s) URL the server POSTs a
    /// logout token to whenever a session the client was authorized in
    /// ends (logout, session deletion, expiry, the user disabled).
    backchannel_logout_uri: Option<String>,
    /// The logout token must carry `sid` (it always does here); only with
    /// a `backchannel_logout_uri`.
    backchannel_logout_session_required: Option<bool>,
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

/// `?q=`: a search.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Only those whose id or name (clients), username or e-mail (users)
    /// contains this, in any case.
    pub q: Option<String>,
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
    req: HttpRequest,
    state: web::Data<AppState>,
    spec: web::Json<ClientSpec>,
) -> Result<HttpResponse, ApiError> {
    let (client, secret) = ops::clients::create(&state, &Who::api(&req), spec.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ClientView::new(&client, secret)))
}

#[utoipa::path(tag = "admin", params(SearchQuery), responses((status = 200, description = "Every client (or those matching `q`)", body = [ClientView]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[get("/admin/clients")]
#[tracing::instrument(skip_all)]
pub async fn list_clients(
    _: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    let list: Vec<ClientView> = ops::clients::list(&state, query.q.as_deref())
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
    let c = ops::clients::get(&state, &path)?;
    Ok(HttpResponse::Ok().json(ClientView::new(&c, None)))
}

#[utoipa::path(tag = "admin", params(("client_id" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, description = "The built-in account client cannot be deleted", body = ErrorBody)), security(("admin_token" = [])))]
#[delete("/admin/clients/{client_id}")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn delete_client(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::clients::delete(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "admin", params(("client_id" = String, Path)), responses((status = 200, description = "The new secret, shown once"), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)), security(("admin_token" = [])))]
#[post("/admin/clients/{client_id}/secret")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn rotate_client_secret(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let secret = ops::clients::rotate_secret(&state, &Who::api(&req), &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({"client_id": id, "client_secret": secret})))
}

#[utoipa::path(
    tag = "admin",
    params(("client_id" = String, Path)),
    request_body = ClientSpecDoc,
    responses(
        (status = 200, description = "Replaced: every field takes the body's value (the id, creation time and, where the method still uses one, the secret stay); a new secret only when the method now needs one the server cannot keep", body = ClientView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("admin_token" = []))
)]
#[put("/admin/clients/{client_id}")]
#[tracing::instrument(skip_all, fields(client_id = %path.as_str()))]
pub async fn update_client(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    spec: web::Json<ClientSpec>,
) -> Result<HttpResponse, ApiError> {
    let (client, secret) =
        ops::clients::update(&state, &Who::api(&req), &path, spec.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ClientView::new(&client, secret)))
}
