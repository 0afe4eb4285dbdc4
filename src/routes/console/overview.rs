//! `GET /admin/console`: counts of what the server holds, the signing
//! key in use, and the latest audit records.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::render::{self, Chrome};
use super::session;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    /// (label, count, section path)
    stats: Vec<(&'static str, usize, &'static str)>,
    issuer: String,
    current_kid: String,
    node: String,
    /// The latest audit records: (time, actor, via, action, target, outcome).
    recent: Vec<[String; 6]>,
}

pub async fn overview(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Done>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let e = &state.engine;
    let users = e.users.list();
    let admins = users.iter().filter(|u| u.is_admin()).count();
    let stats = vec![
        ("Clients", e.clients.len(), "/clients"),
        ("Users", users.len(), "/users"),
        ("Admins", admins, "/users?q=role:admin"),
        ("Live sessions", e.sessions.len(), "/sessions"),
        ("Tokens held", e.tokens.len(), "/tokens"),
        ("Entities", e.entities.len(), "/entities"),
    ];
    let current_kid = e
        .keys
        .signer()
        .map(|s| s.kid.clone())
        .unwrap_or_else(|| "none".into());
    let node = match &state.cluster {
        Some(cl) => format!("cluster node {}", cl.node_id()),
        None => "single node".into(),
    };
    let recent = super::ops::audit::list(
        &state,
        super::ops::audit::AuditFilter {
            limit: Some(8),
            ..Default::default()
        },
    )
    .await
    .map(|p| {
        p.records
            .into_iter()
            .map(|r| {
                [
                    r.time,
                    r.actor,
                    r.via,
                    r.action,
                    r.target.unwrap_or_default(),
                    r.outcome,
                ]
            })
            .collect()
    })
    .unwrap_or_default();
    let chrome = Chrome::new(&c, "overview").notice(render::notice_text(q.done.as_deref()));
    let nonce = chrome.nonce.clone();
    render::page(
        StatusCode::OK,
        &nonce,
        &OverviewPage {
            chrome,
            stats,
            issuer: e.config.issuer.clone(),
            current_kid,
            node,
            recent,
        },
    )
}
