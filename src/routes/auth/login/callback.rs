//! `POST /auth/login/callback`: the TOTP step of a login whose password
//! was right, for JSON callers and the MFA page alike.

use super::*;

#[utoipa::path(tag = "auth", request_body(content = CallbackBody, description = "JSON or form"), responses(
    (status = 200, description = "Logged in; the pending session became a full one (new cookie)", body = LoginResponse),
    (status = 303, description = "Form posts: to `return_to`"),
    (status = 400, description = "A malformed body or one that is neither JSON nor a form", body = ErrorBody),
    (status = 401, description = "No pending login, or a wrong/used code", body = ErrorBody),
    (status = 403, description = "Form posts: the CSRF token is missing or wrong (the code page again)", content_type = "text/html"),
    (status = 429, description = "Too many wrong codes; see Retry-After", body = ErrorBody),
))]
#[post("/auth/login/callback")]
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn login_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let form = is_form(&req);
    let b: CallbackBody = parse_body(&req, &body)?;
    let return_to = safe_return_to(b.return_to.as_deref()).map(str::to_string);
    let Some((pending, user)) = pending_session(&req, &state) else {
        return Err(ApiError::unauthorized(
            "no login is waiting for a second factor; log in again",
        ));
    };
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let mfa_page = |msg: &str, status: StatusCode| {
        let (csrf, c) = new_csrf_cookie(&state);
        let mut r = views::mfa(
            &views::MfaPage {
                return_to: return_to.as_deref().unwrap_or(""),
                application_id: b.application_id.as_deref(),
                error: Some(msg),
                csrf: &csrf,
                totp: user.totp_enabled(),
                passkey: !user.passkeys.is_empty(),
            },
            status,
        );
        views::allow_form_targets(
            &mut r,
            &return_to_form_targets(&state, return_to.as_deref()),
        );
        let _ = r.add_cookie(&c);
        r
    };
    if form && !csrf_ok(&req, b.csrf.as_deref()) {
        return Ok(mfa_page(
            "The form expired. Please try again.",
            StatusCode::FORBIDDEN,
        ));
    }
    let key = format!("totp:{}", user.id);
    if let Err(secs) = state.limits.totp.check(&key) {
        if form {
            return Ok(with_retry_after(
                mfa_page(
                    "Too many wrong codes. Please wait and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                secs,
            ));
        }
        return Ok(with_retry_after(
            actix_web::ResponseError::error_response(&limited(secs)),
            secs,
        ));
    }
    let now = state.engine.clock.now();
    let step =
        user.totp.as_ref().filter(|t| t.enabled).and_then(|t| {
            tessera_actors::totp::check(&t.secret, b.code.trim(), now, t.last_step).ok()
        });
    let used = match step {
        Some(step) => matches!(
            state
                .engine
                .directory
                .send(UseTotpStep { id: user.id, step })
                .await,
            Ok(Ok(_))
        ),
        None => false,
    };
    if !used {
        state.limits.totp.fail(&key);
        metrics::counter!("tessera_logins_total", "result" => "mfa_failure").increment(1);
        if form {
            return Ok(mfa_page(
                "That code is not right. Please try again.",
                StatusCode::UNAUTHORIZED,
            ));
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "the code is wrong, expired or already used",
        ));
    }
    state.limits.totp.succeed(&key);
    let (session, secret_value) = state
        .engine
        .session_registry
        .send(CompleteMfa {
            id: pending.id,
            amr: vec!["otp".into()],
        })
        .await?
        .map_err(ApiError::internal)?;
    metrics::counter!("tessera_logins_total", "result" => "mfa_success").increment(1);
    let cookie = session_cookie(&state, &secret_value, &session);
    if form {
        let mut r = done_page(return_to.as_deref());
        let _ = r.add_cookie(&cookie);
        return Ok(r);
    }
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LoginResponse {
            email: user.email.clone(),
            application_id: session.application_id.clone().or(b.application_id.clone()),
            mode: "authentication".into(),
        }))
}
