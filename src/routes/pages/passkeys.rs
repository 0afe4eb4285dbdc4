//! The signed-in user's passkeys:
//!
//! - `GET /account/passkeys`: the page (list, add, rename, remove), or the
//!   list as JSON for `Accept: application/json`.
//! - `POST /account/passkeys/register/start` and `.../register/finish`
//!   (JSON): add a passkey.
//! - `POST /account/passkeys/rename` and `/account/passkeys/remove` (form
//!   or JSON).
//! - `GET /assets/passkeys.js`: the script the passkey pages run.
//!
//! Every POST carries the session-bound CSRF token (`csrf`). Adding or
//! removing a passkey needs a recent login (`[passkeys] reauth_max_age`):
//! an older session is sent to sign in again, back to this page.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::{RemovePasskeys, RenamePasskey};
use tessera_actors::sessions::Session;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use crate::browser::{see_other, wants_html};
use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::csrf::{session_csrf, session_csrf_ok};
use crate::extract::form::is_form;
use crate::extract::session::current_session;
use crate::passkeys::{json_body, parse_credential, PasskeyView, Started};
use crate::state::AppState;
use crate::views;

const PAGE: &str = "/account/passkeys";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PasskeysQuery {
    /// `added`, `renamed` or `removed` after a change.
    done: Option<String>,
}

/// Start adding a passkey.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterStartBody {
    /// The session-bound CSRF token of the page.
    csrf: Option<String>,
    /// A name for the new passkey (1-64 characters).
    name: String,
}

/// The new credential.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterFinishBody {
    csrf: Option<String>,
    /// The handle `register/start` answered.
    ceremony: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as
    /// WebAuthn JSON (bytes as base64url).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Rename a passkey.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RenameBody {
    csrf: Option<String>,
    /// The credential id.
    id: String,
    name: String,
}

/// Remove a passkey.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RemoveBody {
    csrf: Option<String>,
    /// The credential id.
    id: String,
}

/// What a JSON rename or removal answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeysAnswer {
    passkeys: Vec<PasskeyView>,
}

/// Where to sign in again: the login page, back here.
fn reauth_href(username: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", PAGE);
    q.append_pair("login_hint", username);
    format!("/auth/login?{}", q.finish())
}

fn reauth_required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "reauthentication_required",
        "adding or removing a passkey needs a recent login; sign in again",
    )
}

fn not_signed_in() -> ApiError {
    ApiError::unauthorized("not signed in")
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_token_invalid",
        "the CSRF token is missing or wrong; reload the page",
    )
}

/// A JSON body whose `csrf` (read by `csrf`) is `session`'s token.
fn checked<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    session: &tessera_actors::sessions::Session,
    csrf: fn(&T) -> Option<&str>,
) -> Result<T, ApiError> {
    let b: T = json_body(req, body)?;
    if !session_csrf_ok(session, csrf(&b)) {
        return Err(csrf_refused());
    }
    Ok(b)
}

fn listed(user: &tessera_actors::directory::User) -> Vec<PasskeyView> {
    user.passkeys.iter().map(PasskeyView::new).collect()
}

fn day(secs: i64) -> String {
    tessera_actors::clock::rfc3339(secs)
        .get(..10)
        .unwrap_or_default()
        .to_string()
}

fn page(
    state: &AppState,
    session: &Session,
    user: &tessera_actors::directory::User,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let rows: Vec<views::PasskeyRow> = user
        .passkeys
        .iter()
        .map(|p| views::PasskeyRow {
            id: p.id.clone(),
            name: p.name.clone(),
            created: day(p.created_at),
            last_used: p.last_used_at.map(day),
            kind: if p.backup_eligible {
                "Synced passkey"
            } else {
                "Device-bound passkey"
            },
        })
        .collect();
    let csrf = session_csrf(session);
    let nonce = views::script_nonce();
    let reauth = reauth_href(&user.username);
    let now = state.engine.clock.now();
    let mut resp = views::page(
        status,
        &views::PasskeysPage {
            username: &user.username,
            passkeys: &rows,
            csrf: &csrf,
            nonce: &nonce,
            recent: state.passkeys.recent(session, now),
            reauth_href: &reauth,
            notice,
            error,
            available: state.passkeys.available(),
        },
    );
    views::allow_script(&mut resp, &nonce);
    resp
}

