//! Every route, registered in one place so `/openapi.json` is generated
//! from exactly the handlers the server serves.

pub mod admin;
pub mod oauth2;
pub mod ops;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(oauth2::token::token)
        .service(oauth2::introspect::introspect)
        .service(oauth2::revoke::revoke)
        .service(oauth2::jwks::jwks)
        .service(oauth2::discovery::openid_configuration)
        .service(oauth2::discovery::openid_configuration_root)
        .service(oauth2::discovery::oauth_authorization_server)
        .service(ops::health::healthz)
        .service(ops::health::readyz)
        .service(ops::metrics::metrics)
        .service(ops::openapi::openapi_json)
        .service(admin::clients::create_client)
        .service(admin::clients::list_clients)
        .service(admin::clients::get_client)
        .service(admin::clients::delete_client)
        .service(admin::clients::rotate_client_secret)
        .service(admin::keys::list_keys)
        .service(admin::keys::rotate_keys);
}

/// The OpenAPI document of every registered route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut api) = actix_web::App::new().into_utoipa_app().configure(configure).split_for_parts();
    api.info.title = "tessera".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some("OAuth 2.1 / OpenID Connect authorization server and token engine".into());
    api.info.contact = None;
    api.info.license = Some(utoipa::openapi::License::new("Apache-2.0"));
    api
}
