//! `/admin/mail`, `/admin/logout-deliveries`, `/admin/cluster`: what the
//! server is doing in the background (see [`super::ops::mail`] and
//! [`super::ops::cluster`]).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use tessera_actors::mailer::DeadLetter;

use super::ops;
use super::ops::cluster::ClusterView;
use super::ops::mail::{LogoutDeliveryView, MailView};
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    r
}

#[utoipa::path(tag = "admin", responses(
    (status = 200, description = "The outbound mail queue, dead letters first (recipient, subject and delivery state; never the body)", body = [MailView]),
    (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/mail")]
#[tracing::instrument(skip_all)]
pub async fn list_mail(_: AdminAuth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(no_store().json(ops::mail::list_mail(&state).await?))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The mail's id")), responses(
    (status = 204, description = "Queued again; its attempts start over"),
    (status = 401, body = ErrorBody), (status = 404, description = "No such dead letter", body = ErrorBody),
    (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[post("/admin/mail/{id}/retry")]
#[tracing::instrument(skip_all, fields(mail = %path.as_str()))]
pub async fn retry_mail(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::mail::dead_letter(&state, &Who::api(&req), &path, DeadLetter::Retry).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "admin", params(("id" = String, Path, description = "The mail's id")), responses(
    (status = 204, description = "Dropped for good"),
    (status = 401, body = ErrorBody), (status = 404, description = "No such dead letter", body = ErrorBody),
    (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/mail/{id}")]
#[tracing::instrument(skip_all, fields(mail = %path.as_str()))]
pub async fn discard_mail(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::mail::dead_letter(&state, &Who::api(&req), &path, DeadLetter::Discard).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "admin", responses(
    (status = 200, description = "Back-channel logout deliveries waiting or given up on, dead letters first", body = [LogoutDeliveryView]),
    (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/logout-deliveries")]
#[tracing::instrument(skip_all)]
pub async fn list_logout_deliveries(
    _: AdminAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_store().json(ops::mail::list_logout_deliveries(&state).await?))
}

#[utoipa::path(tag = "admin", responses(
    (status = 200, description = "The cluster's nodes and their lag behind the change feed; `clustered: false` on a server running alone", body = ClusterView),
    (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/cluster")]
#[tracing::instrument(skip_all)]
pub async fn cluster_status(
    _: AdminAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(no_store().json(ops::cluster::status(&state).await?))
}
