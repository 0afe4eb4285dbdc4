//! The end of an upstream login: the provider's answer checked, its code
//! exchanged, its ID token verified, the local user found or made (by the
//! engine), and the session opened as a password login does.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use tessera_actors::directory::UserStatus;
use tessera_actors::federation::PendingLogin;
use tessera_actors::flows::federation::{UpstreamIdentity, UpstreamUserError};

use super::{count, OidcCallbackQuery, MAX_PARAM};
use crate::browser::open_session_with;
use crate::extract::csrf::new_csrf_cookie;
use crate::extract::session::session_cookie;
use crate::federation::{Upstream, UpstreamError};
use crate::state::AppState;
use crate::views;

/// Why a login that came back cannot go on.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: &'static str,
    /// The `result` label of the login metrics.
    pub(super) result: &'static str,
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

pub(super) async fn finish(
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
    let (user, found) = state
        .engine
        .upstream_user(identity(up, &claims))
        .await
        .map_err(upstream_user_refusal)?;
    let result = found.as_str();
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
    let mut resp = if user.has_second_factor() {
        // The second factor still applies, as after a password.
        let (csrf, c) = new_csrf_cookie(state);
        let mut r = views::mfa(
            &views::MfaPage {
                return_to: pending.return_to.as_deref().unwrap_or(""),
                application_id: None,
                error: None,
                csrf: &csrf,
                totp: user.totp_enabled(),
                passkey: !user.passkeys.is_empty(),
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

/// The upstream identity the engine matches, from the provider's claims
/// through the provider's claim mapping.
fn identity<'a>(up: &'a Upstream, claims: &'a Map<String, Value>) -> UpstreamIdentity<'a> {
    let map = &up.settings.claims;
    UpstreamIdentity {
        provider: &up.name,
        subject: claim_str(claims, "sub").unwrap_or_default(),
        email: claim_str(claims, &map.email),
        email_verified: claim_true(claims, &map.email_verified),
        username: claim_str(claims, &map.username),
        name: claim_str(claims, &map.name),
    }
}

fn upstream_user_refusal(e: UpstreamUserError) -> Refusal {
    match e {
        UpstreamUserError::MissingEmail => refuse(
            StatusCode::BAD_GATEWAY,
            "missing_email",
            "The login provider did not share a usable e-mail address.",
            "refused",
        ),
        UpstreamUserError::EmailUnverified => refuse(
            StatusCode::CONFLICT,
            "email_unverified",
            "An account with this e-mail exists, but the provider has not verified the address. Verify it there, or sign in with your password.",
            "refused",
        ),
        UpstreamUserError::EmailTaken => refuse(
            StatusCode::CONFLICT,
            "email_taken",
            "An account with this e-mail was just created. Please sign in again.",
            "refused",
        ),
        UpstreamUserError::Busy => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Too many logins are in progress. Please try again shortly.",
            "busy",
        ),
        UpstreamUserError::InvalidClaims(e) => {
            tracing::warn!(error = %e, "upstream claims do not make a valid account");
            refuse(
                StatusCode::BAD_GATEWAY,
                "invalid_claims",
                "The login provider's account details cannot make a local account.",
                "refused",
            )
        }
        UpstreamUserError::Unrecorded => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The login could not be recorded. Please try again.",
            "store_error",
        ),
    }
}
