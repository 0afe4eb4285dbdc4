//! `GET|POST /device` (RFC 8628 §3.3): the verification page, where the
//! user of a device enters the code it shows, signs in (with the second
//! factor where enrolled), and allows or denies the device.
//!
//! The page needs a signed-in session: without one it sends the browser
//! to the login page and back. Codes are only looked up on a POST that
//! carries the session's CSRF token; wrong codes are counted per IP and
//! per session, and past the allowance the page answers `429` until the
//! lock ends (RFC 8628 §5.1). A right code never clears the counts: an
//! attacker could start device authorizations of their own to get right
//! codes to mix in.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use tessera_actors::device::{self, Approval, DeviceError, PendingGrant};
use tessera_actors::directory::{Client, User};
use tessera_actors::domain::Scope;
use tessera_actors::sessions::Session;

use crate::browser::{body_error, see_other};
use crate::error::ErrorBody;
use crate::extract::body::parse_body;
use crate::extract::csrf::{session_csrf, session_csrf_ok};
use crate::extract::session::{client_ip, current_session};
use crate::state::AppState;
use crate::views;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// Pre-fills the form (from `verification_uri_complete`).
    user_code: Option<String>,
}

/// The code form, and from the confirmation page its answer.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeviceForm {
    /// As the device shows it; case, dashes and spaces do not matter.
    user_code: Option<String>,
    /// The session-bound CSRF token of the page.
    csrf: Option<String>,
    /// From the confirmation page: `allow` or `deny`.
    consent: Option<String>,
}

#[derive(Template)]
#[template(path = "device/code.html")]
struct CodeView<'a> {
    user: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "device/consent.html")]
struct ConsentView<'a> {
    client_name: &'a str,
    client_id: &'a str,
    user: &'a str,
    user_code: &'a str,
    scopes: Vec<(&'a str, &'a str)>,
    csrf: &'a str,
}

/// Not signed in: to the login page, back here with the code afterwards.
fn to_login(user_code: Option<&str>) -> HttpResponse {
    let mut back = String::from("/device");
    if let Some(c) = user_code.filter(|c| !c.is_empty() && c.len() <= 64) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("user_code", c);
        back = format!("{back}?{}", q.finish());
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", &back);
    see_other(&format!("/auth/login?{}", q.finish()))
}

fn code_page(
    session: &Session,
    user: &User,
    user_code: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let csrf = session_csrf(session);
    views::page(
        status,
        &CodeView {
            user: &user.username,
            user_code,
            error,
            csrf: &csrf,
        },
    )
}

/// A code as the user sees it: `XXXX-XXXX`.
fn shown(normalized: &str) -> String {
    match (normalized.get(..4), normalized.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => normalized.to_string(),
    }
}

fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let mut r = views::message(&views::MessagePage {
        title,
        message: text,
        link: None,
    });
    *r.status_mut() = status;
    r
}

#[utoipa::path(tag = "pages", params(DeviceQuery), responses(
    (status = 200, description = "The form for the device's code", content_type = "text/html"),
    (status = 303, description = "Not signed in: to the login page, back here afterwards"),
))]
#[get("/device")]
#[tracing::instrument(skip_all)]
pub async fn device_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<DeviceQuery>,
) -> HttpResponse {
    let Some((session, user)) = current_session(&req, &state) else {
        return to_login(q.user_code.as_deref());
    };
    // Only shown, never looked up here: a guess costs a POST, counted.
    let prefill = q
        .user_code
        .as_deref()
        .and_then(device::normalize_user_code)
        .map(|c| shown(&c))
        .unwrap_or_default();
    code_page(&session, &user, &prefill, None, StatusCode::OK)
}

