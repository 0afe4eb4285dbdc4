//! The server's state, read through the operations: the mail queue with
//! its dead letters (retry or drop one) and the back-channel logout
//! deliveries, the cluster's nodes and lag, and the audit log (newest
//! first, filtered, paged).

use actix_web::{web, HttpRequest, HttpResponse};
use tessera_actors::mailer::DeadLetter;

use super::audit;
use super::form::guard;
use super::listings::{blank, draw, table, Query, RowAction};
use super::ops;
use super::render;
use super::session;
use crate::state::AppState;

pub async fn mail(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let mut p = blank(&c, "Mail", "The outbound mail queue (retried with backoff; dead letters gave up) and the back-channel logout deliveries to clients.");
    match ops::mail::list_mail(&state).await {
        Ok(m) => {
            let mut t = table(
                format!("Mail queue ({})", m.len()),
                &m,
                &[
                    "state",
                    "to",
                    "subject",
                    "attempts",
                    "created_at",
                    "next_attempt_at",
                    "last_error",
                ],
            );
            // Dead letters can be queued again or dropped.
            for (row, mail) in t.rows.iter_mut().zip(&m) {
                if mail.state == "dead" {
                    for (verb, label, confirm) in [
                        ("retry", "Retry", "Queue this message again?"),
                        ("drop", "Drop", "Drop this message for good?"),
                    ] {
                        row.acts.push(RowAction {
                            action: format!("/admin/console/mail/{}/{verb}", mail.id),
                            label,
                            confirm,
                            hidden: Vec::new(),
                        });
                    }
                }
            }
            p.tables.push(t);
        }
        Err(e) => p.intro = crate::browser::sentence(&e),
    }
    if let Ok(d) = ops::mail::list_logout_deliveries(&state).await {
        p.tables.push(table(
            format!("Back-channel logout deliveries ({})", d.len()),
            &d,
            &[
                "state",
                "client_id",
                "sub",
                "attempts",
                "created_at",
                "next_attempt_at",
                "last_error",
            ],
        ));
    }
    draw(&c, "mail", &q, p)
}

/// `POST /admin/console/mail/{id}/retry|drop`: a dead letter.
pub async fn dead_letter(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (c, _) = match guard(&req, &state, &body) {
        Ok(g) => g,
        Err(r) => return *r,
    };
    let (id, verb) = path.into_inner();
    let (what, notice) = match verb.as_str() {
        "retry" => (DeadLetter::Retry, "mail_retried"),
        "drop" => (DeadLetter::Discard, "mail_dropped"),
        _ => return render::failed(&crate::error::ApiError::not_found("no such action")),
    };
    let who = audit::who(c.actor(), &req);
    match ops::mail::dead_letter(&state, &who, &id, what).await {
        Ok(()) => render::to("/mail", Some(notice)),
        Err(e) => render::failed(&e),
    }
}

pub async fn cluster(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let mut p = blank(&c, "Cluster", "");
    match ops::cluster::status(&state).await {
        Ok(s) => {
            if !s.clustered {
                p.intro = "This server runs as a single node (no [cluster] on PostgreSQL).".into();
            }
            p.facts = vec![
                (
                    "This node".into(),
                    s.node_id.clone().unwrap_or_else(|| "—".into()),
                ),
                (
                    "Serving".into(),
                    if s.serving {
                        "yes".into()
                    } else {
                        s.not_serving.clone().unwrap_or_else(|| "no".into())
                    },
                ),
                (
                    "Revocation mode".into(),
                    s.revocation.clone().unwrap_or_else(|| "—".into()),
                ),
            ];
            p.tables.push(table(
                "Nodes",
                &s.nodes,
                &[
                    "node_id",
                    "live",
                    "ready",
                    "applied_seq",
                    "lag_events",
                    "heartbeat_age_seconds",
                    "up_seconds",
                ],
            ));
        }
        Err(e) => p.intro = crate::browser::sentence(&e),
    }
    draw(&c, "cluster", &q, p)
}

pub async fn audit_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<Query>,
) -> HttpResponse {
    let Some(c) = session::current(&req, &state) else {
        return render::to_signin();
    };
    let mut p = blank(&c, "Audit log", "Every administrative action, newest first: who, through what, from where, and whether it was done or refused.");
    let actor = q.actor.clone().unwrap_or_default();
    let action = q.action.clone().unwrap_or_default();
    p.search = vec![
        ("actor", actor.clone(), "Actor (admin-token, user:name)"),
        (
            "action",
            action.clone(),
            "Action or prefix (client, user.roles)",
        ),
    ];
    let filter = ops::audit::AuditFilter {
        before: q.before.clone(),
        limit: Some(50),
        actor: Some(actor).filter(|a| !a.is_empty()),
        action: Some(action).filter(|a| !a.is_empty()),
    };
    match ops::audit::list(&state, filter).await {
        Ok(page) => {
            p.tables.push(table(
                "Records",
                &page.records,
                &[
                    "time", "actor", "via", "ip", "action", "target", "outcome", "detail",
                ],
            ));
            p.next = page.next.map(|n| {
                let mut s = form_urlencoded::Serializer::new(String::new());
                s.append_pair("before", &n);
                if let Some(a) = &q.actor {
                    s.append_pair("actor", a);
                }
                if let Some(a) = &q.action {
                    s.append_pair("action", a);
                }
                format!("/admin/console/audit?{}", s.finish())
            });
        }
        Err(e) => p.intro = crate::browser::sentence(&e),
    }
    draw(&c, "audit", &q, p)
}
