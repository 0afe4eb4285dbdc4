//! `GET|POST /oauth2/authorize`: the authorization code flow (RFC 6749
//! §4.1, OAuth 2.1, OIDC Core §3.1.2). Until the client and redirect URI
//! are known good, errors are shown as a page and never redirected; after
//! that they go back to the client with `error`, `state` and `iss`.
//!
//! - here — the parameters, the two handlers, the page and redirect answers
//!   (`response_mode` `query` or `form_post`).
//! - `request.rs` — where the parameters come from: as sent, a request
//!   object (RFC 9101), or a pushed request (RFC 9126).
//! - `validate.rs` — checking the request's parameters.
//! - `decide.rs` — login, consent or a code, given the browser's session.
//! - `authn.rs` — what the request asks of the login (`acr`, a `sub`),
//!   and the consent individually requested claims need.

mod authn;
mod decide;
pub mod request;
pub(crate) mod validate;

use std::cell::Cell;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use tessera_actors::domain::find_redirect;
use tessera_actors::secret::SecretHash;

use crate::extract::form::MAX_BODY;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::views;

use decide::continue_authorize;
use validate::validate;

/// Parameters the authorization request may carry (query or form).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuthorizeParams {
    /// Must be `code`.
    response_type: String,
    client_id: String,
    /// Exactly a registered URI (loopback IP literals: any port).
    redirect_uri: Option<String>,
    scope: Option<String>,
    /// Returned unchanged.
    state: Option<String>,
    nonce: Option<String>,
    /// Required for public clients.
    code_challenge: Option<String>,
    /// `S256` (default) or `plain` (if the client allows it).
    code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`.
    prompt: Option<String>,
    max_age: Option<i64>,
    login_hint: Option<String>,
    /// `query` (default) or `form_post`.
    response_mode: Option<String>,
    /// RFC 9101: the whole request as a JWT signed by the client; then
    /// only its parameters are used.
    request: Option<String>,
    /// RFC 9126: a `request_uri` from `POST /oauth2/par`; with it only
    /// `client_id` is read from the query.
    request_uri: Option<String>,
    /// OIDC Core §5.5: JSON naming claims for `id_token` and `userinfo`
    /// (at most 4 KiB).
    claims: Option<String>,
    /// Space-separated: `pwd`, `mfa` (the TOTP step is required).
    acr_values: Option<String>,
}

/// The form body of `POST /oauth2/authorize`: the same parameters, and from
/// the consent page its answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuthorizeForm {
    /// Must be `code`.
    response_type: String,
    client_id: String,
    /// Exactly a registered URI (loopback IP literals: any port).
    redirect_uri: Option<String>,
    scope: Option<String>,
    /// Returned unchanged.
    state: Option<String>,
    nonce: Option<String>,
    /// Required for public clients.
    code_challenge: Option<String>,
    /// `S256` (default) or `plain` (if the client allows it).
    code_challenge_method: Option<String>,
    /// `none`, `login`, `consent`.
    prompt: Option<String>,
    max_age: Option<i64>,
    login_hint: Option<String>,
    /// `query` (default) or `form_post`.
    response_mode: Option<String>,
    /// RFC 9101 request object.
    request: Option<String>,
    /// RFC 9126 pushed request.
    request_uri: Option<String>,
    /// OIDC Core §5.5: JSON naming claims for `id_token` and `userinfo`.
    claims: Option<String>,
    /// Space-separated: `pwd`, `mfa`.
    acr_values: Option<String>,
    /// From the consent page: `allow` or `deny`.
    consent: Option<String>,
    /// From the consent page: its CSRF token.
    csrf: Option<String>,
}

/// A page error: shown, never redirected.
fn page_error(error: &str, description: &str) -> HttpResponse {
    views::error(&views::ErrorPage {
        status: 400,
        error,
        description,
    })
}

/// How the answer reaches the client (OAuth 2.0 Multiple Response Types
/// §2.1; OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponseMode {
    /// In the redirect URI's query.
    Query,
    /// POSTed to the redirect URI by a self-submitting page.
    FormPost,
}

/// Where errors and the code go once the client and redirect are trusted.
pub(super) struct Reply<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    iss: &'a str,
    /// A redirect after a POST is 303 (RFC 9700 §4.11).
    after_post: bool,
    mode: ResponseMode,
    /// Set once the answer went to the client: the authorization ended.
    ended: Cell<bool>,
}

impl Reply<'_> {
    fn redirect(&self, params: &[(&str, &str)]) -> HttpResponse {
        self.ended.set(true);
        if self.mode == ResponseMode::FormPost {
            let mut fields: Vec<(&str, &str)> = params.to_vec();
            if let Some(s) = self.state {
                fields.push(("state", s));
            }
            fields.push(("iss", self.iss));
            return views::form_post(self.redirect_uri, &fields);
        }
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = self.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", self.iss);
        let sep = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        let location = format!("{}{sep}{}", self.redirect_uri, q.finish());
        let status = if self.after_post {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FOUND
        };
        HttpResponse::build(status)
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish()
    }
    fn error(&self, error: &str, description: &str) -> HttpResponse {
        let d = tessera_actors::oauth::OAuthError::new(
            tessera_actors::oauth::ErrorCode::InvalidRequest,
            description,
        );
        self.redirect(&[("error", error), ("error_description", &d.description)])
    }
}

#[utoipa::path(tag = "oauth2", params(AuthorizeParams), responses(
    (status = 302, description = "To the client's redirect_uri with `code` (or `error`), `state`, `iss`; or to the login page"),
    (status = 200, description = "The consent page", content_type = "text/html"),
    (status = 400, description = "Missing/unknown client or unregistered redirect_uri (shown, never redirected)", content_type = "text/html"),
))]
#[get("/oauth2/authorize")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn authorize_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (form, repeated) = OAuthForm::parse_lenient(req.query_string().as_bytes());
    authorize(&req, &state, form, repeated, false).await
}

#[utoipa::path(tag = "oauth2", request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded", description = "The authorization request parameters; from the consent page also `consent=allow|deny` and `csrf`"), responses(
    (status = 303, description = "To the client's redirect_uri with `code` (or `error`), `state`, `iss`; or to the login page"),
    (status = 200, description = "The consent page", content_type = "text/html"),
    (status = 400, description = "Missing/unknown client or unregistered redirect_uri", content_type = "text/html"),
    (status = 403, description = "A consent answer whose CSRF token is missing or wrong: an error page, nothing recorded", content_type = "text/html"),
))]
#[post("/oauth2/authorize")]
#[tracing::instrument(skip_all, fields(client_id))]
pub async fn authorize_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if body.len() > MAX_BODY {
        return page_error("invalid_request", "the request body exceeds 64 KiB");
    }
    let (form, repeated) = OAuthForm::parse_lenient(&body);
    authorize(&req, &state, form, repeated, true).await
}

async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    sent: OAuthForm,
    repeated: Option<String>,
    is_post: bool,
) -> HttpResponse {
    let engine = &state.engine;
    let Some(client_id) = sent.get("client_id") else {
        return page_error("invalid_request", "client_id is missing");
    };
    let Some(client) = engine.clients.get(client_id) else {
        return page_error("invalid_client", "unknown client_id");
    };
    // The handler's span (`authorize_get`/`authorize_post`) names the client.
    tracing::Span::current().record("client_id", client_id);
    let resolved = match request::resolve(req, state, &client, sent).await {
        Ok(r) => r,
        Err(r) => return page_error(r.error, &r.description),
    };
    // A held request was checked for repeats when it was made.
    let repeated = if resolved.pushed.is_some() {
        None
    } else {
        repeated
    };
    let mut resp = answer(req, state, &client, &resolved, repeated, is_post).await;
    if let Some(c) = &resolved.cookie {
        let _ = resp.add_cookie(c);
    }
    resp
}

/// The answer to a resolved request.
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    client: &tessera_actors::directory::Client,
    resolved: &request::Resolved,
    repeated: Option<String>,
    is_post: bool,
) -> HttpResponse {
    let engine = &state.engine;
    let form = &resolved.form;
    let redirect_uri = match form.get("redirect_uri") {
        Some(r) => match find_redirect(&client.redirect_uris, r) {
            Some(_) => r.to_string(),
            None => {
                return page_error(
                    "invalid_request",
                    "redirect_uri is not registered for this client",
                )
            }
        },
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return page_error("invalid_request", "redirect_uri is missing"),
        },
    };
    let (mode, bad_mode) = match form.get("response_mode") {
        None | Some("query") => (ResponseMode::Query, false),
        Some("form_post") => (ResponseMode::FormPost, false),
        Some(_) => (ResponseMode::Query, true),
    };
    let reply = Reply {
        redirect_uri: &redirect_uri,
        state: form.get("state"),
        iss: &engine.config.issuer,
        after_post: is_post,
        mode,
        ended: Cell::new(false),
    };
    let resp = if bad_mode {
        reply.error(
            "invalid_request",
            "response_mode must be query or form_post",
        )
    } else {
        match validate(client, form, repeated.as_deref()) {
            Err((e, d)) => reply.error(e, d),
            Ok(req_params) => {
                continue_authorize(
                    req,
                    state,
                    client,
                    form,
                    &resolved.carry,
                    resolved.pushed,
                    &reply,
                    req_params,
                    is_post,
                )
                .await
            }
        }
    };
    // The authorization ended: a held request is used up.
    if let (true, Some(id)) = (reply.ended.get(), resolved.pushed) {
        let _ = state.pushed.take(id).await;
    }
    resp
}

/// Take a held request for good before its code is issued: of two tabs
/// finishing the same request, one gets a code.
pub(super) async fn use_up(
    state: &AppState,
    pushed: Option<SecretHash>,
) -> Result<(), &'static str> {
    match pushed {
        None => Ok(()),
        Some(id) => match state.pushed.take(id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the request_uri was already used"),
            Err(_) => Err("the pushed request could not be used; try again"),
        },
    }
}
