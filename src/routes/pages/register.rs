//! `GET|POST /auth/register` (start a registration: a code is mailed) and
//! `GET|POST /auth/register/code` (redeem it: the account is active and the
//! browser is signed in).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tessera_actors::flows::FlowError;

use crate::browser::{body_error, retry_after, see_other, sentence};
use crate::browser::{open_session, return_to_form_targets, safe_return_to};
use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::csrf::{csrf_ok, new_csrf_cookie};
use crate::extract::session::{client_ip, session_cookie};
use crate::state::AppState;
use crate::views;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// Where to continue once the account is active (a local path).
    return_to: Option<String>,
    /// The OAuth client the account is for.
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// The registration form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterForm {
    username: String,
    email: String,
    password: String,
    /// Must equal `password` when present.
    password_confirm: Option<String>,
    return_to: Option<String>,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
    /// The page's CSRF token.
    csrf: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeQuery {
    /// Pre-fills the address.
    email: Option<String>,
    /// Where to continue once the account is active (a local path).
    return_to: Option<String>,
}

/// The code form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CodeForm {
    email: String,
    /// The six digits from the mail.
    code: String,
    return_to: Option<String>,
    /// The page's CSRF token.
    csrf: Option<String>,
}

struct RegisterFields<'a> {
    username: &'a str,
    email: &'a str,
    return_to: &'a str,
    application_id: Option<&'a str>,
}

fn register_page(
    state: &AppState,
    f: &RegisterFields,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, cookie) = new_csrf_cookie(state);
    let mut q = form_urlencoded::Serializer::new(String::new());
    if !f.return_to.is_empty() {
        q.append_pair("return_to", f.return_to);
    }
    if let Some(app) = f.application_id {
        q.append_pair("applicationId", app);
    }
    let login_href = format!("/auth/login?{}", q.finish());
    let mut r = views::page(
        status,
        &views::RegisterPage {
            username: f.username,
            email: f.email,
            return_to: f.return_to,
            application_id: f.application_id,
            error,
            csrf: &csrf,
            login_href: &login_href,
        },
    );
    let _ = r.add_cookie(&cookie);
    r
}

/// The form again, saying what went wrong.
fn form_error(state: &AppState, f: &RegisterFields, e: ApiError) -> HttpResponse {
    let page = register_page(state, f, Some(&sentence(&e)), e.status);
    retry_after(page, &e)
}

fn code_page(
    state: &AppState,
    email: &str,
    return_to: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, cookie) = new_csrf_cookie(state);
    let mut r = views::page(
        status,
        &views::RegisterCodePage {
            email,
            return_to,
            error,
            csrf: &csrf,
        },
    );
    // Signing in may continue straight to a client's redirect URI.
    views::allow_form_targets(&mut r, &return_to_form_targets(state, Some(return_to)));
    let _ = r.add_cookie(&cookie);
    r
}

fn disabled_page(e: FlowError) -> HttpResponse {
    views::api_error(&ApiError::from(e))
}

#[utoipa::path(tag = "pages", params(RegisterQuery), responses(
    (status = 200, description = "The registration form", content_type = "text/html"),
    (status = 403, description = "Registration is disabled", content_type = "text/html"),
))]
#[get("/auth/register")]
#[tracing::instrument(skip_all, fields(application_id = q.application_id.as_deref()))]
pub async fn register_page_get(
    state: web::Data<AppState>,
    q: web::Query<RegisterQuery>,
) -> HttpResponse {
    if let Err(e) = state.engine.registration_open() {
        return disabled_page(e);
    }
    let fields = RegisterFields {
        username: "",
        email: "",
        return_to: safe_return_to(q.return_to.as_deref()).unwrap_or(""),
        application_id: q.application_id.as_deref(),
    };
    register_page(&state, &fields, None, StatusCode::OK)
}

