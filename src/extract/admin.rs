//! The admin bearer token guarding `/admin/*`.

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request carried the admin token.
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let ok = (|| {
            let state = req.app_data::<web::Data<AppState>>()?;
            let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            let presented = tessera_actors::secret::sha256(token.trim().as_bytes());
            bool::from(presented.ct_eq(&state.admin_token_hash)).then_some(())
        })();
        ready(match ok {
            Some(()) => Ok(AdminAuth),
            None => Err(ApiError::unauthorized("a valid admin bearer token is required").into()),
        })
    }
}
