//! Clients: `GET /admin/console/clients` (list and search), `/new` and
//! `POST /admin/console/clients` (create), `GET|POST /clients/{id}` (see
//! and edit every field of the spec), `POST /clients/{id}/secret` (rotate
//! the secret, shown once) and `POST /clients/{id}/delete`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::client_form::{ClientForm, GRANTS, METHODS};
use super::form::guard;
use super::render::{self, matches, when, Chrome};
use super::session::{self, Console};
use super::{audit, ops};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    done: Option<String>,
}

struct Row {
    id: String,
    name: String,
    grants: String,
    scope: String,
    public: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    rows: Vec<Row>,
    total: usize,
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
    let all = state.engine.clients.list();
    let mut rows: Vec<Row> = all
        .iter()
        .filter(|cl| matches(&search, &[&cl.client_id, &cl.name, &cl.scope.to_string()]))
        .map(|cl| Row {
            id: cl.client_id.clone(),
            name: cl.name.clone(),
            grants: cl
                .grant_types
                .iter()
                .map(|g| {
                    g.as_str()
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(", "),
            scope: cl.scope.to_string(),
            public: cl.is_public(),
            created: when(cl.created_at),
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let chrome = Chrome::new(&c, "clients").notice(render::notice_text(q.done.as_deref()));
    let nonce = chrome.nonce.clone();
    render::page(
        StatusCode::OK,
        &nonce,
        &ListPage {
            chrome,
            q: search,
            rows,
            total: all.len(),
        },
    )
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct ClientPage {
    chrome: Chrome,
    /// `None` for a new client.
    id: Option<String>,
    f: ClientForm,
    grants: &'static [(&'static str, &'static str)],
    methods: &'static [(&'static str, &'static str)],
    /// The secret, shown once after create or rotate.
    secret: Option<String>,
    created: String,
    builtin: bool,
}

#[allow(clippy::too_many_arguments)]
fn client_page(
    c: &Console,
    state: &AppState,
    id: Option<String>,
    f: ClientForm,
    secret: Option<String>,
    error: Option<String>,
    notice: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let existing = id.as_deref().and_then(|i| state.engine.clients.get(i));
    let chrome = Chrome::new(c, "clients").error(error).notice(notice);
    let nonce = chrome.nonce.clone();
    let builtin = id.as_deref() == Some(state.engine.config.accounts.client_id.as_str());
    render::page(
        status,
        &nonce,
        &ClientPage {
            chrome,
            id,
            f,
            grants: GRANTS,
            methods: METHODS,
            secret,
            created: existing.map(|e| when(e.created_at)).unwrap_or_default(),
            builtin,
        },
    )
}

pub async fn new_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    client_page(
        &c,
        &state,
        None,
        ClientForm::blank(),
        None,
        None,
        None,
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<Done>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let Some(client) = state.engine.clients.get(&path) else {
        return render::failed(&crate::error::ApiError::not_found("no such client"));
    };
    client_page(
        &c,
        &state,
        Some(client.client_id.clone()),
        ClientForm::of(&client),
        None,
        None,
        render::notice_text(q.done.as_deref()),
        StatusCode::OK,
    )
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, form) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let typed = ClientForm::typed(&form);
    let spec = match typed.spec(true) {
        Ok(s) => s,
        Err(e) => {
            let msg = crate::browser::sentence(&e);
            return client_page(&c, &state, None, typed, None, Some(msg), None, e.status);
        }
    };
    let who = audit::who(c.actor(), &req);
    match ops::clients::create(&state, &who, spec).await {
        Ok((client, secret)) => client_page(
            &c,
            &state,
            Some(client.client_id.clone()),
            ClientForm::of(&client),
            secret,
            None,
            Some("The client was created."),
            StatusCode::CREATED,
        ),
        Err(e) => {
            let msg = crate::browser::sentence(&e);
            client_page(&c, &state, None, typed, None, Some(msg), None, e.status)
        }
    }
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, form) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let id = path.into_inner();
    let typed = ClientForm::typed(&form);
    let result = match typed.spec(false) {
        Ok(spec) => {
            let who = audit::who(c.actor(), &req);
            ops::clients::update(&state, &who, &id, spec).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((client, secret)) => client_page(
            &c,
            &state,
            Some(client.client_id.clone()),
            ClientForm::of(&client),
            secret,
            None,
            render::notice_text(Some("client_saved")),
            StatusCode::OK,
        ),
        Err(e) => {
            let msg = crate::browser::sentence(&e);
            client_page(&c, &state, Some(id), typed, None, Some(msg), None, e.status)
        }
    }
}

pub async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let id = path.into_inner();
    let who = audit::who(c.actor(), &req);
    match ops::clients::rotate_secret(&state, &who, &id).await {
        Ok(secret) => match state.engine.clients.get(&id) {
            Some(client) => client_page(
                &c,
                &state,
                Some(id),
                ClientForm::of(&client),
                Some(secret),
                None,
                Some("A new secret was made; the old one no longer works."),
                StatusCode::OK,
            ),
            None => render::to("/clients", None),
        },
        Err(e) => render::failed(&e),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let who = audit::who(c.actor(), &req);
    match ops::clients::delete(&state, &who, &path).await {
        Ok(()) => render::to("/clients", Some("client_deleted")),
        Err(e) => render::failed(&e),
    }
}
