//! `GET /`: someone who opens the server's address in a browser gets a
//! small page pointing to their account, the sign-in page, the API
//! documentation and discovery, not a bare JSON `404`. A JSON client gets
//! the same pointers as absolute URLs.

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::browser::wants_html;
use crate::state::AppState;
use crate::views;

/// Where to start, as absolute URLs.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Index {
    pub issuer: String,
    /// The signed-in user's account page (HTML).
    pub account: String,
    /// The login page (HTML; `POST` with JSON for the API).
    pub login: String,
    /// The interactive API documentation.
    pub docs: String,
    pub openapi: String,
    /// OpenID Connect discovery (RFC 8414 metadata at the other well-known path).
    pub openid_configuration: String,
}

#[utoipa::path(tag = "pages", responses(
    (status = 200, description = "With `text/html` in `Accept`: a page (text/html) linking the account, sign-in, the API documentation and discovery. Otherwise the same links as JSON", body = Index),
))]
#[get("/")]
#[tracing::instrument(skip_all)]
pub async fn landing(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.engine.config.issuer.as_str();
    if wants_html(&req) {
        return views::page(StatusCode::OK, &views::LandingPage { issuer });
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Index {
            issuer: issuer.to_string(),
            account: format!("{issuer}/account"),
            login: format!("{issuer}/auth/login"),
            docs: format!("{issuer}/docs/"),
            openapi: format!("{issuer}/openapi.json"),
            openid_configuration: format!("{issuer}/.well-known/openid-configuration"),
        })
}
