//! `/admin/entities`: entities (tenants), their members and their API keys
//! (SPEC §5–§6). Every call needs the admin token.

use actix_web::http::header;
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tessera_actors::directory::{ApiKey, Entity, Role};
use utoipa::ToSchema;

use super::ops;
use crate::audit::Who;
use crate::error::{ApiError, ErrorBody};
use crate::extract::AdminAuth;
use crate::state::AppState;

/// A member's role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDoc {
    /// Manages their own entity token.
    Member,
    /// Manages every member's entity token.
    Admin,
}

impl From<RoleDoc> for Role {
    fn from(r: RoleDoc) -> Role {
        match r {
            RoleDoc::Member => Role::Member,
            RoleDoc::Admin => Role::Admin,
        }
    }
}

impl From<Role> for RoleDoc {
    fn from(r: Role) -> RoleDoc {
        match r {
            Role::Member => RoleDoc::Member,
            Role::Admin => RoleDoc::Admin,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    user_id: uuid::Uuid,
    /// The member's username (absent if the user was deleted).
    username: Option<String>,
    role: RoleDoc,
}

/// An entity as the admin API shows it.
#[derive(Serialize, ToSchema)]
pub struct EntityView {
    id: uuid::Uuid,
    name: String,
    members: Vec<MemberView>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl EntityView {
    pub fn new(state: &AppState, e: &Entity) -> EntityView {
        EntityView {
            id: e.id,
            name: e.name.clone(),
            members: e
                .members
                .iter()
                .map(|(id, role)| MemberView {
                    user_id: *id,
                    username: state.engine.users.get(id).map(|u| u.username.clone()),
                    role: (*role).into(),
                })
                .collect(),
            created_at: tessera_actors::clock::rfc3339(e.created_at),
            updated_at: tessera_actors::clock::rfc3339(e.updated_at),
        }
    }
}

/// An API key without its secret.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: uuid::Uuid,
    entity_id: uuid::Uuid,
    name: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; absent until first used.
    last_used_at: Option<String>,
}

impl ApiKeyView {
    pub fn new(k: &ApiKey) -> ApiKeyView {
        ApiKeyView {
            id: k.id,
            entity_id: k.entity_id,
            name: k.name.clone(),
            created_at: tessera_actors::clock::rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(tessera_actors::clock::rfc3339),
        }
    }
}

/// A new API key, with its secret (shown this once).
#[derive(Serialize, ToSchema)]
pub struct NewApiKeyView {
    #[serde(flatten)]
    key: ApiKeyView,
    /// `tes_ak_...`: send it in the `apikey` header. Only its hash is kept.
    apikey: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntityRequest {
    /// 1-200 printable characters.
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMemberRequest {
    role: RoleDoc,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for; 1-200 printable characters.
    name: String,
}

fn no_store(r: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    r.insert_header((header::CACHE_CONTROL, "no-store"))
}

#[utoipa::path(tag = "admin", request_body = CreateEntityRequest, responses(
    (status = 201, description = "Created", body = EntityView),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[post("/admin/entities")]
#[tracing::instrument(skip_all)]
pub async fn create_entity(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateEntityRequest>,
) -> Result<HttpResponse, ApiError> {
    let e = ops::entities::create(&state, &Who::api(&req), body.into_inner().name).await?;
    Ok(no_store(&mut HttpResponse::Created()).json(EntityView::new(&state, &e)))
}

#[utoipa::path(tag = "admin", responses(
    (status = 200, description = "Every entity, oldest first", body = [EntityView]),
    (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/entities")]
#[tracing::instrument(skip_all)]
pub async fn list_entities(_: AdminAuth, state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<EntityView> = ops::entities::list(&state)
        .iter()
        .map(|e| EntityView::new(&state, e))
        .collect();
    no_store(&mut HttpResponse::Ok()).json(list)
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses(
    (status = 200, body = EntityView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/entities/{id}")]
#[tracing::instrument(skip_all, fields(entity_id = %path.as_str()))]
pub async fn get_entity(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e = ops::entities::get(&state, &path)?;
    Ok(no_store(&mut HttpResponse::Ok()).json(EntityView::new(&state, &e)))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses(
    (status = 204, description = "Deleted with its API keys; its entity tokens are revoked"),
    (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/entities/{id}")]
#[tracing::instrument(skip_all, fields(entity_id = %path.as_str()))]
pub async fn delete_entity(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    ops::entities::delete(&state, &Who::api(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "admin", params(("id" = String, Path), ("user_id" = String, Path)), request_body = SetMemberRequest, responses(
    (status = 200, description = "The entity with the member added or their role changed", body = EntityView),
    (status = 400, body = ErrorBody), (status = 404, description = "No such entity or user", body = ErrorBody),
    (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[put("/admin/entities/{id}/members/{user_id}")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn set_member(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<SetMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    let role: Role = body.into_inner().role.into();
    let e = ops::entities::set_member(&state, &Who::api(&req), &id, &user, role).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(EntityView::new(&state, &e)))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path), ("user_id" = String, Path)), responses(
    (status = 200, description = "The entity without the member; their entity token is revoked", body = EntityView),
    (status = 404, description = "No such entity or member", body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/entities/{id}/members/{user_id}")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, user_id = %path.1))]
pub async fn remove_member(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    let e = ops::entities::remove_member(&state, &Who::api(&req), &id, &user).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(EntityView::new(&state, &e)))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), request_body = CreateApiKeyRequest, responses(
    (status = 201, description = "Created; the key is shown this once", body = NewApiKeyView),
    (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[post("/admin/entities/{id}/apikeys")]
#[tracing::instrument(skip_all, fields(entity_id = %path.as_str()))]
pub async fn create_api_key(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name;
    let (k, secret) = ops::entities::create_api_key(&state, &Who::api(&req), &path, name).await?;
    Ok(no_store(&mut HttpResponse::Created()).json(NewApiKeyView {
        key: ApiKeyView::new(&k),
        apikey: secret,
    }))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path)), responses(
    (status = 200, description = "The entity's API keys, never their secrets", body = [ApiKeyView]),
    (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[get("/admin/entities/{id}/apikeys")]
#[tracing::instrument(skip_all, fields(entity_id = %path.as_str()))]
pub async fn list_api_keys(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let list: Vec<ApiKeyView> = ops::entities::api_keys(&state, &path)?
        .iter()
        .map(ApiKeyView::new)
        .collect();
    Ok(no_store(&mut HttpResponse::Ok()).json(list))
}

#[utoipa::path(tag = "admin", params(("id" = String, Path), ("key_id" = String, Path)), responses(
    (status = 204, description = "Revoked: the key stops working at once"),
    (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
), security(("admin_token" = [])))]
#[delete("/admin/entities/{id}/apikeys/{key_id}")]
#[tracing::instrument(skip_all, fields(entity_id = %path.0, key_id = %path.1))]
pub async fn revoke_api_key(
    _: AdminAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, key) = path.into_inner();
    ops::entities::revoke_api_key(&state, &Who::api(&req), &id, &key).await?;
    Ok(HttpResponse::NoContent().finish())
}
