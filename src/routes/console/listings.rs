//! The read-mostly sections, drawn as tables from what the operations
//! list: live sessions (end one), entities and their API keys (revoke
//! one), the mail queue and back-channel logout deliveries, the cluster's
//! nodes and lag, and the audit log (newest first, filtered).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::audit;
use super::form::guard;
use super::ops;
use super::render::{self, when, Chrome};
use super::session::{self, Console};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Query {
    pub q: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub before: Option<String>,
    pub done: Option<String>,
}

/// A button posting `hidden` fields to `action`.
pub struct RowAction {
    pub action: String,
    pub label: &'static str,
    pub confirm: &'static str,
    pub hidden: Vec<(&'static str, String)>,
}

pub struct Row {
    pub cells: Vec<String>,
    pub acts: Vec<RowAction>,
}

pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "console/listing.html")]
pub struct ListingPage {
    pub chrome: Chrome,
    pub title: &'static str,
    pub intro: String,
    /// `(field, value, placeholder)` of the search form's inputs.
    pub search: Vec<(&'static str, String, &'static str)>,
    /// Key facts above the tables.
    pub facts: Vec<(String, String)>,
    pub tables: Vec<Table>,
    pub next: Option<String>,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A table of serialised records: one column per field, in the order
/// the first record has them (or `columns` when given).
pub fn table<T: serde::Serialize>(
    title: impl Into<String>,
    items: &[T],
    columns: &[&str],
) -> Table {
    let values: Vec<Value> = items
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect();
    let headers: Vec<String> = if columns.is_empty() {
        values
            .first()
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        columns.iter().map(|c| c.to_string()).collect()
    };
    let rows = values
        .iter()
        .map(|v| Row {
            cells: headers.iter().map(|h| cell(&v[h.as_str()])).collect(),
            acts: Vec::new(),
        })
        .collect();
    Table {
        title: title.into(),
        headers,
        rows,
    }
}

pub fn draw(c: &Console, section: &'static str, q: &Query, mut p: ListingPage) -> HttpResponse {
    p.chrome = Chrome::new(c, section).notice(render::notice_text(q.done.as_deref()));
    let nonce = p.chrome.nonce.clone();
    render::page(StatusCode::OK, &nonce, &p)
}

pub fn blank(c: &Console, title: &'static str, intro: &str) -> ListingPage {
    ListingPage {
        chrome: Chrome::new(c, "overview"),
        title,
        intro: intro.into(),
        search: Vec::new(),
        facts: Vec::new(),
        tables: Vec::new(),
        next: None,
    }
}

pub async fn sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let search = q.q.clone().unwrap_or_default();
    let mut p = blank(
        &c,
        "Sessions",
        "Live browser sessions, newest first, by user. Ending one signs that browser out at once.",
    );
    p.search = vec![("q", search.clone(), "Username or e-mail")];
    let mut rows = Vec::new();
    for u in ops::users::list(&state, Some(search.as_str()).filter(|s| !s.is_empty())) {
        for s in ops::users::sessions(&state, &u.id.to_string()).unwrap_or_default() {
            let r = super::users::SessionRow::new(&s);
            rows.push((
                s.created_at,
                Row {
                    cells: vec![
                        u.username.clone(),
                        r.created,
                        r.last_seen,
                        r.ip,
                        r.agent,
                        r.amr,
                    ],
                    acts: vec![RowAction {
                        action: "/admin/console/sessions/end".into(),
                        label: "End",
                        confirm: "End this session?",
                        hidden: vec![("session", r.id)],
                    }],
                },
            ));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    p.tables.push(Table {
        title: format!("{} live", rows.len()),
        headers: [
            "User",
            "Started",
            "Last seen",
            "Address",
            "Browser",
            "Methods",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    });
    draw(&c, "sessions", &q, p)
}

pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, form) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let who = audit::who(c.actor(), &req);
    match ops::sessions::end(&state, &who, &form.text("session")).await {
        Ok(()) => render::to("/sessions", Some("session_ended")),
        Err(e) => render::failed(&e),
    }
}

pub async fn entities(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let mut p = blank(&c, "Entities and API keys", "Entities (teams, services) hold members and API keys. A key's secret is shown only when it is made (admin API or CLI); here keys are listed and revoked.");
    let list = ops::entities::list(&state);
    let views: Vec<_> = list
        .iter()
        .map(|e| crate::routes::admin::entities::EntityView::new(&state, e))
        .collect();
    p.tables.push(table("Entities", &views, &[]));
    for e in &list {
        let keys = ops::entities::api_keys(&state, &e.id.to_string()).unwrap_or_default();
        let mut t = Table {
            title: format!("API keys of {}", e.name),
            headers: ["Key id", "Name", "Created", "Last used"]
                .map(String::from)
                .to_vec(),
            rows: Vec::new(),
        };
        for k in keys {
            t.rows.push(Row {
                cells: vec![
                    k.id.to_string(),
                    k.name.clone(),
                    when(k.created_at),
                    k.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                ],
                acts: vec![RowAction {
                    action: format!("/admin/console/entities/{}/apikeys/{}/revoke", e.id, k.id),
                    label: "Revoke",
                    confirm: "Revoke this API key? Its holder is refused at once.",
                    hidden: Vec::new(),
                }],
            });
        }
        p.tables.push(t);
    }
    draw(&c, "entities", &q, p)
}

pub async fn revoke_api_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let (entity, key) = path.into_inner();
    let who = audit::who(c.actor(), &req);
    match ops::entities::revoke_api_key(&state, &who, &entity, &key).await {
        Ok(_) => render::to("/entities", Some("apikey_revoked")),
        Err(e) => render::failed(&e),
    }
}
