//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): claims about the user of
//! a bearer access token with the `openid` scope.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::directory::UserStatus;
use tessera_actors::domain::Scope;
use tessera_actors::grants::id_token::UserClaims;
use tessera_actors::tokens::TokenKind;

use crate::state::AppState;

/// RFC 6750 §3: errors in `WWW-Authenticate`.
fn bearer_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let v =
        format!("Bearer realm=\"tessera\", error=\"{error}\", error_description=\"{description}\"");
    let mut r = HttpResponse::build(status);
    if let Ok(h) = HeaderValue::from_str(&v) {
        r.insert_header((header::WWW_AUTHENTICATE, h));
    }
    r.json(serde_json::json!({"error": error, "error_description": description}))
}

#[derive(Serialize)]
struct UserInfo<'a> {
    sub: String,
    #[serde(flatten)]
    claims: UserClaims<'a>,
}

fn answer(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(token) = token else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "a bearer access token is required",
        );
    };
    let Some(rec) = state
        .engine
        .lookup(token)
        .filter(|r| r.kind == TokenKind::AccessToken)
    else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        );
    };
    let scope = Scope::parse(&rec.grant.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token lacks the openid scope",
        );
    }
    let Some(user) = uuid::Uuid::parse_str(&rec.grant.sub)
        .ok()
        .and_then(|id| state.engine.users.get(&id))
        .filter(|u| u.status == UserStatus::Active)
    else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token does not belong to an active user",
        );
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UserInfo {
            sub: user.id.to_string(),
            claims: UserClaims::for_scope(&user, &scope),
        })
}

#[utoipa::path(tag = "oauth2", responses(
    (status = 200, description = "Claims released by the token's scope", body = serde_json::Value),
    (status = 401, description = "Missing, invalid or revoked token"),
    (status = 403, description = "The token lacks openid"),
), security(("bearer" = [])))]
#[get("/oauth2/userinfo")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn userinfo_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state)
}

#[utoipa::path(tag = "oauth2", responses(
    (status = 200, description = "Claims released by the token's scope", body = serde_json::Value),
    (status = 401, description = "Missing, invalid or revoked token"),
    (status = 403, description = "The token lacks openid"),
), security(("bearer" = [])))]
#[post("/oauth2/userinfo")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn userinfo_post(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state)
}
