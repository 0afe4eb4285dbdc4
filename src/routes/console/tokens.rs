//! Tokens: `GET /admin/console/tokens?q=` looks a token up by its value
//! or its `jti` and shows it as introspection would;
//! `POST /admin/console/tokens/revoke` revokes the token or its whole
//! grant (`what=token|grant`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::audit;
use super::form::guard;
use super::ops::tokens::{self, TokenRef};
use super::render::{self, Chrome};
use super::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Query {
    q: Option<String>,
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    q: String,
    /// Whether a lookup was made.
    searched: bool,
    found: bool,
    /// The fields of the token record and of its introspection.
    fields: Vec<(String, String)>,
    introspection: String,
    grant_id: Option<String>,
    active: bool,
}

/// A `jti` is a UUID; anything else is the token itself.
fn reference(q: &str) -> TokenRef {
    if uuid::Uuid::parse_str(q).is_ok() {
        TokenRef::Jti(q.to_string())
    } else {
        TokenRef::Token(q.to_string())
    }
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let query = q.q.clone().unwrap_or_default().trim().to_string();
    let mut chrome = Chrome::new(&c, "tokens").notice(render::notice_text(q.done.as_deref()));
    let mut page = TokensPage {
        chrome: Chrome::new(&c, "tokens"),
        q: query.clone(),
        searched: !query.is_empty(),
        found: false,
        fields: Vec::new(),
        introspection: String::new(),
        grant_id: None,
        active: false,
    };
    if !query.is_empty() {
        match tokens::lookup(&state, &reference(&query)).await {
            Ok(l) => {
                page.found = l.found;
                page.active = l.introspection.get("active") == Some(&serde_json::Value::Bool(true));
                page.introspection =
                    serde_json::to_string_pretty(&l.introspection).unwrap_or_default();
                page.grant_id = l.grant_id.clone();
                if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&l) {
                    page.fields = m
                        .into_iter()
                        .filter(|(k, _)| k != "introspection" && k != "found")
                        .map(|(k, v)| {
                            let v = match v {
                                serde_json::Value::Number(n) if k == "iat" || k == "exp" => {
                                    n.as_i64().map(render::when).unwrap_or_default()
                                }
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            (k, v)
                        })
                        .collect();
                }
            }
            Err(e) => chrome = chrome.error(Some(crate::browser::sentence(&e))),
        }
    }
    page.chrome = chrome;
    let nonce = page.chrome.nonce.clone();
    render::page(StatusCode::OK, &nonce, &page)
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, form) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let who = audit::who(c.actor(), &req);
    let (what, notice) = match form.text("what").as_str() {
        "grant" => (TokenRef::Grant(form.text("grant")), "grant_revoked"),
        _ => (reference(&form.text("token")), "token_revoked"),
    };
    match tokens::revoke(&state, &who, &what).await {
        Ok(_) => render::to("/tokens", Some(notice)),
        Err(e) => render::failed(&e),
    }
}