#[utoipa::path(tag = "pages", responses((status = 200, description = "The passkey script", content_type = "text/javascript")))]
#[get("/assets/passkeys.js")]
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(crate::passkeys::SCRIPT)
}

#[utoipa::path(tag = "pages", params(PasskeysQuery), responses(
    (status = 200, description = "The passkeys page; or, for `Accept: application/json`, the list", body = [PasskeyView]),
    (status = 303, description = "A browser that is not signed in: to the login page"),
    (status = 401, description = "JSON: not signed in", body = ErrorBody),
))]
#[get("/account/passkeys")]
#[tracing::instrument(skip_all, fields(session_id))]
pub async fn passkeys_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<PasskeysQuery>,
) -> Result<HttpResponse, ApiError> {
    let html = wants_html(&req);
    let Some((session, user)) = current_session(&req, &state) else {
        if html {
            return Ok(see_other("/auth/login?return_to=%2Faccount%2Fpasskeys"));
        }
        return Err(not_signed_in());
    };
    tracing::Span::current().record("session_id", tracing::field::display(session.id));
    if !html {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(listed(&user)));
    }
    let notice = match q.done.as_deref() {
        Some("added") => Some("The passkey was added."),
        Some("renamed") => Some("The passkey was renamed."),
        Some("removed") => Some("The passkey was removed."),
        _ => None,
    };
    Ok(page(&state, &session, &user, notice, None, StatusCode::OK))
}

#[utoipa::path(tag = "pages", request_body(content = RegisterStartBody, content_type = "application/json"), responses(
    (status = 200, description = "A ceremony handle and the options for `navigator.credentials.create()`", body = Started),
    (status = 400, description = "A malformed body or name", body = ErrorBody),
    (status = 401, description = "Not signed in, or `reauthentication_required`: the login is older than `[passkeys] reauth_max_age`", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 409, description = "The account has the most passkeys allowed", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony or the passkey could not be stored; see Retry-After", body = ErrorBody),
))]
#[post("/account/passkeys/register/start")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn register_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((session, user)) = current_session(&req, &state) else {
        return Err(not_signed_in());
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let b = checked(&req, &body, &session, |b: &RegisterStartBody| {
        b.csrf.as_deref()
    })?;
    let now = state.engine.clock.now();
    if !state.passkeys.recent(&session, now) {
        return Err(reauth_required());
    }
    let name = tessera_actors::directory::passkeys::valid_name(&b.name)?;
    if user.passkeys.len() >= tessera_actors::directory::MAX_PASSKEYS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the account has the most passkeys allowed; remove one first",
        ));
    }
    let s = state
        .passkeys
        .start_registration(&user, &session, name, now)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(s))
}

#[utoipa::path(tag = "pages", request_body(content = RegisterFinishBody, content_type = "application/json"), responses(
    (status = 201, description = "Added", body = PasskeyView),
    (status = 400, description = "A malformed body or credential, a credential that does not verify, or an unknown, used or expired ceremony", body = ErrorBody),
    (status = 401, description = "Not signed in, or `reauthentication_required`", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong", body = ErrorBody),
    (status = 409, description = "The credential is already registered", body = ErrorBody),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The ceremony or the passkey could not be stored; see Retry-After", body = ErrorBody),
))]
#[post("/account/passkeys/register/finish")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn register_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((session, user)) = current_session(&req, &state) else {
        return Err(not_signed_in());
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let b = checked(&req, &body, &session, |b: &RegisterFinishBody| {
        b.csrf.as_deref()
    })?;
    let credential: RegisterPublicKeyCredential = parse_credential(b.credential)?;
    let now = state.engine.clock.now();
    if !state.passkeys.recent(&session, now) {
        return Err(reauth_required());
    }
    let stored = state
        .passkeys
        .finish_registration(&state, &b.ceremony, &user, &session, &credential, now)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(PasskeyView::new(&stored)))
}

