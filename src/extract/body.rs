//! JSON-or-form request bodies for the non-OAuth APIs (SPEC: "Request
//! bodies: application/json or application/x-www-form-urlencoded"), with
//! the 64 KiB limit and errors that name what is wrong.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::form::MAX_BODY;

/// Parse a JSON or form body into `T`.
pub fn parse_body<T: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_body_as(ct, body)
}

/// [`parse_body`] given the request's `Content-Type` value, if it has one.
pub fn parse_body_as<T: for<'de> Deserialize<'de>>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds 64 KiB",
        ));
    }
    let ct = content_type
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match ct.as_str() {
        "application/json" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string())),
        "application/x-www-form-urlencoded" => {
            serde_urlencoded_from(body).map_err(|e| ApiError::bad_request("invalid_body", e))
        }
        _ => Err(ApiError::bad_request(
            "invalid_body",
            "the body must be application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// Form bodies through serde_json: the fields here are all strings.
fn serde_urlencoded_from<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        if map
            .insert(k.into_owned(), serde_json::Value::String(v.into_owned()))
            .is_some()
        {
            return Err("a parameter is repeated".into());
        }
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
}
