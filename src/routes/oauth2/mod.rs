//! The standard OAuth 2.1 / OIDC surface (SPEC §1).

pub mod authorize;
pub mod device;
pub mod discovery;
pub mod introspect;
pub mod jwks;
pub mod par;
pub mod register;
pub mod request_object;
pub mod revoke;
pub mod token;
pub mod userinfo;

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;

/// A JSON answer that holds a token: never cached (RFC 6749 §5.1).
pub fn no_store_json(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .content_type("application/json")
        .body(body)
}
