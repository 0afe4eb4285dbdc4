//! DPoP (RFC 9449) at the HTTP edge: the `DPoP` header of a token request,
//! and `Authorization: DPoP` at the endpoints that take an access token
//! (which also check a certificate-bound token's certificate, RFC 8705 §3).
//! The checks themselves are the engine's ([`tessera_actors::dpop`]).

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use tessera_actors::directory::Client;
use tessera_actors::dpop::{DpopError, ProofCheck, ALGS};
use tessera_actors::oauth::{ErrorCode, OAuthError};
use tessera_actors::tokens::{TokenKind, TokenRecord};

use crate::state::AppState;

/// The `DPoP-Nonce` response header.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// The one `DPoP` header of a request, if any.
fn proof_header(req: &HttpRequest) -> Result<Option<&str>, DpopError> {
    let mut all = req.headers().get_all("dpop");
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(DpopError::Invalid("more than one DPoP header"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| DpopError::Invalid("the DPoP header is not ASCII"))
}

/// The URL a proof must name for this request: the issuer's base and the
/// request's path.
fn htu(state: &AppState, req: &HttpRequest) -> String {
    format!(
        "{}{}",
        state.engine.config.issuer.trim_end_matches('/'),
        req.path()
    )
}

/// Whether `client`'s proofs must carry a server nonce.
pub fn nonce_required(state: &AppState, client: Option<&Client>) -> bool {
    state.engine.dpop.config().require_nonce || client.is_some_and(|c| c.dpop_require_nonce)
}

fn oauth_error(e: DpopError) -> OAuthError {
    match e {
        DpopError::Invalid(why) => OAuthError::new(ErrorCode::InvalidDpopProof, why),
        DpopError::UseNonce => OAuthError::new(
            ErrorCode::UseDpopNonce,
            "send a DPoP proof with the nonce in the DPoP-Nonce header",
        ),
        DpopError::Unavailable => {
            OAuthError::unavailable("the DPoP proof could not be recorded; try again")
        }
    }
}

/// A token request's DPoP binding: the thumbprint of its proof's key, or
/// `None` without a proof (refused for a client that must use DPoP).
pub async fn token_binding(
    req: &HttpRequest,
    state: &AppState,
    client: &Client,
) -> Result<Option<Arc<str>>, OAuthError> {
    let proof = proof_header(req).map_err(oauth_error)?;
    let Some(proof) = proof else {
        if client.dpop_bound_access_tokens {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this client must send a DPoP proof with every token request",
            ));
        }
        return Ok(None);
    };
    let engine = &state.engine;
    let now = engine.clock.now();
    let url = htu(state, req);
    let want = ProofCheck {
        htm: req.method().as_str(),
        htu: &url,
        access_token: None,
        require_nonce: nonce_required(state, Some(client)),
    };
    let checked = engine.dpop.check(proof, &want, now).map_err(oauth_error)?;
    engine
        .dpop
        .claim(&checked, now)
        .await
        .map_err(oauth_error)?;
    Ok(Some(checked.jkt))
}

/// Add a fresh `DPoP-Nonce` to a token endpoint's answer when nonces are
/// demanded (RFC 9449 §8: the client keeps using the newest one).
pub fn with_nonce(mut r: HttpResponse, state: &AppState, required: bool) -> HttpResponse {
    if required {
        let nonce = state.engine.dpop.nonce(state.engine.clock.now());
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            r.headers_mut()
                .insert(header::HeaderName::from_static(NONCE_HEADER), v);
            r.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("DPoP-Nonce"),
            );
        }
    }
    r
}

/// Why a presented access token was refused, as RFC 6750 §3 / RFC 9449
/// §7.1 answer it.
#[derive(Debug, Clone)]
pub struct TokenRefused {
    pub status: StatusCode,
    /// `Bearer` or `DPoP`: the scheme of the challenge.
    pub dpop: bool,
    pub error: &'static str,
    pub description: &'static str,
}

