//! HTTP errors. OAuth endpoints answer RFC 6749 §5.2 JSON; everything else
//! `{"error":"snake_case_code","message":"..."}`. Unexpected errors are logged
//! with their cause and answered with an opaque 500.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tessera_actors::oauth::{ErrorCode, OAuthError};

/// An OAuth protocol error as an HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OAuthHttpError(#[from] pub OAuthError);

impl ResponseError for OAuthHttpError {
    fn status_code(&self) -> StatusCode {
        match self.0.code {
            // RFC 6749 §5.2: 401 when the client tried to authenticate.
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        let mut r = HttpResponse::build(self.status_code());
        r.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if self.0.code == ErrorCode::InvalidClient {
            r.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\""),
            ));
        }
        if self.0.code == ErrorCode::TemporarilyUnavailable {
            r.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        r.json(Body {
            error: self.0.code.as_str(),
            error_description: &self.0.description,
        })
    }
}

/// A non-OAuth API error.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` on `429`/`503` (1 when unset).
    pub retry_after: Option<i64>,
    /// A `WWW-Authenticate` challenge other than the plain `Bearer` one
    /// (a DPoP-bound token's).
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            challenge: None,
        }
    }
    /// `429 too_many_attempts` with `Retry-After: secs`.
    pub fn too_many(secs: i64) -> Self {
        ApiError {
            retry_after: Some(secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many attempts; retry in {} seconds", secs.max(1)),
            )
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// `413`: a session bucket over its limit.
    pub fn bucket_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the session bucket may hold at most 16 KiB of JSON",
        )
    }
    /// An unexpected failure: the cause goes to the log, not to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred",
        )
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable snake_case code.
    pub error: String,
    /// A human sentence.
    pub message: String,
}

/// RFC 6749 §5.2 error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        match &self.challenge {
            Some(c) => {
                if let Ok(h) = HeaderValue::from_str(c) {
                    r.insert_header((header::WWW_AUTHENTICATE, h));
                }
            }
            None if self.status == StatusCode::UNAUTHORIZED => {
                r.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tessera\""),
                ));
            }
            None => {}
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            let secs = self.retry_after.unwrap_or(1).max(1);
            r.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        r.json(ErrorBody {
            error: self.code.to_string(),
            message: self.message.clone(),
        })
    }
}

impl From<tessera_actors::store::StoreError> for ApiError {
    fn from(e: tessera_actors::store::StoreError) -> Self {
        tracing::error!(error = %e, "store write failed");
        ApiError::unavailable("the store could not persist the request; try again")
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        tracing::error!(error = %e, "actor unavailable");
        ApiError::unavailable("a component is restarting; try again")
    }
}

/// Turn actix's own extractor errors (bad JSON, oversize bodies, bad paths)
/// into our JSON errors instead of plain-text messages.
pub fn extractor_error(err: impl std::fmt::Display, oversize: bool) -> actix_web::Error {
    if oversize {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds 64 KiB",
        )
        .into()
    } else {
        ApiError::bad_request("invalid_body", err.to_string()).into()
    }
}

/// A JSON-only endpoint's body that cannot be read. What a newcomer sends
/// first is a form or no `Content-Type` at all (curl's `-d`): say that JSON
/// is expected and how to send it, not actix's bare "Content type error".
pub fn json_body_error(err: actix_web::error::JsonPayloadError) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    const EXPECTED: &str =
        "this endpoint expects a JSON body sent with Content-Type: application/json";
    match err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => extractor_error(err, true),
        J::ContentType => ApiError::bad_request(
            "invalid_body",
            format!("{EXPECTED} (curl: -H 'Content-Type: application/json' -d '{{...}}')"),
        )
        .into(),
        other => ApiError::bad_request("invalid_body", format!("{other}; {EXPECTED}")).into(),
    }
}

impl From<tessera_actors::ActionError> for ApiError {
    fn from(e: tessera_actors::ActionError) -> Self {
        match e {
            tessera_actors::ActionError::Store(s) => s.into(),
            tessera_actors::ActionError::Mailbox(m) => m.into(),
            tessera_actors::ActionError::Session(s) => ApiError::internal(s),
        }
    }
}

// One mapping from each engine error to its HTTP answer; routes use `?`.