#[utoipa::path(tag = "pages", request_body(content = RegisterForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "A code was mailed: to `/auth/register/code`"),
    (status = 400, description = "A missing or invalid field, or the passwords differ: the form again (a body that cannot be read: JSON, or a page for a browser)", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 403, description = "The CSRF token is missing or wrong (the form again, nothing done), or registration is disabled", content_type = "text/html"),
    (status = 409, description = "The username is taken: the form again", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 429, description = "Too many requests; see Retry-After", content_type = "text/html"),
    (status = 503, description = "The password pool is saturated; see Retry-After", content_type = "text/html"),
))]
#[post("/auth/register")]
#[tracing::instrument(skip_all)]
pub async fn register_page_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(e) = state.engine.registration_open() {
        return disabled_page(e);
    }
    let f: RegisterForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    let email = f.email.trim().to_string();
    let return_to = safe_return_to(f.return_to.as_deref()).unwrap_or("");
    let fields = RegisterFields {
        username: &f.username,
        email: &email,
        return_to,
        application_id: f.application_id.as_deref(),
    };
    if !csrf_ok(&req, f.csrf.as_deref()) {
        return register_page(
            &state,
            &fields,
            Some("The form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    if f.password_confirm
        .as_deref()
        .is_some_and(|c| c != f.password)
    {
        return register_page(
            &state,
            &fields,
            Some("The two passwords differ."),
            StatusCode::BAD_REQUEST,
        );
    }
    // A client that cannot be used is the request's fault, not the form's.
    let r = match state.engine.check_registration(
        f.application_id.as_deref(),
        f.username.clone(),
        &email,
        f.password,
    ) {
        Ok(r) => r,
        Err(e @ (FlowError::UnknownApplication | FlowError::Unavailable(_))) => {
            return body_error(&req, &e.into())
        }
        Err(e) => return form_error(&state, &fields, e.into()),
    };
    if let Err(e) = state.account_mail.check_send(&client_ip(&req), r.email()) {
        return form_error(&state, &fields, e);
    }
    if let Err(e) = state
        .engine
        .start_registration(r, &state.account_mail)
        .await
    {
        return form_error(&state, &fields, e.into());
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("email", &email);
    if !return_to.is_empty() {
        q.append_pair("return_to", return_to);
    }
    see_other(&format!("/auth/register/code?{}", q.finish()))
}

#[utoipa::path(tag = "pages", params(CodeQuery), responses(
    (status = 200, description = "The code form", content_type = "text/html"),
    (status = 403, description = "Registration is disabled", content_type = "text/html"),
))]
#[get("/auth/register/code")]
#[tracing::instrument(skip_all)]
pub async fn code_page_get(state: web::Data<AppState>, q: web::Query<CodeQuery>) -> HttpResponse {
    if let Err(e) = state.engine.registration_open() {
        return disabled_page(e);
    }
    let email = q.email.as_deref().unwrap_or("").trim();
    let email = if email.len() <= 254 { email } else { "" };
    let return_to = safe_return_to(q.return_to.as_deref()).unwrap_or("");
    code_page(&state, email, return_to, None, StatusCode::OK)
}

#[utoipa::path(tag = "pages", request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "The account is active and this browser signed in: to `return_to`, else `/account`"),
    (status = 400, description = "A missing field, or the code is wrong, used or expired: the form again (a body that cannot be read: JSON, or a page for a browser)", content((ErrorBody = "application/json"), (String = "text/html"))),
    (status = 403, description = "The CSRF token is missing or wrong (the form again, nothing done), or registration is disabled", content_type = "text/html"),
    (status = 413, description = "The body exceeds 64 KiB", body = ErrorBody),
    (status = 429, description = "Too many wrong codes; see Retry-After", content_type = "text/html"),
    (status = 500, description = "The session could not be opened", content_type = "text/html"),
))]
#[post("/auth/register/code")]
#[tracing::instrument(skip_all)]
pub async fn code_page_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(e) = state.engine.registration_open() {
        return disabled_page(e);
    }
    let f: CodeForm = match parse_body(&req, &body) {
        Ok(f) => f,
        Err(e) => return body_error(&req, &e),
    };
    let email = f.email.trim();
    let return_to = safe_return_to(f.return_to.as_deref()).unwrap_or("");
    if !csrf_ok(&req, f.csrf.as_deref()) {
        return code_page(
            &state,
            email,
            return_to,
            Some("The form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let ip = client_ip(&req);
    let redeemed = match state.account_mail.check_verify(&ip) {
        Ok(()) => state
            .engine
            .redeem_registration(email, f.code.trim().to_string())
            .await
            .map_err(|e| {
                if matches!(e, FlowError::InvalidCode(_)) {
                    state.account_mail.verify_failed(&ip);
                }
                ApiError::from(e)
            }),
        Err(e) => Err(e),
    };
    let (user, client) = match redeemed {
        Ok(done) => done,
        Err(e) => {
            let page = code_page(&state, email, return_to, Some(&sentence(&e)), e.status);
            return retry_after(page, &e);
        }
    };
    metrics::counter!("tessera_registrations_total", "api" => "page").increment(1);
    tracing::info!(user = %user.id, "registration completed in the browser");
    let (session, secret) =
        match open_session(&req, &state, &user, Some(client.client_id.clone())).await {
            Ok(s) => s,
            Err(e) => return views::api_error(&e),
        };
    let target = if return_to.is_empty() {
        "/account"
    } else {
        return_to
    };
    let mut r = see_other(target);
    let _ = r.add_cookie(&session_cookie(&state, &secret, &session));
    r
}
