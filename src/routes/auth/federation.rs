//! Login through an upstream OpenID provider (SPEC §2 `GET /auth/openid`).
//!
//! `GET /auth/openid?client_id=NAME&redirect_uri=...` sends the browser to
//! the provider with PKCE (S256), a random `state` and `nonce`; the pending
//! login is kept by the `Federation` actor under the hash of `state` and
//! bound to this browser by a cookie secret. `GET /auth/oidc/login` takes
//! it back once, exchanges the code, verifies the ID token, finds or makes
//! the local user, and opens a session as a password login does.
//!
//! Users are matched, in order, by an earlier link of the same upstream
//! subject, then by a **verified** upstream e-mail equal to a local
//! account's; otherwise a new account is made (its password is a random
//! secret nobody knows). An unverified upstream e-mail that belongs to a
//! local account is refused: it never links, and e-mails are unique.

use std::sync::Arc;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_actors::directory::{CreateUser, DirectoryError, NewUser, User, UserStatus};
use tessera_actors::federation::{BeginLogin, FederationError, Link, PendingLogin, TakeLogin};
use tessera_actors::secret;

use crate::browser::{open_session_with, safe_return_to};
use crate::extract::csrf::new_csrf_cookie;
use crate::extract::session::session_cookie;
use crate::federation::{Upstream, UpstreamError};
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
#[tracing::instrument(skip_all)]
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

/// Why a login that came back cannot go on.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    result: &'static str,
}

fn refuse(
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    result: &'static str,
) -> Refusal {
    Refusal {
        status,
        error,
        description,
        result,
    }
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
    match finish(&req, &state, &q, pending).await {
        Ok(resp) => resp,
        Err(r) => {
            count(&provider, r.result);
            page(r.status, r.error, r.description)
        }
    }
}

async fn finish(
    req: &HttpRequest,
    state: &AppState,
    q: &OidcCallbackQuery,
    pending: PendingLogin,
) -> Result<HttpResponse, Refusal> {
    if let Some(err) = q.error.as_deref() {
        tracing::info!(
            provider = %pending.provider,
            error = %err.chars().filter(char::is_ascii_graphic).take(64).collect::<String>(),
            description = %q.error_description.as_deref().unwrap_or("")
                .chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(200).collect::<String>(),
            "the upstream provider refused the login"
        );
        let description = if err == "access_denied" {
            "The login was cancelled or refused at the provider."
        } else {
            "The login provider reported an error. Please try again."
        };
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "upstream_error",
            description,
            "denied",
        ));
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= MAX_PARAM)
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The login response carries no code.",
            "invalid_request",
        ));
    };
    let Some(up) = state.upstreams.get(&pending.provider) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "unknown_provider",
            "The login provider is no longer configured.",
            "invalid_request",
        ));
    };
    if q.iss.as_deref().is_some_and(|i| i != up.settings.issuer) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The login response comes from another issuer.",
            "invalid_request",
        ));
    }
    let now = state.engine.clock.now();
    let upstream_down = |e: UpstreamError| {
        tracing::warn!(provider = %up.name, error = %e, "upstream login failed");
        match e {
            UpstreamError::Token(_) => refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_id_token",
                "The login provider's answer could not be verified.",
                "invalid_token",
            ),
            UpstreamError::Unavailable(_) => refuse(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The login provider could not complete the login. Please try again later.",
                "upstream_error",
            ),
        }
    };
    let disc = state
        .upstreams
        .discovery(up, now)
        .await
        .map_err(upstream_down)?;
    let id_token = state
        .upstreams
        .exchange(up, &disc, code, &pending.verifier)
        .await
        .map_err(upstream_down)?;
    let claims = state
        .upstreams
        .verify(up, &disc, &id_token, &pending.nonce, now)
        .await
        .map_err(upstream_down)?;
    let (user, result) = resolve_user(state, up, &claims).await?;
    if user.status != UserStatus::Active {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "account_unavailable",
            "This account is disabled or not yet confirmed.",
            "refused",
        ));
    }
    let (session, secret_value) = open_session_with(req, state, &user, None, "fed")
        .await
        .map_err(|_| {
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The login could not be recorded. Please try again.",
                "store_error",
            )
        })?;
    count(&up.name, result);
    let cookie = session_cookie(state, &secret_value, &session);
    let mut resp = if user.totp_enabled() {
        // The second factor still applies, as after a password.
        let (csrf, c) = new_csrf_cookie(state);
        let mut r = views::mfa(
            &views::MfaPage {
                return_to: pending.return_to.as_deref().unwrap_or(""),
                application_id: None,
                error: None,
                csrf: &csrf,
            },
            StatusCode::OK,
        );
        let _ = r.add_cookie(&c);
        r
    } else {
        match pending.return_to.as_deref() {
            Some(to) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to.to_string()))
                .finish(),
            None => views::message(&views::MessagePage {
                title: "Signed in",
                message: "You are signed in.",
                link: None,
            }),
        }
    };
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    let _ = resp.add_cookie(&cookie);
    Ok(resp)
}

fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn claim_true(claims: &Map<String, Value>, name: &str) -> bool {
    match claims.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The local user for these upstream claims, and how it was found
/// (`success` by link, `linked` by verified e-mail, `created`).
async fn resolve_user(
    state: &AppState,
    up: &Upstream,
    claims: &Map<String, Value>,
) -> Result<(Arc<User>, &'static str), Refusal> {
    let sub = claim_str(claims, "sub").unwrap_or_default();
    if let Some(user) = state
        .engine
        .federation_links
        .get(&up.name, sub)
        .and_then(|id| state.engine.users.get(&id))
    {
        return Ok((user, "success"));
    }
    let map = &up.settings.claims;
    let email = claim_str(claims, &map.email).map(str::to_string);
    let verified = claim_true(claims, &map.email_verified);
    let Some(email) =
        email.filter(|e| tessera_actors::directory::users::valid_email(e) && e.len() <= 254)
    else {
        return Err(refuse(
            StatusCode::BAD_GATEWAY,
            "missing_email",
            "The login provider did not share a usable e-mail address.",
            "refused",
        ));
    };
    let existing = state
        .engine
        .users
        .by_login(&email)
        .filter(|u| u.email.eq_ignore_ascii_case(&email));
    let (user, result) = match existing {
        Some(u) if verified => (u, "linked"),
        Some(_) => {
            return Err(refuse(
                StatusCode::CONFLICT,
                "email_unverified",
                "An account with this e-mail exists, but the provider has not verified the address. Verify it there, or sign in with your password.",
                "refused",
            ))
        }
        None => (create_user(state, up, claims, &email, verified).await?, "created"),
    };
    state
        .engine
        .federation
        .send(Link {
            provider: up.name.clone(),
            subject: sub.to_string(),
            user_id: user.id,
        })
        .await
        .map_err(|_| store_refusal())?
        .map_err(|_| store_refusal())?;
    Ok((user, result))
}

fn store_refusal() -> Refusal {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The login could not be recorded. Please try again.",
        "store_error",
    )
}

/// `[A-Za-z0-9._-]`, 3 to 56 characters, from the mapped claim or the
/// e-mail's local part.
pub fn username_base(claim: Option<&str>, email: &str) -> String {
    let source = claim.unwrap_or_else(|| email.split('@').next().unwrap_or_default());
    let mut s: String = source
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(56)
        .collect();
    if s.len() < 3 {
        s = "user".into();
    }
    s
}

async fn create_user(
    state: &AppState,
    up: &Upstream,
    claims: &Map<String, Value>,
    email: &str,
    verified: bool,
) -> Result<Arc<User>, Refusal> {
    let map = &up.settings.claims;
    let base = username_base(claim_str(claims, &map.username), email);
    let name = claim_str(claims, &map.name)
        .filter(|n| n.len() <= 200 && !n.chars().any(char::is_control))
        .map(str::to_string);
    // A password nobody knows: the account logs in through the provider
    // (or after a password reset).
    let hash = state
        .engine
        .passwords
        .hash(secret::new_secret(""))
        .await
        .map_err(|_| {
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Too many logins are in progress. Please try again shortly.",
                "busy",
            )
        })?;
    let candidates = std::iter::once(base.clone())
        .chain((2..=20).map(|i| format!("{base}-{i}")))
        .filter(|c| state.engine.users.by_login(c).is_none())
        .take(1)
        .chain(std::iter::repeat_with(|| {
            format!(
                "{base}-{}",
                secret::new_id("").chars().take(8).collect::<String>()
            )
        }))
        .take(3);
    for username in candidates {
        let r = state
            .engine
            .directory
            .send(CreateUser(NewUser {
                username,
                email: email.to_string(),
                password_hash: hash.clone(),
                email_verified: verified,
                name: name.clone(),
                status: UserStatus::Active,
                ..Default::default()
            }))
            .await;
        match r {
            Ok(Ok(u)) => return Ok(u),
            Ok(Err(DirectoryError::Taken("username"))) => continue,
            Ok(Err(DirectoryError::Taken(_))) => {
                // The e-mail appeared meanwhile (a concurrent login).
                return Err(refuse(
                    StatusCode::CONFLICT,
                    "email_taken",
                    "An account with this e-mail was just created. Please sign in again.",
                    "refused",
                ));
            }
            Ok(Err(DirectoryError::Store(_))) | Err(_) => return Err(store_refusal()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "upstream claims do not make a valid account");
                return Err(refuse(
                    StatusCode::BAD_GATEWAY,
                    "invalid_claims",
                    "The login provider's account details cannot make a local account.",
                    "refused",
                ));
            }
        }
    }
    Err(store_refusal())
}

#[cfg(test)]
mod tests {
    use super::username_base;

    #[test]
    fn usernames_are_cleaned() {
        assert_eq!(username_base(Some("alice"), "x@example.com"), "alice");
        assert_eq!(username_base(Some("Al ice!"), "x@example.com"), "Alice");
        assert_eq!(username_base(None, "bob.b@example.com"), "bob.b");
        assert_eq!(username_base(Some("é"), "x@example.com"), "user");
        assert_eq!(username_base(Some(&"a".repeat(100)), "x@e.com").len(), 56);
    }
}