impl From<tessera_actors::directory::DirectoryError> for ApiError {
    fn from(e: tessera_actors::directory::DirectoryError) -> Self {
        use tessera_actors::directory::DirectoryError as E;
        let conflict = |m: String| ApiError::new(StatusCode::CONFLICT, "conflict", m);
        match e {
            E::Invalid { field, message } => {
                ApiError::bad_request("invalid_field", format!("{field}: {message}"))
            }
            E::Exists(id) => conflict(format!("client {id:?} already exists")),
            E::NotFound => ApiError::not_found("no such client"),
            E::NoSuchUser => ApiError::not_found("no such user"),
            E::NoSuchEntity => ApiError::not_found("no such entity"),
            E::NoSuchApiKey => ApiError::not_found("no such API key"),
            E::Taken(what) => conflict(format!("{what} is already taken")),
            E::Conflict(what) => conflict(what.to_string()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<tessera_actors::password::PoolError> for ApiError {
    fn from(e: tessera_actors::password::PoolError) -> Self {
        use tessera_actors::password::PoolError as E;
        match e {
            // ApiError adds `Retry-After` to every 503.
            E::Busy => ApiError::unavailable(e.to_string()),
            E::Failed => ApiError::internal(e),
        }
    }
}

impl From<tessera_actors::sessions::SessionError> for ApiError {
    fn from(e: tessera_actors::sessions::SessionError) -> Self {
        use tessera_actors::sessions::SessionError as E;
        match e {
            E::NotFound => ApiError::not_found("no such session"),
            E::BucketTooLarge => ApiError::bucket_too_large(),
            E::Store(s) => s.into(),
        }
    }
}

impl From<tessera_actors::tokens::EntityTokenError> for ApiError {
    fn from(e: tessera_actors::tokens::EntityTokenError) -> Self {
        use tessera_actors::tokens::EntityTokenError as E;
        match e {
            E::Exists => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the member already has an entity token",
            ),
            E::NotFound => ApiError::not_found("the member has no entity token"),
            E::Mismatch => ApiError::bad_request(
                "invalid_token",
                "authenticationToken is not the member's current entity token",
            ),
            E::Invalid(m) => ApiError::bad_request("invalid_field", m),
            E::Store(m) => ApiError::unavailable(m),
        }
    }
}

/// An OAuth error on a JSON API endpoint (not an RFC 6749 one): same code,
/// `{"error","message"}` body.
impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e.code {
            ErrorCode::TemporarilyUnavailable => ApiError::unavailable(e.description),
            ErrorCode::ServerError => ApiError::internal(e),
            code => ApiError::bad_request(code.as_str(), e.description),
        }
    }
}

impl From<tessera_actors::flows::PolicyError> for ApiError {
    fn from(e: tessera_actors::flows::PolicyError) -> Self {
        ApiError::bad_request("invalid_field", format!("password: {e}"))
    }
}

impl From<tessera_actors::flows::FlowError> for ApiError {
    fn from(e: tessera_actors::flows::FlowError) -> Self {
        use tessera_actors::directory::CodePurpose;
        use tessera_actors::flows::FlowError as E;
        use tessera_actors::mailer::MailError;
        match e {
            E::Directory(d) => d.into(),
            E::Policy(p) => p.into(),
            E::RegistrationDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                "registration_disabled",
                "self-service registration is disabled",
            ),
            E::UnknownApplication => ApiError::bad_request(
                "unknown_application",
                "applicationId names no registered client",
            ),
            E::Unavailable(m) => ApiError::unavailable(m),
            E::InvalidCode(CodePurpose::Registration) => ApiError::bad_request(
                "invalid_code",
                "the code is wrong, used or expired; register again for a new one",
            ),
            E::InvalidCode(CodePurpose::Reset) => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_token",
                "the reset link is unknown, used or expired",
            ),
            E::InvalidCode(CodePurpose::VerifyEmail) => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_token",
                "the link is unknown, used or expired",
            ),
            E::Password(p) => p.into(),
            E::Store(s) => s.into(),
            E::Mailbox(m) => m.into(),
            E::Action(a) => a.into(),
            E::Mail(MailError::Store(s)) => s.into(),
            E::Mail(m @ MailError::Invalid { .. }) => ApiError::internal(m),
            E::Render(r) => ApiError::internal(r),
        }
    }
}
