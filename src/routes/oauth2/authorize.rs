//! `GET|POST /oauth2/authorize`: the authorization code flow (RFC 6749
//! §4.1, OAuth 2.1, OIDC Core §3.1.2). Until the client and redirect URI
//! are known good, errors are shown as a page and never redirected; after
//! that they go back to the client with `error`, `state` and `iss`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use tessera_actors::directory::{Client, GrantConsent, User};
use tessera_actors::domain::{find_redirect, GrantType, Pkce, PkceMethod, Scope};
use tessera_actors::secret::{self, prefix};
use tessera_actors::sessions::Session;
use tessera_actors::tokens::{AuthCode, IssueCode};

use crate::extract::csrf::session_csrf;
use crate::extract::form::MAX_BODY;
use crate::extract::session::current_session;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::views;

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

/// Where errors and the code go once the client and redirect are trusted.
struct Reply<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    iss: &'a str,
    /// A redirect after a POST is 303 (RFC 9700 §4.11).
    after_post: bool,
}

impl Reply<'_> {
    fn redirect(&self, params: &[(&str, &str)]) -> HttpResponse {
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
    form: OAuthForm,
    repeated: Option<String>,
    is_post: bool,
) -> HttpResponse {
    let engine = &state.engine;
    let Some(client_id) = form.get("client_id") else {
        return page_error("invalid_request", "client_id is missing");
    };
    let Some(client) = engine.clients.get(client_id) else {
        return page_error("invalid_client", "unknown client_id");
    };
    // The handler's span (`authorize_get`/`authorize_post`) names the client.
    tracing::Span::current().record("client_id", client_id);
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
    let reply = Reply {
        redirect_uri: &redirect_uri,
        state: form.get("state"),
        iss: &engine.config.issuer,
        after_post: is_post,
    };
    match validate(&client, &form, repeated.as_deref()) {
        Err((e, d)) => reply.error(e, d),
        Ok(req_params) => {
            continue_authorize(req, state, &client, &form, &reply, req_params, is_post).await
        }
    }
}

struct Validated {
    scope: Scope,
    pkce: Option<Pkce>,
    prompt_none: bool,
    prompt_login: bool,
    prompt_consent: bool,
    max_age: Option<i64>,
}

