//! `POST /api/oauth/register` (SPEC §4): create an active account at once
//! and answer with its first tokens. The address is not verified yet: a
//! verification link is mailed (`GET /api/oauth/valid_email/{token}`).
//! Unlike `/registration`, this API's contract answers `409` for a taken
//! username or address.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_actors::flows::registration::AccountFields;

use crate::error::{ApiError, ErrorBody};
use crate::extract::body::parse_body;
use crate::extract::session::client_ip;
use crate::state::AppState;
use crate::views::user::UserView;

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    /// 3-64 of letters, digits, `.`, `_`, `-`.
    username: String,
    email: String,
    /// At least 8 characters, at most 1024 bytes.
    password: String,
    role: Option<String>,
    company: Option<String>,
    /// Must be `1` (or `true`): the terms were accepted.
    #[schema(value_type = u8)]
    accept_terms: Option<Value>,
}

/// The new account and its first tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered {
    user: UserView,
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
}

fn accepted(v: &Option<Value>) -> bool {
    match v {
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s.trim() == "1" || s.trim().eq_ignore_ascii_case("true"),
        Some(Value::Bool(b)) => *b,
        _ => false,
    }
}

#[utoipa::path(tag = "api_oauth", request_body(content = RegisterBody, description = "JSON or form"), responses(
    (status = 200, description = "Created (active, address not yet verified: a link was mailed)", body = Registered),
    (status = 400, description = "Missing or invalid field, or accept_terms is not 1", body = ErrorBody),
    (status = 403, description = "Registration is disabled", body = ErrorBody),
    (status = 409, description = "The username or e-mail address is taken", body = ErrorBody),
    (status = 429, description = "Too many requests; see Retry-After", body = ErrorBody),
    (status = 503, description = "The password pool is saturated; see Retry-After", body = ErrorBody),
))]
#[post("/api/oauth/register")]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.engine.registration_open()?;
    let b: RegisterBody = parse_body(&req, &body)?;
    if !accepted(&b.accept_terms) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "accept_terms: the terms must be accepted (1)",
        ));
    }
    let r = state.engine.check_account(AccountFields {
        username: b.username,
        email: b.email,
        password: b.password,
        role: b.role,
        company: b.company,
    })?;
    state.account_mail.check_send(&client_ip(&req), r.email())?;
    let (user, tokens) = state.engine.create_account(r, &state.account_mail).await?;
    metrics::counter!("tessera_registrations_total", "api" => "api_oauth").increment(1);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(Registered {
            user: UserView::new(&user),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_accepts_the_terms() {
        for yes in [
            serde_json::json!(1),
            serde_json::json!("1"),
            serde_json::json!(true),
        ] {
            assert!(accepted(&Some(yes.clone())), "{yes}");
        }
        for no in [
            serde_json::json!(0),
            serde_json::json!(2),
            serde_json::json!("0"),
            serde_json::json!(false),
            serde_json::json!(null),
            serde_json::json!(1.5),
        ] {
            assert!(!accepted(&Some(no.clone())), "{no}");
        }
        assert!(!accepted(&None));
    }
}
