//! `GET /auth/logout`: OpenID Connect RP-Initiated Logout 1.0.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tessera_actors::sessions::Close;

use crate::error::{ApiError, ErrorBody};
use crate::extract::session::{cookie_secret, removal_cookie};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// An ID token we issued to the client (expired is fine).
    id_token_hint: Option<String>,
    /// Must be registered for the client; otherwise no redirect happens.
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    /// Accepted (OIDC RP-Initiated Logout §2); there is one session per browser.
    #[allow(dead_code)]
    logout_hint: Option<String>,
    /// Accepted; the logout answer is not localised.
    #[allow(dead_code)]
    ui_locales: Option<String>,
}

#[utoipa::path(tag = "auth", params(LogoutQuery), responses(
    (status = 302, description = "To the registered post_logout_redirect_uri, with state"),
    (status = 200, description = "Logged out: `{\"message\"}`"),
    (status = 400, description = "Forged or foreign id_token_hint, unknown client, or unregistered post_logout_redirect_uri", body = ErrorBody),
))]
#[get("/auth/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LogoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    // Which client is asking: the hint's audience, which must agree with client_id.
    let mut client_id = q.client_id.clone();
    if let Some(hint) = &q.id_token_hint {
        let claims = engine.verify_id_token_hint(hint).map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                "id_token_hint is not an ID token issued here",
            )
        })?;
        match (&client_id, claims.aud.first()) {
            (Some(c), _) if !claims.aud.contains(c) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "id_token_hint was not issued to client_id",
                ));
            }
            (None, Some(a)) => client_id = Some(a.to_string()),
            _ => {}
        }
    }
    let client = match &client_id {
        Some(id) => Some(
            engine
                .clients
                .get(id)
                .ok_or_else(|| ApiError::bad_request("invalid_request", "unknown client_id"))?,
        ),
        None => None,
    };
    let redirect = match (&q.post_logout_redirect_uri, &client) {
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Some(uri.clone()),
        (Some(_), _) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "post_logout_redirect_uri is not registered for this client (name the client with id_token_hint or client_id)",
            ))
        }
        (None, _) => None,
    };
    // End the browser session, if this browser has one.
    if let Some(s) = cookie_secret(&req, &state).and_then(|c| engine.sessions.by_cookie(&c)) {
        let _ = engine.session_registry.send(Close(s.id)).await?;
    }
    let removal = removal_cookie(&state);
    match redirect {
        Some(uri) => {
            let mut location = uri;
            if let Some(s) = &q.state {
                let sep = if location.contains('?') { '&' } else { '?' };
                let enc: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                location = format!("{location}{sep}{enc}");
            }
            Ok(HttpResponse::Found()
                .cookie(removal)
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        None => Ok(HttpResponse::Ok()
            .cookie(removal)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"message": "logged out"}))),
    }
}
