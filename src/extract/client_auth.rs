//! OAuth client authentication (RFC 6749 §2.3, OIDC Core §9):
//! `client_secret_basic`, `client_secret_post`, `client_secret_jwt` and
//! `private_key_jwt` (RFC 7523 assertions), `tls_client_auth` and
//! `self_signed_tls_client_auth` (RFC 8705 client certificates), and
//! `none` for public clients. A client registered with a method must use
//! that one.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera_actors::directory::Client;
pub use tessera_actors::directory::TokenAuthMethod as AuthMethod;
use tessera_actors::jose::{self, claims};
use tessera_actors::oauth::OAuthError;
use tessera_actors::secret;

use super::OAuthForm;
use crate::state::AppState;

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

/// Authenticate the calling client at the endpoint `path` (its URL is
/// an audience assertions may name). Errors: `400 invalid_request` for
/// ambiguous or broken credentials, `401 invalid_client` for unknown
/// clients, wrong secrets, bad assertions and methods the client is not
/// registered for, `503` when an assertion's `jti` cannot be recorded.
pub async fn authenticate_client(
    req: &HttpRequest,
    form: &OAuthForm,
    state: &AppState,
    path: &str,
) -> Result<ClientAuth, OAuthError> {
    let basic = basic_credentials(req)?;
    if let Some(assertion) = form.get("client_assertion") {
        if basic.is_some() || form.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: a client assertion, Basic or client_secret, not several",
            ));
        }
        return by_assertion(form, state, path, assertion).await;
    }
    if form.get("client_assertion_type").is_some() {
        return Err(OAuthError::invalid_request(
            "client_assertion_type without client_assertion",
        ));
    }
    let engine = &state.engine;
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
            Some(h) if secret::verify_secret(&s, h) => accepted(c, method),
            _ => Err(OAuthError::invalid_client("client authentication failed")),
        },
        (Some(c), None) => match c.token_endpoint_auth_method {
            Some(m) if m.is_mtls() => by_certificate(req, state, c, m).await,
            _ if c.is_public() => accepted(c, method),
            _ => Err(OAuthError::invalid_client(format!(
                "client authentication is required ({})",
                expected(&c)
            ))),
        },
        (None, Some(s)) => {
            let _ = secret::verify_secret(&s, &DUMMY_HASH);
            Err(OAuthError::invalid_client("client authentication failed"))
        }
        (None, None) => Err(OAuthError::invalid_client("client authentication failed")),
    }
}

/// How a client registered with a method must authenticate.
fn expected(c: &Client) -> String {
    match c.token_endpoint_auth_method {
        Some(m) => format!("this client authenticates with {}", m.as_str()),
        None => "this client authenticates with its secret".into(),
    }
}

fn accepted(client: Arc<Client>, method: AuthMethod) -> Result<ClientAuth, OAuthError> {
    if !client.accepts(method) {
        return Err(OAuthError::invalid_client(format!(
            "{} is not how {}",
            method.as_str(),
            expected(&client)
        )));
    }
    Ok(ClientAuth { client, method })
}

/// RFC 8705 §2: the client named itself (`client_id`) and proves it with
/// the certificate of the connection (or of a trusted proxy's header).
async fn by_certificate(
    req: &HttpRequest,
    state: &AppState,
    client: Arc<Client>,
    method: AuthMethod,
) -> Result<ClientAuth, OAuthError> {
    let bad =
        |why: &str| OAuthError::invalid_client(format!("the client certificate is refused: {why}"));
    let cert = state
        .mtls
        .presented(req)
        .ok_or_else(|| bad("none was presented (this client authenticates with mutual TLS)"))?;
    let now = state.engine.clock.now();
    match method {
        AuthMethod::SelfSignedTlsClientAuth => {
            // §2.2: the very certificate registered as an x5c of its keys.
            let keys = state
                .client_keys
                .keys(&client, None, now)
                .await
                .map_err(|e| bad(&e.to_string()))?;
            if !keys.certificates().any(|c| c == cert.leaf()) {
                return Err(bad("it is not one the client registered"));
            }
        }
        _ => {
            // §2.1: issued by a trusted CA, for the registered name.
            state
                .mtls
                .verify_chain(&cert, now)
                .map_err(|e| bad(&format!("it does not chain to a trusted client CA: {e}")))?;
            let name = client
                .tls_client_auth
                .as_ref()
                .ok_or_else(|| bad("the client registered no certificate name"))?;
            if !crate::mtls::names::matches(name, cert.leaf()) {
                let (field, _) = name.field();
                return Err(bad(&format!("it does not carry the registered {field}")));
            }
        }
    }
    accepted(client, method)
}

/// `client_secret_jwt` or `private_key_jwt` (RFC 7523 §2.2, §3): which
/// one the header's `alg` says, checked against the client's registration.
async fn by_assertion(
    form: &OAuthForm,
    state: &AppState,
    path: &str,
    assertion: &str,
) -> Result<ClientAuth, OAuthError> {
    let bad =
        |why: &str| OAuthError::invalid_client(format!("the client assertion is refused: {why}"));
    if form.get("client_assertion_type") != Some(claims::JWT_BEARER) {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {}",
            claims::JWT_BEARER
        )));
    }
    // Who it claims to be, to find the keys; nothing here is trusted until
    // the signature verifies with that client's key.
    let claimed = jose::peek_claims(assertion).ok_or_else(|| bad("it is not a compact JWS"))?;
    let id = claimed
        .get("sub")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("sub is missing"))?;
    if form.get("client_id").is_some_and(|b| b != id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client assertion's sub",
        ));
    }
    let engine = &state.engine;
    let client = engine
        .clients
        .get(id)
        .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    let (alg, kid) = jose::peek_header(assertion).map_err(|e| bad(&e.to_string()))?;
    let now = engine.clock.now();
    let method = if jose::HMAC.contains(&alg.as_str()) {
        AuthMethod::ClientSecretJwt
    } else {
        AuthMethod::PrivateKeyJwt
    };
    let client = accepted(client, method)?.client;
    let pinned = client.token_endpoint_auth_signing_alg.as_deref();
    let verified = match method {
        AuthMethod::ClientSecretJwt => {
            let key = client
                .jwt_secret
                .as_deref()
                .ok_or_else(|| bad("the client has no secret to verify it with"))?;
            jose::verify_hmac(assertion, key.as_bytes(), pinned)
        }
        _ => {
            let keys = state
                .client_keys
                .keys(&client, kid.as_deref(), now)
                .await
                .map_err(|e| bad(&e.to_string()))?;
            keys.verify(assertion, pinned.and_then(jose::Alg::parse))
        }
    }
    .map_err(|e| bad(&e.to_string()))?;
    let issuer = engine.config.issuer.as_str();
    let endpoint = format!("{issuer}{path}");
    let token_endpoint = format!("{issuer}/oauth2/token");
    let audiences = [issuer, endpoint.as_str(), token_endpoint.as_str()];
    let expect = state.client_jwt_rules(&client.client_id, &audiences, now);
    let fresh = claims::client_assertion(&verified.claims, &expect).map_err(bad)?;
    state
        .use_jti_once(
            &fresh,
            now,
            bad("its jti was already used"),
            "client assertion",
        )
        .await?;
    Ok(ClientAuth { client, method })
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
