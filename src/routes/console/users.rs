//! Users: `GET /admin/console/users` (list and search), `GET /users/{id}`
//! (status, roles, second factors, live sessions) and its actions:
//! enable or disable, reset TOTP, remove passkeys, end every session,
//! grant or revoke the admin role, end one session.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use tessera_actors::directory::{UserStatus, ADMIN_ROLE};

use super::audit;
use super::form::guard;
use super::ops::users;
use super::render::{self, when, Chrome};
use super::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    done: Option<String>,
}

pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub active: bool,
    pub admin: bool,
    pub totp: bool,
    pub passkeys: usize,
    pub sessions: usize,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    rows: Vec<UserRow>,
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let search = q.q.clone().unwrap_or_default();
    let admins_only = search.trim() == "role:admin";
    let found = users::list(
        &state,
        Some(search.as_str()).filter(|s| !s.is_empty() && !admins_only),
    );
    let mut rows: Vec<UserRow> = found
        .iter()
        .filter(|u| !admins_only || u.is_admin())
        .map(|u| UserRow {
            id: u.id.to_string(),
            username: u.username.clone(),
            email: u.email.clone(),
            active: u.status == UserStatus::Active,
            admin: u.is_admin(),
            totp: u.totp_enabled(),
            passkeys: u.passkeys.len(),
            sessions: state.engine.sessions.of_user(&u.id).len(),
        })
        .collect();
    rows.sort_by(|a, b| a.username.cmp(&b.username));
    let chrome = Chrome::new(&c, "users").notice(render::notice_text(q.done.as_deref()));
    let nonce = chrome.nonce.clone();
    render::page(
        StatusCode::OK,
        &nonce,
        &ListPage {
            chrome,
            q: search,
            rows,
        },
    )
}

pub struct SessionRow {
    pub id: String,
    pub created: String,
    pub last_seen: String,
    pub ip: String,
    pub agent: String,
    pub amr: String,
    pub console: bool,
}

impl SessionRow {
    pub fn new(s: &tessera_actors::sessions::Session) -> SessionRow {
        let ua = &s.user_agent;
        let agent = match (&ua.browser.name, &ua.os.name) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.clone(),
            _ => ua.ua.chars().take(60).collect(),
        };
        SessionRow {
            id: s.id.to_string(),
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            ip: s.ip.clone(),
            agent,
            amr: s.amr.join(" "),
            console: s.amr.first().map(String::as_str) == Some(session::MARK),
        }
    }
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    chrome: Chrome,
    u: UserRow,
    name: String,
    created: String,
    roles: String,
    sessions: Vec<SessionRow>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<ListQuery>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let u = match users::get(&state, &path) {
        Ok(u) => u,
        Err(e) => return render::failed(&e),
    };
    let sessions = users::sessions(&state, &path).unwrap_or_default();
    let chrome = Chrome::new(&c, "users").notice(render::notice_text(q.done.as_deref()));
    let nonce = chrome.nonce.clone();
    render::page(
        StatusCode::OK,
        &nonce,
        &UserPage {
            chrome,
            u: UserRow {
                id: u.id.to_string(),
                username: u.username.clone(),
                email: u.email.clone(),
                active: u.status == UserStatus::Active,
                admin: u.is_admin(),
                totp: u.totp_enabled(),
                passkeys: u.passkeys.len(),
                sessions: sessions.len(),
            },
            name: u.name.clone().unwrap_or_default(),
            created: when(u.created_at),
            roles: u.roles.join(", "),
            sessions: sessions.iter().map(|s| SessionRow::new(s)).collect(),
        },
    )
}

/// `POST /admin/console/users/{id}/{action}`.
pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, form) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let (id, action) = path.into_inner();
    let who = audit::who(c.actor(), &req);
    let done = match action.as_str() {
        "enable" | "disable" => {
            let changes = users::UserChanges {
                status: Some(
                    if action == "enable" {
                        "active"
                    } else {
                        "disabled"
                    }
                    .into(),
                ),
                ..Default::default()
            };
            users::update(&state, &who, &id, changes)
                .await
                .map(|_| "user_saved")
        }
        "totp" => users::reset_totp(&state, &who, &id)
            .await
            .map(|_| "totp_reset"),
        "passkeys" => crate::routes::admin::passkeys::remove_passkeys(&state, &who, &id, None)
            .await
            .map(|_| "passkeys_removed"),
        "sessions" => users::end_sessions(&state, &who, &id)
            .await
            .map(|_| "sessions_ended"),
        "grant-admin" | "revoke-admin" => match users::get(&state, &id) {
            Ok(u) => {
                let mut roles: Vec<String> = u
                    .roles
                    .iter()
                    .filter(|r| *r != ADMIN_ROLE)
                    .cloned()
                    .collect();
                if action == "grant-admin" {
                    roles.push(ADMIN_ROLE.into());
                }
                users::set_roles(&state, &who, &id, roles).await.map(|_| {
                    if action == "grant-admin" {
                        "role_granted"
                    } else {
                        "role_revoked"
                    }
                })
            }
            Err(e) => Err(e),
        },
        "end-session" => {
            let sid = form.text("session");
            super::ops::sessions::end(&state, &who, &sid)
                .await
                .map(|_| "session_ended")
        }
        _ => Err(crate::error::ApiError::not_found("no such action")),
    };
    match done {
        Ok(notice) => render::to(&format!("/users/{id}"), Some(notice)),
        Err(e) => render::failed(&e),
    }
}
