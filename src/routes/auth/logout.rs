//! `GET|POST /auth/logout`: OpenID Connect RP-Initiated Logout 1.0.
//!
//! API callers (no `text/html` in `Accept`) get what SPEC §1 says: the
//! session ends and the answer is a redirect or `200 {"message"}`. A
//! browser with a session is asked first (RP-Initiated Logout §2: the OP
//! should ask, and must when the request does not prove it comes from the
//! signed-in user's client): the page posts its answer, with a
//! session-bound CSRF token, to `POST /auth/logout`. A valid
//! `id_token_hint` issued in the browser's current session is that proof,
//! and the session ends at once.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tessera_actors::directory::Client;
use tessera_actors::sessions::Close;

use crate::browser::{body_error, wants_html};
use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::csrf::{session_csrf, session_csrf_ok};
use crate::extract::session::{cookie_secret, current_session, pending_session, removal_cookie};
use crate::state::AppState;
use crate::views;

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

/// The confirmation page's answer.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LogoutForm {
    /// `yes` ends the session; anything else keeps it.
    confirm: Option<String>,
    /// The page's session-bound CSRF token.
    csrf: Option<String>,
    /// Carried from the request (checked again).
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// Which client is asking, and where to send the browser afterwards.
struct Target {
    client: Option<Arc<Client>>,
    redirect: Option<String>,
    /// The `sid` of a valid `id_token_hint`: the browser session the hint
    /// was issued in.
    hint_sid: Option<String>,
}

fn resolve(
    state: &AppState,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
) -> Result<Target, ApiError> {
    let engine = &state.engine;
    // Which client is asking: the hint's audience, which must agree with client_id.
    let mut client_id = client_id.map(str::to_string);
    let mut hint_sid = None;
    if let Some(hint) = id_token_hint {
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
        hint_sid = claims.sid;
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
    let redirect = match (post_logout_redirect_uri, &client) {
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
            Some(uri.to_string())
        }
        (Some(_), _) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "post_logout_redirect_uri is not registered for this client (name the client with id_token_hint or client_id)",
            ))
        }
        (None, _) => None,
    };
    Ok(Target {
        client,
        redirect,
        hint_sid,
    })
}

/// End this browser's session (if any) and answer: the redirect with
/// `state`, else a message (JSON or, for a browser, a page).
async fn end_session(
    req: &HttpRequest,
    state: &AppState,
    redirect: Option<String>,
    rp_state: Option<&str>,
    html: bool,
    after_post: bool,
) -> Result<HttpResponse, ApiError> {
    let engine = &state.engine;
    if let Some(s) = cookie_secret(req, state).and_then(|c| engine.sessions.by_cookie(&c)) {
        let _ = engine.session_registry.send(Close(s.id)).await?;
    }
    let removal = removal_cookie(state);
    match redirect {
        Some(uri) => {
            let mut location = uri;
            if let Some(s) = rp_state {
                let sep = if location.contains('?') { '&' } else { '?' };
                let enc: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                location = format!("{location}{sep}{enc}");
            }
            let mut r = if after_post {
                HttpResponse::SeeOther()
            } else {
                HttpResponse::Found()
            };
            Ok(r.cookie(removal)
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish())
        }
        None if html => {
            let mut r = signed_out_page();
            let _ = r.add_cookie(&removal);
            Ok(r)
        }
        None => Ok(HttpResponse::Ok()
            .cookie(removal)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({"message": "logged out"}))),
    }
}

fn signed_out_page() -> HttpResponse {
    views::message(&views::MessagePage {
        title: "Signed out",
        message: "You are signed out.",
        link: Some(("/auth/login", "Sign in again")),
    })
}

#[utoipa::path(tag = "auth", params(LogoutQuery), responses(
    (status = 302, description = "To the registered post_logout_redirect_uri, with state"),
    (status = 200, description = "Logged out: `{\"message\"}`; a browser (`Accept: text/html`) with a session gets the confirmation page instead, and nothing ends yet"),
    (status = 400, description = "Forged or foreign id_token_hint, unknown client, or unregistered post_logout_redirect_uri", body = ErrorBody),
))]
#[get("/auth/logout")]
#[tracing::instrument(skip_all, fields(client_id = ?q.client_id))]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<LogoutQuery>,
) -> Result<HttpResponse, ApiError> {
    let html = wants_html(&req);
    let target = match resolve(
        &state,
        q.id_token_hint.as_deref(),
        q.client_id.as_deref(),
        q.post_logout_redirect_uri.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) if html => return Ok(views::api_error(&e)),
        Err(e) => return Err(e),
    };
    let session = current_session(&req, &state)
        .map(|(s, u)| (s, u.username.clone()))
        .or_else(|| pending_session(&req, &state).map(|(s, u)| (s, u.username.clone())));
    // A valid id_token_hint from this very browser session proves the
    // request comes from the signed-in user's client: no question then.
    let ask =
        session.filter(|(s, _)| target.hint_sid.as_deref() != Some(s.id.to_string().as_str()));
    if let (true, Some((session, username))) = (html, ask) {
        let mut hidden: Vec<(&str, &str)> = Vec::new();
        if let Some(uri) = target.redirect.as_deref() {
            hidden.push(("post_logout_redirect_uri", uri));
        }
        if let Some(c) = target.client.as_ref() {
            hidden.push(("client_id", c.client_id.as_str()));
        }
        if let Some(s) = q.state.as_deref() {
            hidden.push(("state", s));
        }
        let csrf = session_csrf(&session);
        let mut page = views::page(
            actix_web::http::StatusCode::OK,
            &views::LogoutPage {
                user: &username,
                client_name: target.client.as_ref().map(|c| c.name.as_str()),
                hidden: &hidden,
                csrf: &csrf,
            },
        );
        // Both answers may end in a redirect to the client.
        let sources: Vec<String> = target
            .redirect
            .as_deref()
            .and_then(views::csp_source)
            .into_iter()
            .collect();
        views::allow_form_targets(&mut page, &sources);
        return Ok(page);
    }
    end_session(
        &req,
        &state,
        target.redirect,
        q.state.as_deref(),
        html,
        false,
    )
    .await
}

#[utoipa::path(tag = "auth", request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "Signed out: to the registered post_logout_redirect_uri, with state"),
    (status = 200, description = "Signed out (or still signed in): a page", content_type = "text/html"),
    (status = 400, description = "A malformed body, unknown client or unregistered post_logout_redirect_uri (a body that cannot be read: JSON, or a page for a browser)", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
))]
#[post("/auth/logout")]
#[tracing::instrument(skip_all)]
pub async fn logout_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let f: LogoutForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    let target = match resolve(
        &state,
        None,
        f.client_id.as_deref(),
        f.post_logout_redirect_uri.as_deref(),
    ) {
        Ok(t) => t,
        Err(e) => return body_error(&req, &e),
    };
    let session = current_session(&req, &state)
        .map(|(s, _)| s)
        .or_else(|| pending_session(&req, &state).map(|(s, _)| s));
    if let Some(s) = &session {
        if !session_csrf_ok(s, f.csrf.as_deref()) {
            return views::csrf_refused();
        }
    }
    if session.is_some() && f.confirm.as_deref() != Some("yes") {
        return views::message(&views::MessagePage {
            title: "Still signed in",
            message: "You are still signed in.",
            link: Some(("/account", "Go to your account")),
        });
    }
    match end_session(
        &req,
        &state,
        target.redirect,
        f.state.as_deref(),
        true,
        true,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => views::api_error(&e),
    }
}
