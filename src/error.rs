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
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
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
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tessera\""),
            ));
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

impl From<tessera_actors::ActionError> for ApiError {
    fn from(e: tessera_actors::ActionError) -> Self {
        match e {
            tessera_actors::ActionError::Store(s) => s.into(),
            tessera_actors::ActionError::Mailbox(m) => m.into(),
            tessera_actors::ActionError::Session(s) => ApiError::internal(s),
        }
    }
}
