//! `application/x-www-form-urlencoded` bodies of the OAuth endpoints.
//!
//! Parameter names are accepted in RFC snake_case and in the Simptel
//! camelCase (`grantType`, `clientId`, ...), a repeated parameter is an
//! error (RFC 6749 §3.1) except the lists that RFC 8707 and RFC 8693 let a
//! client repeat (`resource`, `audience`), and the body is limited to
//! 64 KiB.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use tessera_actors::oauth::OAuthError;

use crate::error::OAuthHttpError;

pub const MAX_BODY: usize = 64 * 1024;

/// The canonical (snake_case) name of a parameter.
fn canonical(name: &str) -> &str {
    match name {
        "grantType" => "grant_type",
        "redirectUri" => "redirect_uri",
        "clientId" => "client_id",
        "clientSecret" => "client_secret",
        "codeVerifier" => "code_verifier",
        "tokenTypeHint" => "token_type_hint",
        "refreshToken" => "refresh_token",
        other => other,
    }
}

/// Parameters a client may send more than once (RFC 8707 §2, RFC 8693 §2.1).
const REPEATABLE: &[&str] = &["audience", "resource"];

#[derive(Debug, Default)]
pub struct OAuthForm {
    pairs: Vec<(String, String)>,
}

impl OAuthForm {
    pub fn parse(body: &[u8]) -> Result<OAuthForm, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            let name = canonical(&k).to_string();
            if !REPEATABLE.contains(&name.as_str()) && pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )));
            }
            pairs.push((name, v.into_owned()));
        }
        Ok(OAuthForm { pairs })
    }

    /// Parse keeping the first of repeated parameters and naming the first
    /// repeated one, for endpoints that must first find out where to send
    /// the error (the authorization endpoint).
    pub fn parse_lenient(body: &[u8]) -> (OAuthForm, Option<String>) {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut repeated = None;
        for (k, v) in form_urlencoded::parse(body) {
            let name = canonical(&k).to_string();
            if !REPEATABLE.contains(&name.as_str()) && pairs.iter().any(|(n, _)| *n == name) {
                repeated.get_or_insert(name);
                continue;
            }
            pairs.push((name, v.into_owned()));
        }
        (OAuthForm { pairs }, repeated)
    }

    /// A form of these parameters (a pushed request's, a request
    /// object's), as given.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> OAuthForm {
        OAuthForm { pairs }
    }

    /// Every parameter, in order (first of any repeats).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::invalid_request(format!("missing required parameter {name}"))
        })
    }

    /// Values of a list parameter (`audience`, `resource`): every
    /// occurrence, each space-separated.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Whether the request is a browser form post (else a JSON API call).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

impl FromRequest for OAuthForm {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = is_form(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > MAX_BODY) {
                return Err(crate::error::extractor_error("", true));
            }
            let mut body = Vec::with_capacity(declared.unwrap_or(256).min(MAX_BODY));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| crate::error::extractor_error(e, false))?;
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(crate::error::extractor_error("", true));
                }
                body.extend_from_slice(&chunk);
            }
            if !form {
                return Err(OAuthHttpError(OAuthError::invalid_request(
                    "the body must be application/x-www-form-urlencoded",
                ))
                .into());
            }
            OAuthForm::parse(&body).map_err(|e| OAuthHttpError(e).into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names_are_canonical_and_repeats_refused() {
        let f = OAuthForm::parse(b"grantType=client_credentials&clientId=a%20b").unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("client_id"), Some("a b"));
        assert!(OAuthForm::parse(b"scope=a&scope=b").is_err());
        assert!(OAuthForm::parse(b"grant_type=a&grantType=b").is_err());
    }

    #[test]
    fn empty_values_are_absent() {
        let f = OAuthForm::parse(b"token=&x=1").unwrap();
        assert_eq!(f.get("token"), None);
        assert!(f.require("token").is_err());
    }
}
