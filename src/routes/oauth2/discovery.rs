//! OIDC discovery and RFC 8414 metadata, at the three paths of SPEC §1.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use tessera_actors::directory::TokenAuthMethod;
use tessera_actors::jose;

use crate::state::AppState;

/// The metadata document, built from configuration.
/// `mtls`: client certificates reach the server (RFC 8705 §2.3, §3.3,
/// §5: only then are its methods, bound tokens and aliases advertised).
pub fn metadata(issuer: &str, alg: &str, par_required: bool, mtls: bool) -> serde_json::Value {
    // Client assertions: the client's own key's algorithm, or an HMAC of
    // its secret (client_secret_jwt).
    let assertion_algs: Vec<&str> = jose::ASYMMETRIC.iter().chain(jose::HMAC).copied().collect();
    // A client registered for unsigned request objects may send them.
    let request_object_algs: Vec<&str> = jose::ASYMMETRIC.iter().copied().chain(["none"]).collect();
    let mut methods: Vec<&str> = TokenAuthMethod::ALL.to_vec();
    if mtls {
        methods.extend(TokenAuthMethod::MTLS);
    }
    let authenticated: Vec<&str> = methods.iter().copied().filter(|m| *m != "none").collect();
    let mut doc = json!({
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
            tessera_actors::domain::TOKEN_EXCHANGE, tessera_actors::domain::DEVICE_CODE
        ],
        "dpop_signing_alg_values_supported": tessera_actors::dpop::ALGS,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": authenticated,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        // RFC 9701: signed answers, with the server's key.
        "introspection_signing_alg_values_supported": [alg],
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256", "plain"],
        "authorization_response_iss_parameter_supported": true,
        "access_token_signing_alg_values_supported": [alg],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        // Requests by reference are taken only from this server's own
        // pushed authorization request endpoint, never fetched.
        "request_uri_parameter_supported": false,
        "request_object_signing_alg_values_supported": request_object_algs,
        "pushed_authorization_request_endpoint": format!("{issuer}/oauth2/par"),
        "require_pushed_authorization_requests": par_required,
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "amr", "acr", "azp",
            "preferred_username", "name", "given_name", "family_name", "updated_at", "email", "email_verified"
        ],
    });
    // OIDC Core §3.1.2.1 (outside the literal: the macro's recursion limit).
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "acr_values_supported".into(),
            json!(tessera_actors::grants::claims::ACR_VALUES),
        );
    }
    // OIDC Back-Channel Logout 1.0 §2.1: logout tokens always carry `sid`.
    if let Some(o) = doc.as_object_mut() {
        o.insert("backchannel_logout_supported".into(), json!(true));
        o.insert("backchannel_logout_session_supported".into(), json!(true));
    }
    // RFC 8628 §4 (outside the literal above: the macro's recursion limit).
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "device_authorization_endpoint".into(),
            json!(format!("{issuer}/oauth2/device_authorization")),
        );
    }
    if let (true, Some(o)) = (mtls, doc.as_object_mut()) {
        o.insert(
            "tls_client_certificate_bound_access_tokens".into(),
            json!(true),
        );
        // One listener serves both: the aliases are the same URLs.
        o.insert(
            "mtls_endpoint_aliases".into(),
            json!({
                "token_endpoint": format!("{issuer}/oauth2/token"),
                "introspection_endpoint": format!("{issuer}/oauth2/token/introspect"),
                "revocation_endpoint": format!("{issuer}/oauth2/token/revoke"),
                "pushed_authorization_request_endpoint": format!("{issuer}/oauth2/par"),
                "device_authorization_endpoint": format!("{issuer}/oauth2/device_authorization"),
                "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            }),
        );
    }
    doc
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