#[utoipa::path(tag = "pages", request_body(content = DeviceForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, description = "The device's client and scopes to allow or deny; or, after the answer, that the device is connected or was denied", content_type = "text/html"),
    (status = 303, description = "Not signed in: to the login page"),
    (status = 400, description = "A code that does not exist, or not in the shape of one: the form again", content_type = "text/html"),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content_type = "text/html"),
    (status = 410, description = "The code expired or was already used", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 429, description = "Too many wrong codes from this address or session; see Retry-After", content_type = "text/html"),
    (status = 503, description = "The answer could not be stored; try again", content_type = "text/html"),
))]
#[post("/device")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn device_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let f: DeviceForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    let Some((session, user)) = current_session(&req, &state) else {
        return to_login(f.user_code.as_deref());
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    if !session_csrf_ok(&session, f.csrf.as_deref()) {
        return views::csrf_refused();
    }
    let ip = client_ip(&req);
    let session_key = session.id.to_string();
    let limits = &state.limits;
    if let Err(secs) = limits
        .device_ip
        .check(&ip)
        .and_then(|()| limits.device_session.check(&session_key))
    {
        return too_many(secs);
    }
    let typed = f.user_code.as_deref().unwrap_or("");
    let Some(normalized) = device::normalize_user_code(typed) else {
        return code_page(
            &session,
            &user,
            typed.get(..typed.len().min(20)).unwrap_or(""),
            Some("That is not a device code: it has 8 letters, like BCDF-GHJK."),
            StatusCode::BAD_REQUEST,
        );
    };
    let user_code = device::user_code_hash(&normalized);
    let now = state.engine.clock.now();
    let found = state.devices.find(user_code, now).await;
    let client = found
        .as_ref()
        .ok()
        .and_then(|g| state.engine.clients.get(&g.request.client_id));
    let (grant, client) = match (found, client) {
        (Ok(g), Some(c)) => (g, c),
        (Ok(_), None) | (Err(DeviceError::Unknown), _) => {
            limits.device_ip.fail(&ip);
            limits.device_session.fail(&session_key);
            metrics::counter!("tessera_device_authorizations_total", "outcome" => "wrong_code")
                .increment(1);
            return code_page(
                &session,
                &user,
                &shown(&normalized),
                Some("That code is not right. Check the code on your device and try again."),
                StatusCode::BAD_REQUEST,
            );
        }
        (Err(e), _) => return refused(e),
    };
    match f.consent.as_deref() {
        None => confirm_page(&session, &user, &client, &grant, &normalized),
        Some(answer) => {
            let approval = (answer == "allow").then(|| Approval {
                user_id: user.id,
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                sid: Some(session.id),
            });
            let approved = approval.is_some();
            if let Err(e) = state
                .devices
                .decide(grant.id, user_code, approval, now)
                .await
            {
                return refused(e);
            }
            let outcome = if approved { "approved" } else { "denied" };
            metrics::counter!("tessera_device_authorizations_total", "outcome" => outcome)
                .increment(1);
            if approved {
                message(
                    StatusCode::OK,
                    "Device connected",
                    &format!(
                        "{} is now connected to your account. You can close this page and go back to your device.",
                        client.name
                    ),
                )
            } else {
                message(
                    StatusCode::OK,
                    "Device not connected",
                    &format!(
                        "You denied {}. The device gets no access; you can close this page.",
                        client.name
                    ),
                )
            }
        }
    }
}

fn confirm_page(
    session: &Session,
    user: &User,
    client: &Client,
    grant: &PendingGrant,
    normalized: &str,
) -> HttpResponse {
    let scope = Scope::parse(&grant.request.scope).unwrap_or_default();
    let scopes: Vec<(&str, &str)> = scope
        .tokens()
        .iter()
        .map(|s| (s.as_str(), views::scope_description(s)))
        .collect();
    let csrf = session_csrf(session);
    let code = shown(normalized);
    views::page(
        StatusCode::OK,
        &ConsentView {
            client_name: &client.name,
            client_id: &client.client_id,
            user: &user.username,
            user_code: &code,
            scopes,
            csrf: &csrf,
        },
    )
}

/// A code that cannot be used (any more).
fn refused(e: DeviceError) -> HttpResponse {
    match e {
        DeviceError::Expired => message(
            StatusCode::GONE,
            "Code expired",
            "This code has expired. Start the sign-in again on your device to get a new code.",
        ),
        DeviceError::Decided => message(
            StatusCode::GONE,
            "Code already used",
            "This code was already used. If that was not you, start the sign-in again on your device.",
        ),
        _ => views::error(&views::ErrorPage {
            status: 503,
            error: "temporarily_unavailable",
            description: "The answer could not be saved. Please try again.",
        }),
    }
}

/// Too many wrong codes: `429` with `Retry-After`.
fn too_many(secs: i64) -> HttpResponse {
    let mut r = views::error(&views::ErrorPage {
        status: 429,
        error: "too_many_attempts",
        description: "Too many wrong codes were entered. Wait a few minutes, then try again.",
    });
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn codes_show_with_a_dash() {
        assert_eq!(shown("BCDFGHJK"), "BCDF-GHJK");
    }
}
