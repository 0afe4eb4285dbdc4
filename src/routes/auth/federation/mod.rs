//! Login through an upstream OpenID provider (SPEC §2 `GET /auth/openid`).
//!
//! `GET /auth/openid?client_id=NAME&redirect_uri=...` sends the browser to
//! the provider with PKCE (S256), a random `state` and `nonce`; the pending
//! login is kept by the `Federation` actor under the hash of `state` and
//! bound to this browser by a cookie secret. `GET /auth/oidc/login` takes
//! it back once, exchanges the code, verifies the ID token, finds or makes
//! the local user, and opens a session as a password login does.
//!
//! Which local user an upstream identity is (by link, by verified e-mail,
//! or a new account) is the engine's `Engine::upstream_user`; `finish`
//! here drives the callback around it.

mod finish;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tessera_actors::federation::{BeginLogin, FederationError, PendingLogin, TakeLogin};
use tessera_actors::secret;

use crate::browser::safe_return_to;
use crate::state::AppState;
use crate::views;

/// The cookie binding a pending upstream login to the browser that began it.
pub const BINDING_COOKIE: &str = "tessera_federation";
/// Seconds a login may take at the provider.
const PENDING_TTL: i64 = 600;
/// Longest `code`, `state` or `error_description` accepted.
const MAX_PARAM: usize = 2048;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenIdQuery {
    /// The configured upstream provider's name.
    client_id: Option<String>,
    /// Where to go once logged in: a local path (e.g. the pending
    /// `/oauth2/authorize?...`), a URL on this server, or a registered
    /// client redirect URI.
    redirect_uri: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// Set by the provider when the login failed (e.g. `access_denied`).
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: the provider's issuer; when present it must be ours.
    iss: Option<String>,
}

fn count(provider: &str, result: &'static str) {
    metrics::counter!("tessera_federation_logins_total",
        "provider" => provider.to_string(), "result" => result)
    .increment(1);
}

fn page(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut r = views::error(&views::ErrorPage {
        status: status.as_u16(),
        error,
        description,
    });
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    r
}

/// A local place to continue to, or `Err` for anything else (no open
/// redirect): a safe local path, a URL under our public URL (made a
/// path), or a registered client redirect URI.
fn return_url(state: &AppState, raw: Option<&str>) -> Result<Option<String>, ()> {
    let raw = match raw.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(r) => r,
    };
    if let Some(p) = safe_return_to(Some(raw)) {
        return Ok(Some(p.to_string()));
    }
    let base = state.account_mail.public_url.trim_end_matches('/');
    if let Some(rest) = raw.strip_prefix(base) {
        let path = if rest.is_empty() { "/" } else { rest };
        if let Some(p) = safe_return_to(Some(path)) {
            return Ok(Some(p.to_string()));
        }
    }
    if raw.len() <= 4096
        && !raw.chars().any(char::is_control)
        && state
            .engine
            .clients
            .list()
            .iter()
            .any(|c| c.redirect_uris.iter().any(|u| u == raw))
    {
        return Ok(Some(raw.to_string()));
    }
    Err(())
}

fn binding_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build(BINDING_COOKIE, value)
        .path("/auth")
        .http_only(true)
        .secure(!state.insecure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(PENDING_TTL))
        .finish()
}

