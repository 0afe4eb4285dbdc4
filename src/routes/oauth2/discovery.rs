//! OIDC discovery and RFC 8414 metadata, at the three paths of SPEC §1.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// The metadata document, built from configuration.
pub fn metadata(issuer: &str, alg: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "introspection_endpoint": format!("{issuer}/oauth2/token/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/token/revoke"),
        "end_session_endpoint": format!("{issuer}/auth/logout"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            tessera_actors::domain::TOKEN_EXCHANGE
        ],
        "dpop_signing_alg_values_supported": tessera_actors::dpop::ALGS,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [alg],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "azp",
            "preferred_username", "name", "given_name", "family_name", "updated_at", "email", "email_verified"
        ],
    })
}

fn respond(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=300",
        ))
        .content_type("application/json")
        .body(state.discovery.as_bytes().to_vec())
}

#[utoipa::path(tag = "oauth2", responses((status = 200, description = "OpenID Provider metadata", body = serde_json::Value)))]
#[get("/oauth2/.well-known/openid-configuration")]
#[tracing::instrument(skip_all)]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    respond(&state)
}

#[utoipa::path(tag = "oauth2", responses((status = 200, description = "OpenID Provider metadata", body = serde_json::Value)))]
#[get("/.well-known/openid-configuration")]
#[tracing::instrument(skip_all)]
pub async fn openid_configuration_root(state: web::Data<AppState>) -> HttpResponse {
    respond(&state)
}

#[utoipa::path(tag = "oauth2", responses((status = 200, description = "RFC 8414 authorization server metadata", body = serde_json::Value)))]
#[get("/.well-known/oauth-authorization-server")]
#[tracing::instrument(skip_all)]
pub async fn oauth_authorization_server(state: web::Data<AppState>) -> HttpResponse {
    respond(&state)
}