impl TokenRefused {
    fn new(dpop: bool, error: &'static str, description: &'static str) -> TokenRefused {
        TokenRefused {
            status: StatusCode::UNAUTHORIZED,
            dpop,
            error,
            description,
        }
    }

    pub fn missing() -> TokenRefused {
        TokenRefused::new(false, "invalid_request", "an access token is required")
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self) -> String {
        if self.dpop {
            format!(
                "DPoP realm=\"tessera\", error=\"{}\", error_description=\"{}\", algs=\"{}\"",
                self.error,
                self.description,
                ALGS.join(" ")
            )
        } else {
            format!(
                "Bearer realm=\"tessera\", error=\"{}\", error_description=\"{}\"",
                self.error, self.description
            )
        }
    }

    /// An OAuth-style answer (`{"error","error_description"}`).
    pub fn response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Ok(h) = HeaderValue::from_str(&self.challenge()) {
            r.insert_header((header::WWW_AUTHENTICATE, h));
        }
        r.insert_header((header::CACHE_CONTROL, "no-store"));
        r.json(serde_json::json!({"error": self.error, "error_description": self.description}))
    }
}

/// The presented access token of a request (`Authorization: Bearer` or
/// `Authorization: DPoP` with its proof), live, of ours. `None` when the
/// request has no `Authorization` of either scheme.
pub async fn access_token(
    req: &HttpRequest,
    state: &AppState,
) -> Option<Result<TokenRecord, TokenRefused>> {
    let (scheme, token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(s, t)| (s, t.trim()))?;
    let dpop = if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else {
        return None;
    };
    Some(check_access_token(req, state, token, dpop).await)
}

async fn check_access_token(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    dpop: bool,
) -> Result<TokenRecord, TokenRefused> {
    let engine = &state.engine;
    let Some(rec) = engine
        .lookup(token)
        .filter(|r| r.kind == TokenKind::AccessToken)
    else {
        return Err(TokenRefused::new(
            dpop,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        ));
    };
    if let Some(x5t) = &rec.grant.x5t {
        // RFC 8705 §3: a certificate-bound token comes with its certificate.
        let same = state
            .mtls
            .presented(req)
            .is_some_and(|c| c.thumbprint() == *x5t);
        if !same {
            return Err(TokenRefused::new(
                dpop,
                "invalid_token",
                "the access token is bound to a client certificate; present that certificate",
            ));
        }
    }
    let Some(jkt) = rec.grant.jkt.clone() else {
        if dpop {
            return Err(TokenRefused::new(
                true,
                "invalid_token",
                "the access token is not bound to a DPoP key; send it as Bearer",
            ));
        }
        return Ok(rec);
    };
    if !dpop {
        // RFC 9449 §7.2: a bound token without its proof is no bearer token.
        return Err(TokenRefused::new(
            true,
            "invalid_token",
            "the access token is bound to a DPoP key; send it with the DPoP scheme and a proof",
        ));
    }
    let refused = |why: &'static str| TokenRefused::new(true, "invalid_dpop_proof", why);
    let proof = match proof_header(req) {
        Ok(Some(p)) => p,
        Ok(None) => return Err(refused("a DPoP proof is required with this token")),
        Err(DpopError::Invalid(why)) => return Err(refused(why)),
        Err(_) => return Err(refused("the DPoP proof is invalid")),
    };
    let now = engine.clock.now();
    let url = htu(state, req);
    let want = ProofCheck {
        htm: req.method().as_str(),
        htu: &url,
        access_token: Some(token),
        require_nonce: false,
    };
    let checked = engine.dpop.check(proof, &want, now).map_err(|e| match e {
        DpopError::Invalid(why) => refused(why),
        _ => refused("the DPoP proof is invalid"),
    })?;
    if checked.jkt != jkt {
        return Err(refused(
            "the DPoP proof is signed by another key than the token is bound to",
        ));
    }
    match engine.dpop.claim(&checked, now).await {
        Ok(()) => Ok(rec),
        Err(DpopError::Invalid(why)) => Err(refused(why)),
        Err(_) => Err(TokenRefused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            ..refused("the DPoP proof could not be recorded; try again")
        }),
    }
}