fn validate(
    client: &Client,
    form: &OAuthForm,
    repeated: Option<&str>,
) -> Result<Validated, (&'static str, &'static str)> {
    if repeated.is_some() {
        return Err(("invalid_request", "a parameter is repeated"));
    }
    match form.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => {
            return Err((
                "unsupported_response_type",
                "response_type is missing; only code is supported",
            ))
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err((
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let scope = match form.get("scope") {
        Some(s) => Scope::parse(s).map_err(|_| ("invalid_scope", "the scope is malformed"))?,
        None => client.scope.clone(),
    };
    if !scope.is_subset_of(&client.scope) {
        return Err((
            "invalid_scope",
            "the requested scope exceeds what the client may request",
        ));
    }
    let pkce = match (
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    ) {
        (Some(c), m) => {
            let method = match m {
                None => PkceMethod::S256,
                Some(m) => PkceMethod::parse(m).ok_or((
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                ))?,
            };
            if method == PkceMethod::Plain && !client.allow_plain_pkce {
                return Err((
                    "invalid_request",
                    "this client must use code_challenge_method=S256",
                ));
            }
            Some(Pkce::parse(c, method).map_err(|_| {
                (
                    "invalid_request",
                    "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]",
                )
            })?)
        }
        (None, Some(_)) => {
            return Err((
                "invalid_request",
                "code_challenge_method without code_challenge",
            ))
        }
        (None, None) if client.is_public() => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge) is required for public clients",
            ))
        }
        (None, None) => None,
    };
    if form.get("nonce").is_some_and(|n| n.len() > 512) {
        return Err(("invalid_request", "nonce is longer than 512 characters"));
    }
    let prompt: Vec<&str> = form
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let prompt_none = prompt.contains(&"none");
    if prompt_none && prompt.len() > 1 {
        return Err((
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match form.get("max_age") {
        Some(m) => Some(
            m.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or(("invalid_request", "max_age must be a non-negative integer"))?,
        ),
        None => None,
    };
    Ok(Validated {
        scope,
        pkce,
        prompt_none,
        prompt_login: prompt.contains(&"login"),
        prompt_consent: prompt.contains(&"consent"),
        max_age,
    })
}

/// The authorize URL to come back to after logging in: the same request,
/// without `prompt=login` and with `auth_after` so the new login satisfies it.
fn return_to(form: &OAuthForm, auth_after: Option<i64>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form.pairs() {
        match k.as_str() {
            "consent" | "csrf" | "auth_after" => {}
            "prompt" => {
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| !p.is_empty() && *p != "login")
                    .collect();
                if !rest.is_empty() {
                    q.append_pair(k, &rest.join(" "));
                }
            }
            _ => {
                q.append_pair(k, v);
            }
        }
    }
    if let Some(t) = auth_after {
        q.append_pair("auth_after", &t.to_string());
    }
    format!("/oauth2/authorize?{}", q.finish())
}

fn to_login(
    form: &OAuthForm,
    client: &Client,
    auth_after: Option<i64>,
    after_post: bool,
) -> HttpResponse {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", &return_to(form, auth_after));
    q.append_pair("applicationId", &client.client_id);
    if let Some(h) = form.get("login_hint") {
        q.append_pair("login_hint", h);
    }
    // A redirect after a POST is 303 (RFC 9700 §4.11), as for the client's.
    let status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    HttpResponse::build(status)
        .insert_header((header::LOCATION, format!("/auth/login?{}", q.finish())))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

async fn continue_authorize(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
    form: &OAuthForm,
    reply: &Reply<'_>,
    v: Validated,
    is_post: bool,
) -> HttpResponse {
    let engine = &state.engine;
    let now = engine.clock.now();
    let session = current_session(req, state);
    // A login this request already sent the user to must be newer than it.
    let auth_after = form.get("auth_after").and_then(|t| t.parse::<i64>().ok());
    // (A login done for this request satisfies max_age however long it took.)
    let fresh_enough = |s: &Session| match auth_after {
        Some(t) => s.auth_time >= t,
        None => v.max_age.is_none_or(|m| now - s.auth_time <= m),
    };
    let (session, user) = match session {
        Some((s, u)) if fresh_enough(&s) && !(v.prompt_login && auth_after.is_none()) => (s, u),
        Some(_) | None => {
            if v.prompt_none {
                return reply.error("login_required", "the user is not logged in");
            }
            let force = v.prompt_login || v.max_age.is_some() || auth_after.is_some();
            return to_login(form, client, force.then_some(now), is_post);
        }
    };
    let consented = client.first_party
        || engine
            .consents
            .covers(&user.id, &client.client_id, &v.scope);
    let decision = form.get("consent");
    if is_post && decision.is_some() {
        if form.get("csrf") != Some(session_csrf(&session).as_str()) {
            return views::error(&views::ErrorPage {
                status: 403,
                error: "invalid_request",
                description: "the consent form expired; start again from the application",
            });
        }
        if decision != Some("allow") {
            return reply.error("access_denied", "the user denied the request");
        }
        let grant = GrantConsent {
            user_id: user.id,
            client_id: client.client_id.clone(),
            scope: v.scope.clone(),
        };
        match engine.directory.send(grant).await {
            Ok(Ok(())) => {}
            _ => {
                return reply.error(
                    "temporarily_unavailable",
                    "the consent could not be saved; try again",
                )
            }
        }
    } else if !consented || v.prompt_consent {
        if v.prompt_none {
            return reply.error(
                "consent_required",
                "the user has not consented to this client and scope",
            );
        }
        let mut page = consent_page(client, form, &session, &user, &v.scope);
        // Allow and Deny both end in a redirect to the client.
        views::allow_form_targets(
            &mut page,
            &views::csp_source(reply.redirect_uri)
                .into_iter()
                .collect::<Vec<_>>(),
        );
        return page;
    }
    issue_code(state, client, form, reply, v, &session, &user).await
}

fn consent_page(
    client: &Client,
    form: &OAuthForm,
    session: &Session,
    user: &User,
    scope: &Scope,
) -> HttpResponse {
    let scopes: Vec<(&str, &str)> = scope
        .tokens()
        .iter()
        .map(|s| (s.as_str(), views::scope_description(s)))
        .collect();
    let hidden: Vec<(&str, &str)> = form
        .pairs()
        .iter()
        .filter(|(k, _)| k != "consent" && k != "csrf")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let csrf = session_csrf(session);
    views::consent(&views::ConsentPage {
        client_name: &client.name,
        client_id: &client.client_id,
        scopes: &scopes,
        user: &user.username,
        csrf: &csrf,
        form_action: "/oauth2/authorize",
        hidden: &hidden,
    })
}

async fn issue_code(
    state: &AppState,
    client: &Client,
    form: &OAuthForm,
    reply: &Reply<'_>,
    v: Validated,
    session: &Session,
    user: &User,
) -> HttpResponse {
    let engine = &state.engine;
    let now = engine.clock.now();
    let code = secret::new_secret(prefix::AUTH_CODE);
    let record = AuthCode {
        client_id: client.client_id.clone(),
        redirect_uri: reply.redirect_uri.to_string(),
        user_id: user.id,
        scope: v.scope.to_string(),
        nonce: form.get("nonce").map(str::to_string),
        pkce: v.pkce,
        auth_time: session.auth_time,
        sid: Some(session.id),
        amr: session.amr.clone(),
        iat: now,
        exp: now + engine.config.code_ttl,
        family: tessera_actors::idmap::new_id(),
        consumed: false,
    };
    match engine
        .issuer
        .send(IssueCode {
            key: secret::token_key(&code),
            code: record,
        })
        .await
    {
        Ok(Ok(())) => {
            metrics::counter!("tessera_authorization_codes_issued_total").increment(1);
            reply.redirect(&[("code", &code)])
        }
        _ => reply.error(
            "temporarily_unavailable",
            "the authorization could not be recorded; try again",
        ),
    }
}
