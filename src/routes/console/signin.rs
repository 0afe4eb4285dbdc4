//! Signing in to the console and out of it.
//!
//! - `GET /admin/console/signin`: the token form, and for a signed-in
//!   user either "Continue as …" (admins) or why not; signed-out visitors
//!   get a link to the login page that comes back here.
//! - `POST /admin/console/signin`: the admin token, once, opens a console
//!   session. Wrong tokens count against the client address (the
//!   `[limits] account` policy, shared by every node) and are audited as
//!   refused.
//! - `POST /admin/console/signin/user`: the signed-in admin user opens a
//!   console session (the form carries that user's session token).
//! - `POST /admin/console/signout`: ends the console session on every
//!   node.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use subtle::ConstantTimeEq;

use super::audit;
use super::form::{guard, Form};
use super::render;
use super::session::{self, BASE};
use crate::extract::csrf::{session_csrf, session_csrf_ok};
use crate::extract::session::{client_ip, current_session};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SigninPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
    /// A signed-in admin: their name and their session's form token.
    admin_user: Option<(String, String)>,
    /// A signed-in user without the admin role.
    plain_user: Option<String>,
}

fn signin_page(
    req: &HttpRequest,
    state: &AppState,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let (csrf, cookie) = session::new_signin_csrf(state);
    let (mut admin_user, mut plain_user) = (None, None);
    if let Some((s, u)) = current_session(req, state) {
        if u.is_admin() {
            admin_user = Some((u.username.clone(), session_csrf(&s)));
        } else {
            plain_user = Some(u.username.clone());
        }
    }
    let mut r = crate::views::page(
        status,
        &SigninPage {
            csrf: &csrf,
            error,
            admin_user,
            plain_user,
        },
    );
    let _ = r.add_cookie(&cookie);
    r
}

/// The key the wrong-token limit counts under: the client address.
fn limit_key(req: &HttpRequest) -> String {
    format!("console:{}", client_ip(req))
}

pub async fn signin_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if session::current(&req, &state).is_some() {
        return render::to("", None);
    }
    signin_page(&req, &state, None, StatusCode::OK)
}

pub async fn signin_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let f = match Form::parse(&req, &body) {
        Ok(f) => f,
        Err(e) => return crate::browser::body_error(&req, &e),
    };
    if !session::signin_csrf_ok(&req, &state, f.get("csrf")) {
        return signin_page(
            &req,
            &state,
            Some("The form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let key = limit_key(&req);
    if let Err(secs) = state.limits.account.check(&key) {
        let mut r = signin_page(
            &req,
            &state,
            Some("Too many wrong tokens. Please wait and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        return r;
    }
    let presented = tessera_actors::secret::sha256(f.text("token").as_bytes());
    if !bool::from(presented.ct_eq(&state.admin_token_hash)) {
        state.limits.account.fail(&key);
        let who = audit::who("admin-token", &req);
        if let Err(e) = audit::refused(
            &state,
            &who,
            "console.signin",
            "console",
            "wrong admin token",
        )
        .await
        {
            return render::failed(&e);
        }
        return signin_page(
            &req,
            &state,
            Some("That is not the admin token."),
            StatusCode::UNAUTHORIZED,
        );
    }
    state.limits.account.succeed(&key);
    let (_, cookie) = match session::open(&req, &state, None).await {
        Ok(opened) => opened,
        Err(e) => return render::failed(&e),
    };
    let who = audit::who("admin-token", &req);
    if let Err(e) = audit::ok(&state, &who, "console.signin", "console", "admin token").await {
        return render::failed(&e);
    }
    let mut r = render::to("", Some("signed_in"));
    let _ = r.add_cookie(&cookie);
    r
}

pub async fn signin_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let f = match Form::parse(&req, &body) {
        Ok(f) => f,
        Err(e) => return crate::browser::body_error(&req, &e),
    };
    let Some((s, user)) = current_session(&req, &state) else {
        return crate::browser::see_other(&format!("{BASE}/signin"));
    };
    if !session_csrf_ok(&s, f.get("csrf")) {
        return render::csrf_refused();
    }
    let who = audit::who(format!("user:{}", user.username), &req);
    if !user.is_admin() {
        if let Err(e) =
            audit::refused(&state, &who, "console.signin", "console", "no admin role").await
        {
            return render::failed(&e);
        }
        return signin_page(
            &req,
            &state,
            Some("Your account does not hold the admin role."),
            StatusCode::FORBIDDEN,
        );
    }
    let (_, cookie) = match session::open(&req, &state, Some(&user)).await {
        Ok(opened) => opened,
        Err(e) => return render::failed(&e),
    };
    if let Err(e) = audit::ok(&state, &who, "console.signin", "console", "admin role").await {
        return render::failed(&e);
    }
    let mut r = render::to("", Some("signed_in"));
    let _ = r.add_cookie(&cookie);
    r
}

pub async fn signout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    if let Err(e) = session::close(&state, &c.session).await {
        return render::failed(&e);
    }
    let who = audit::who(c.actor(), &req);
    if let Err(e) = audit::ok(&state, &who, "console.signout", "console", "").await {
        tracing::warn!(code = e.code, "the console sign-out could not be audited");
    }
    let mut r = crate::browser::see_other(&format!("{BASE}/signin"));
    let _ = r.add_cookie(&session::removal_cookie(&state));
    r
}
