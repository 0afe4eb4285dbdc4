//! Every route, registered in one place so `/openapi.json` is generated
//! from exactly the handlers the server serves.

pub mod admin;
pub mod api_oauth;
pub mod api_users;
pub mod auth;
pub mod console;
pub mod entities;
pub mod oauth2;
pub mod ops;
pub mod pages;
pub mod recovery;
pub mod registration;
pub mod sessions;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(oauth2::authorize::authorize_get)
        .service(oauth2::authorize::authorize_post)
        .service(oauth2::userinfo::userinfo_get)
        .service(oauth2::userinfo::userinfo_post)
        .service(auth::login::login_page)
        .service(auth::login::login)
        .service(auth::login::callback::login_callback)
        .service(auth::logout::logout)
        .service(auth::federation::openid_start)
        .service(auth::federation::oidc_callback)
        .service(auth::logout::logout_confirm)
        .service(pages::register::register_page_get)
        .service(pages::register::register_page_post)
        .service(pages::register::code_page_get)
        .service(pages::register::code_page_post)
        .service(pages::reset::reset_page_get)
        .service(pages::reset::reset_page_post)
        .service(pages::reset::email_verified)
        .service(pages::landing::landing)
        .service(pages::account::account)
        .service(pages::account::totp_begin)
        .service(pages::account::totp_confirm)
        .service(pages::account::totp_required)
        .service(pages::passkeys::script)
        .service(pages::passkeys::passkeys_page)
        .service(pages::passkeys::register_start)
        .service(pages::passkeys::register_finish)
        .service(pages::passkeys::rename)
        .service(pages::passkeys::remove)
        .service(auth::passkey::login_start)
        .service(auth::passkey::login_finish)
        .service(auth::passkey::mfa_start)
        .service(auth::passkey::mfa_finish)
        .service(admin::passkeys::get_passkeys)
        .service(admin::passkeys::delete_passkeys)
        .service(admin::passkeys::delete_passkey)
        .service(oauth2::token::token)
        .service(oauth2::introspect::introspect)
        .service(oauth2::revoke::revoke)
        .service(oauth2::par::par)
        .service(oauth2::device::device_authorization)
        .service(pages::device::device_get)
        .service(pages::device::device_post)
        .service(oauth2::register::register)
        .service(oauth2::register::read)
        .service(oauth2::register::replace)
        .service(oauth2::register::remove)
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
        .service(admin::clients::update_client)
        .service(admin::registration::create_initial_token)
        .service(admin::registration::list_initial_tokens)
        .service(admin::registration::revoke_initial_token)
        .service(admin::keys::list_keys)
        .service(admin::keys::rotate_keys)
        .service(admin::users::create_user)
        .service(admin::users::list_users)
        .service(admin::users::get_user)
        .service(admin::users::delete_user)
        .service(admin::users::update_user)
        .service(admin::users::set_user_password)
        .service(admin::users::set_user_roles)
        .service(admin::users::reset_user_totp)
        .service(admin::users::list_user_sessions)
        .service(admin::users::end_user_sessions)
        .service(admin::users::end_session)
        .service(admin::tokens::lookup_token)
        .service(admin::tokens::revoke_token)
        .service(admin::operations::list_mail)
        .service(admin::operations::retry_mail)
        .service(admin::operations::discard_mail)
        .service(admin::operations::list_logout_deliveries)
        .service(admin::operations::cluster_status)
        .service(admin::audit::list_audit)
        .service(sessions::list::list_sessions)
        .service(sessions::current::get_current)
        .service(sessions::current::delete_current)
        // Before `/sessions/session/{id}`, which would otherwise take them.
        .service(sessions::current::extend_current)
        .service(sessions::current::refresh_current)
        .service(sessions::by_id::get_session)
        .service(sessions::by_id::delete_session)
        .service(sessions::bucket::put_bucket)
        .service(api_users::token::create_token)
        .service(api_users::token::list_tokens)
        .service(api_users::token::delete_token)
        .service(api_oauth::token::token)
        .service(api_oauth::revoke::revoke)
        .service(entities::get_token)
        .service(entities::create_token)
        .service(entities::update_token)
        .service(entities::delete_token)
        .service(entities::refresh_token)
        .service(admin::entities::create_entity)
        .service(admin::entities::list_entities)
        .service(admin::entities::get_entity)
        .service(admin::entities::delete_entity)
        .service(admin::entities::set_member)
        .service(admin::entities::remove_member)
        .service(admin::entities::create_api_key)
        .service(admin::entities::list_api_keys)
        .service(admin::entities::revoke_api_key)
        .service(recovery::start)
        .service(recovery::callback)
        .service(api_users::otp::begin)
        .service(api_users::otp::confirm)
        .service(api_users::otp::disable)
        .service(api_users::password::change_password)
        .service(registration::register)
        .service(registration::callback)
        .service(api_oauth::register::register)
        .service(api_oauth::reset_password::reset_password)
        .service(api_oauth::reset_password::confirm_page)
        .service(api_oauth::reset_password::confirm)
        .service(api_oauth::email::send_email_link)
        .service(api_oauth::email::valid_email);
}

/// The OpenAPI document of every registered route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .configure(configure)
        .split_for_parts();
    api.info.title = "tessera".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description =
        Some("OAuth 2.1 / OpenID Connect authorization server and token engine".into());
    api.info.contact = None;
    api.info.license = Some(utoipa::openapi::License::new("Apache-2.0"));
    api
}
