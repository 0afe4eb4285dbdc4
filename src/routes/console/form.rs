//! Console form bodies, and the guard every console POST passes first:
//! a live console session, a readable form, and that session's token.
//!
//! Forms are read as ordered pairs, since a field may repeat (the grant
//! types of a client are checkboxes of one name).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::render;
use super::session::{self, Console};
use crate::error::ApiError;
use crate::extract::form::MAX_BODY;
use crate::state::AppState;

pub struct Form(Vec<(String, String)>);

impl Form {
    /// An `application/x-www-form-urlencoded` body of at most 64 KiB.
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Form, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        if ct.as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(ApiError::bad_request(
                "invalid_request",
                "a console form is sent as application/x-www-form-urlencoded",
            ));
        }
        if body.len() > MAX_BODY {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body exceeds 64 KiB",
            ));
        }
        Ok(Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value, `""` when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A checkbox: present with any value but `""`/`off`/`false`.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !matches!(v.trim(), "" | "off" | "false" | "0"))
    }

    /// A list typed one per line (or separated by spaces or commas).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or_default()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// What every console POST checks before it does anything: a console
/// session (else `403`), a form body (else `400`), and the session's
/// token in its `csrf` field (else `403`). Nothing is done on refusal.
pub fn guard(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(Console, Form), Box<HttpResponse>> {
    let Some(c) = session::current(req, state) else {
        return Err(Box::new(render::not_signed_in()));
    };
    let f = Form::parse(req, body).map_err(|e| Box::new(crate::browser::body_error(req, &e)))?;
    if !c.csrf_ok(f.get("csrf")) {
        return Err(Box::new(render::csrf_refused()));
    }
    Ok((c, f))
}
