//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): claims about the user of
//! a bearer access token with the `openid` scope.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use tessera_actors::directory::UserStatus;
use tessera_actors::domain::Scope;
use tessera_actors::grants::id_token::UserClaims;

use crate::extract::dpop::{access_token, TokenRefused};
use crate::state::AppState;

/// RFC 6750 §3 / RFC 9449 §7.1: errors in `WWW-Authenticate`, in the
/// scheme the token is used with.
fn token_error(
    status: StatusCode,
    dpop: bool,
    error: &'static str,
    description: &'static str,
) -> HttpResponse {
    TokenRefused {
        status,
        dpop,
        error,
        description,
    }
    .response()
}

#[derive(Serialize)]
struct UserInfo<'a> {
    sub: String,
    #[serde(flatten)]
    claims: UserClaims<'a>,
}

async fn answer(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let rec = match access_token(req, state).await {
        None => {
            return token_error(
                StatusCode::UNAUTHORIZED,
                false,
                "invalid_request",
                "a bearer access token is required",
            )
        }
        Some(Err(refused)) => return refused.response(),
        Some(Ok(rec)) => rec,
    };
    let dpop = rec.grant.jkt.is_some();
    let scope = Scope::parse(&rec.grant.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return token_error(
            StatusCode::FORBIDDEN,
            dpop,
            "insufficient_scope",
            "the access token lacks the openid scope",
        );
    }
    let Some(user) = uuid::Uuid::parse_str(&rec.grant.sub)
        .ok()
        .and_then(|id| state.engine.users.get(&id))
        .filter(|u| u.status == UserStatus::Active)
    else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            dpop,
            "invalid_token",
            "the access token does not belong to an active user",
        );
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(UserInfo {
            sub: user.id.to_string(),
            // OIDC Core §5.5: and those the authorization asked for.
            claims: UserClaims::released(&user, &scope, &rec.grant.claims),
        })
}

#[utoipa::path(tag = "oauth2", responses(
    (status = 200, description = "Claims released by the token's scope and those the authorization requested (`claims`)", body = serde_json::Value),
    (status = 401, description = "Missing, invalid or revoked token"),
    (status = 403, description = "The token lacks openid"),
), security(("bearer" = [])))]
#[get("/oauth2/userinfo")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn userinfo_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state).await
}

#[utoipa::path(tag = "oauth2", responses(
    (status = 200, description = "Claims released by the token's scope and those the authorization requested (`claims`)", body = serde_json::Value),
    (status = 401, description = "Missing, invalid or revoked token"),
    (status = 403, description = "The token lacks openid"),
), security(("bearer" = [])))]
#[post("/oauth2/userinfo")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn userinfo_post(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&req, &state).await
}