#[utoipa::path(tag = "auth", params(OpenIdQuery), responses(
    (status = 302, description = "To the provider's authorization endpoint (code flow, PKCE S256, `state`, `nonce`); sets the browser-binding cookie"),
    (status = 400, description = "No or an unknown provider, or a `redirect_uri` that is not ours", content_type = "text/html"),
    (status = 502, description = "The provider's discovery document could not be fetched or does not fit its configuration", content_type = "text/html"),
    (status = 503, description = "Too many upstream logins in flight; see Retry-After", content_type = "text/html"),
))]
#[get("/auth/openid")]
#[tracing::instrument(skip_all, fields(provider = q.client_id.as_deref()))]
pub async fn openid_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<OpenIdQuery>,
) -> HttpResponse {
    let Some(up) = q
        .client_id
        .as_deref()
        .and_then(|name| state.upstreams.get(name))
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "unknown_provider",
            "client_id names no configured upstream provider.",
        );
    };
    let Ok(return_to) = return_url(&state, q.redirect_uri.as_deref()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uri must be a path on this server or a registered redirect URI.",
        );
    };
    let now = state.engine.clock.now();
    let disc = match state.upstreams.discovery(up, now).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(provider = %up.name, error = %e, "upstream discovery failed");
            count(&up.name, "upstream_error");
            return page(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The login provider cannot be reached right now. Please try again later.",
            );
        }
    };
    // One binding secret per browser: logins begun in two tabs both work.
    let binding = req
        .cookie(BINDING_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 43 && secret::b64url_decode(v).is_some_and(|b| b.len() == 32))
        .unwrap_or_else(|| secret::b64url(&secret::random_bytes::<32>()));
    let state_value = secret::b64url(&secret::random_bytes::<32>());
    let nonce = secret::b64url(&secret::random_bytes::<32>());
    let verifier = secret::b64url(&secret::random_bytes::<32>());
    let challenge = secret::b64url(&secret::sha256(verifier.as_bytes()));
    let begin = BeginLogin {
        state: state_value.clone(),
        login: PendingLogin {
            provider: up.name.clone(),
            verifier,
            nonce: nonce.clone(),
            return_to,
            binding: secret::sha256(binding.as_bytes()),
            expires_at: now + PENDING_TTL,
        },
    };
    match state.engine.federation.send(begin).await {
        Ok(Ok(())) => {}
        Ok(Err(FederationError::Busy)) | Err(_) => {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Too many logins are in progress. Please try again shortly.",
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not keep the pending login");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Please try again shortly.",
            );
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &up.settings.client_id)
        .append_pair("redirect_uri", state.upstreams.callback())
        .append_pair("scope", &up.settings.scopes)
        .append_pair("state", &state_value)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if disc.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    count(&up.name, "started");
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("{}{sep}{query}", disc.authorization_endpoint),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(binding_cookie(&state, binding))
        .finish()
}

#[utoipa::path(tag = "auth", params(OidcCallbackQuery), responses(
    (status = 200, description = "Logged in without a place to continue to (a notice page); or the user has TOTP and the code page follows", content_type = "text/html"),
    (status = 303, description = "Logged in (session cookie set): to the `redirect_uri` given to `/auth/openid`, e.g. the pending authorization request"),
    (status = 400, description = "Unknown, used, expired or another browser's `state`; no `code`; an `iss` of another issuer; or the provider reported an error (e.g. `access_denied`)", content_type = "text/html"),
    (status = 401, description = "The upstream ID token was refused (signature, issuer, audience, times, nonce, headers)", content_type = "text/html"),
    (status = 403, description = "The local account is disabled or not yet confirmed", content_type = "text/html"),
    (status = 409, description = "The upstream e-mail is unverified and belongs to a local account (never linked)", content_type = "text/html"),
    (status = 502, description = "The provider could not be reached, refused the code, or gave no usable e-mail", content_type = "text/html"),
    (status = 503, description = "The store could not persist the login, or the password pool is saturated; see Retry-After", content_type = "text/html"),
))]
#[get("/auth/oidc/login")]
#[tracing::instrument(skip_all)]
pub async fn oidc_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<OidcCallbackQuery>,
) -> HttpResponse {
    let Some(state_value) = q.state.as_deref().filter(|s| s.len() <= MAX_PARAM) else {
        return page(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "The login response carries no usable state. Please start the login again.",
        );
    };
    let binding = req.cookie(BINDING_COOKIE).map(|c| c.value().to_string());
    let pending = match state
        .engine
        .federation
        .send(TakeLogin {
            state: state_value.to_string(),
            binding,
        })
        .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(_)) | Err(_) => {
            count("unknown", "invalid_state");
            return page(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                "This login is unknown, expired, already used or was started in another browser. Please start the login again.",
            );
        }
    };
    let provider = pending.provider.clone();
    match finish::finish(&req, &state, &q, pending).await {
        Ok(resp) => resp,
        Err(r) => {
            count(&provider, r.result);
            page(r.status, r.error, r.description)
        }
    }
}
