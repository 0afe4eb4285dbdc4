//! `GET /admin/console/keys` (current, next and retired signing keys) and
//! `POST /admin/console/keys/rotate` (rotate now).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use tessera_actors::keys::{KeyInfo, KeyState};

use super::audit;
use super::form::guard;
use super::overview::Done;
use super::render::{self, when, Chrome};
use super::session;
use crate::state::AppState;

struct KeyRow {
    kid: String,
    alg: String,
    state: &'static str,
    created: String,
    activated: String,
    retired: String,
    expires: String,
}

impl KeyRow {
    fn new(k: &KeyInfo) -> KeyRow {
        let opt = |t: Option<i64>| t.map(when).unwrap_or_else(|| "—".into());
        KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_string(),
            state: match k.state {
                KeyState::Current => "current",
                KeyState::Next => "next",
                KeyState::Retired => "retired",
            },
            created: when(k.created_at),
            activated: opt(k.activated_at),
            retired: opt(k.retired_at),
            expires: opt(k.expires_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Done>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let keys = match super::ops::keys::list(&state).await {
        Ok(k) => k,
        Err(e) => return render::failed(&e),
    };
    let chrome = Chrome::new(&c, "keys").notice(render::notice_text(q.done.as_deref()));
    let nonce = chrome.nonce.clone();
    render::page(
        StatusCode::OK,
        &nonce,
        &KeysPage {
            chrome,
            keys: keys.iter().map(KeyRow::new).collect(),
        },
    )
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let who = audit::who(c.actor(), &req);
    match super::ops::keys::rotate(&state, &who).await {
        Ok(_) => render::to("/keys", Some("rotated")),
        Err(e) => render::failed(&e),
    }
}
