//! OAuth client authentication (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, and `none` for public clients.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera_actors::directory::Client;
use tessera_actors::oauth::OAuthError;
use tessera_actors::secret;
use tessera_actors::Engine;

use super::OAuthForm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client naming itself with `client_id` only.
    None,
}

pub struct ClientAuth {
    pub client: Arc<Client>,
    pub method: AuthMethod,
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64,
/// so `+` is a space and `%XX` a byte. A `%` not followed by two hex digits
/// is kept as it is, so unencoded ids and secrets work too.
fn url_decode(s: &str) -> Result<String, OAuthError> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| OAuthError::invalid_request("the Basic credentials are not UTF-8"))
}

fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_request("the Authorization header is not ASCII"))?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(OAuthError::invalid_request(
            "the Authorization header is malformed",
        ));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| OAuthError::invalid_request("the Basic credentials are not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| OAuthError::invalid_request("the Basic credentials are not UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_request("the Basic credentials have no ':'"))?;
    Ok(Some((url_decode(id)?, url_decode(secret)?)))
}

/// A fixed hash compared when the client is unknown, so an unknown client
/// and a wrong secret take the same path.
const DUMMY_HASH: [u8; 32] = [0x5a; 32];

/// Authenticate the calling client. Errors: `400 invalid_request` for
/// ambiguous or broken credentials, `401 invalid_client` for unknown
/// clients and wrong secrets.
pub fn authenticate_client(
    req: &HttpRequest,
    form: &OAuthForm,
    engine: &Engine,
) -> Result<ClientAuth, OAuthError> {
    let basic = basic_credentials(req)?;
    let (id, presented, method) = match basic {
        Some((id, secret)) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: Basic or client_secret in the body, not both",
                ));
            }
            if form.get("client_id").is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            (id, Some(secret), AuthMethod::ClientSecretBasic)
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(s)) => (
                id.to_string(),
                Some(s.to_string()),
                AuthMethod::ClientSecretPost,
            ),
            (Some(id), None) => (id.to_string(), None, AuthMethod::None),
            (None, _) => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ))
            }
        },
    };
    let client = engine.clients.get(&id);
    match (client, presented) {
        (Some(c), Some(s)) => match &c.secret_hash {
            Some(h) if secret::verify_secret(&s, h) => Ok(ClientAuth { client: c, method }),
            _ => Err(OAuthError::invalid_client("client authentication failed")),
        },
        (Some(c), None) if c.is_public() => Ok(ClientAuth { client: c, method }),
        (None, Some(s)) => {
            let _ = secret::verify_secret(&s, &DUMMY_HASH);
            Err(OAuthError::invalid_client("client authentication failed"))
        }
        _ => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_parts_are_url_decoded() {
        assert_eq!(url_decode("tes_cl_a%2Bb").unwrap(), "tes_cl_a+b");
        assert_eq!(url_decode("a+b").unwrap(), "a b");
        assert_eq!(url_decode("x%3Ay").unwrap(), "x:y");
        assert_eq!(url_decode("a&b=c").unwrap(), "a&b=c");
        assert_eq!(url_decode("plain").unwrap(), "plain");
    }
}
