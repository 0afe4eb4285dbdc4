//! `GET /admin/audit`: the audit log, newest first (see
//! [`super::ops::audit`]).

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ops;
use super::ops::audit::{AuditFilter, AuditPageView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// The `next` of the previous page: only older records.
    pub before: Option<String>,
    /// Records per page, 1-500 (default 50).
    pub limit: Option<usize>,
    /// Only this actor's records (`admin-token`, a username, `cli:<user>`).
    pub actor: Option<String>,
    /// Only this action, or those under it (`client` matches
    /// `client.create` and `client.secret.rotate`).
    pub action: Option<String>,
}

#[utoipa::path(tag = "admin", params(AuditParams), responses(
    (status = 200, description = "A page of the audit log, newest first", body = AuditPageView),
    (status = 400, description = "A malformed cursor or limit", body = ErrorBody),
    (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/audit")]
#[tracing::instrument(skip_all)]
pub async fn list_audit(
    _: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = ops::audit::list(
        &state,
        AuditFilter {
            before: q.before,
            limit: q.limit,
            actor: q.actor,
            action: q.action,
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(page))
}