/// A signed-in change from the page (a form: `303` back to the page, or a
/// page with the error) or from a script (JSON).
async fn change<B: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
    needs_recent: bool,
    act: impl AsyncFnOnce(
        &AppState,
        &tessera_actors::directory::User,
        B,
    ) -> Result<&'static str, ApiError>,
    csrf_of: impl Fn(&B) -> Option<&str>,
) -> HttpResponse {
    let form = is_form(req);
    let Some((session, user)) = current_session(req, state) else {
        if form {
            return see_other("/auth/login?return_to=%2Faccount%2Fpasskeys");
        }
        return actix_web::ResponseError::error_response(&not_signed_in());
    };
    let fail = |e: ApiError| -> HttpResponse {
        if form {
            page(
                state,
                &session,
                &user,
                None,
                Some(&crate::browser::sentence(&e)),
                e.status,
            )
        } else {
            actix_web::ResponseError::error_response(&e)
        }
    };
    let b: B = match parse_body(req, body) {
        Ok(b) => b,
        Err(e) => return crate::browser::body_error(req, &e),
    };
    if !session_csrf_ok(&session, csrf_of(&b)) {
        if form {
            return views::csrf_refused();
        }
        return actix_web::ResponseError::error_response(&csrf_refused());
    }
    let now = state.engine.clock.now();
    if needs_recent && !state.passkeys.recent(&session, now) {
        if form {
            return see_other(&reauth_href(&user.username));
        }
        return actix_web::ResponseError::error_response(&reauth_required());
    }
    match act(state, &user, b).await {
        Ok(done) if form => see_other(&format!("{PAGE}?done={done}")),
        Ok(_) => {
            let now_user = state.engine.users.get(&user.id).unwrap_or(user);
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(PasskeysAnswer {
                    passkeys: listed(&now_user),
                })
        }
        Err(e) => fail(e),
    }
}

#[utoipa::path(tag = "pages", request_body(content = RenameBody, description = "Form or JSON"), responses(
    (status = 200, description = "JSON: renamed; the passkeys now", body = PasskeysAnswer),
    (status = 303, description = "Form: renamed, back to the page; or not signed in: to the login page"),
    (status = 400, description = "A malformed body, a bad name or an unknown passkey", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 401, description = "JSON: not signed in", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 409, description = "The account changed meanwhile; try again", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The change could not be stored; see Retry-After", content((ErrorBody = "application/json"), (String = "text/html"))),
))]
#[post("/account/passkeys/rename")]
#[tracing::instrument(skip_all)]
pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    change(
        &req,
        &state,
        &body,
        false,
        async |state: &AppState, user: &tessera_actors::directory::User, b: RenameBody| {
            state
                .engine
                .directory
                .send(RenamePasskey {
                    user: user.id,
                    id: b.id,
                    name: b.name,
                })
                .await??;
            Ok("renamed")
        },
        |b: &RenameBody| b.csrf.as_deref(),
    )
    .await
}

#[utoipa::path(tag = "pages", request_body(content = RemoveBody, description = "Form or JSON"), responses(
    (status = 200, description = "JSON: removed; the passkeys now", body = PasskeysAnswer),
    (status = 303, description = "Form: removed, back to the page; a login too old: to sign in again; not signed in: to the login page"),
    (status = 400, description = "A malformed body or an unknown passkey", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 401, description = "JSON: not signed in, or `reauthentication_required`", body = ErrorBody),
    (status = 403, description = "The CSRF token is missing or wrong: nothing done", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 409, description = "The account changed meanwhile; try again", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 503, description = "The change could not be stored; see Retry-After", content((ErrorBody = "application/json"), (String = "text/html"))),
))]
#[post("/account/passkeys/remove")]
#[tracing::instrument(skip_all)]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    change(
        &req,
        &state,
        &body,
        true,
        async |state: &AppState, user: &tessera_actors::directory::User, b: RemoveBody| {
            state
                .engine
                .directory
                .send(RemovePasskeys {
                    user: user.id,
                    id: Some(b.id),
                })
                .await??;
            tracing::info!(user_id = %user.id, "passkey removed by its user");
            Ok("removed")
        },
        |b: &RemoveBody| b.csrf.as_deref(),
    )
    .await
}
