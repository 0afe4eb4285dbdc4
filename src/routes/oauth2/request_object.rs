//! Request objects (RFC 9101): an authorization request signed with the
//! client's key, sent by value (`request`) to the authorization endpoint
//! or inside a pushed request.
//!
//! Only the request object's parameters are used (§6.3: never mixed with
//! the query's). It must name the client (`client_id`, and `iss` when
//! present), be for this server (`aud` = the issuer), carry `exp` within
//! `client_auth.assertion_max_lifetime`, and a `jti`, when present, works
//! once. The signature is checked with the client's registered keys, the
//! algorithm from the key (or the client's `request_object_signing_alg`);
//! an unsigned object (`alg: none`) only from a client registered with
//! `request_object_signing_alg: none`.

use std::sync::Arc;

use serde_json::Value;
use tessera_actors::directory::Client;
use tessera_actors::jose::{self, claims};
use tessera_actors::oauth::{ErrorCode, OAuthError};

use crate::state::AppState;

/// Claims about the object itself, not parameters of the request.
const ENVELOPE: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];

/// RFC 9101 §10.8: the media type's `typ`.
const TYP: &str = "oauth-authz-req+jwt";

fn refused(why: impl std::fmt::Display) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestObject,
        format!("the request object is refused: {why}"),
    )
}

/// Verify `client`'s request object; answers the request's parameters.
pub async fn parameters(
    state: &AppState,
    client: &Arc<Client>,
    jwt: &str,
) -> Result<Vec<(String, String)>, OAuthError> {
    let engine = &state.engine;
    let now = engine.clock.now();
    let (alg, kid) = jose::peek_header(jwt).map_err(refused)?;
    let registered = client.request_object_signing_alg.as_deref();
    let verified = if alg == "none" {
        if registered != Some("none") {
            return Err(refused(
                "it is unsigned, and this client is not registered for unsigned request objects",
            ));
        }
        // Nothing to verify; the rest of the checks still apply.
        jose::peek_claims(jwt).ok_or_else(|| refused("its claims are not a JSON object"))?
    } else {
        if registered.is_some_and(|r| r != alg) {
            return Err(refused("its alg is not the one the client registered"));
        }
        let keys = state
            .client_keys
            .keys(client, kid.as_deref(), now)
            .await
            .map_err(refused)?;
        let v = keys
            .verify(jwt, registered.and_then(jose::Alg::parse))
            .map_err(refused)?;
        if let Some(t) = v.typ.as_deref() {
            if !t.eq_ignore_ascii_case(TYP) && !t.eq_ignore_ascii_case("JWT") {
                return Err(refused(format!("its typ must be {TYP}")));
            }
        }
        v.claims
    };
    let audiences = [engine.config.issuer.as_str()];
    let expect = state.client_jwt_rules(&client.client_id, &audiences, now);
    let fresh = claims::request_object(&verified, &expect).map_err(refused)?;
    if verified.contains_key("request") || verified.contains_key("request_uri") {
        return Err(refused("it may not hold request or request_uri"));
    }
    state
        .use_jti_once(
            &fresh,
            now,
            refused("its jti was already used"),
            "request object",
        )
        .await?;
    let mut pairs = Vec::new();
    for (k, v) in verified {
        if ENVELOPE.contains(&k.as_str()) {
            continue;
        }
        match v {
            Value::String(s) => pairs.push((k, s)),
            Value::Number(n) => pairs.push((k, n.to_string())),
            Value::Bool(b) => pairs.push((k, b.to_string())),
            Value::Null => {}
            // RFC 8707: several resources.
            Value::Array(items) if k == "resource" || k == "audience" => {
                for item in items {
                    match item {
                        Value::String(s) => pairs.push((k.clone(), s)),
                        _ => return Err(refused(format!("{k} must hold strings"))),
                    }
                }
            }
            // The `claims` request (OIDC Core §5.5) and other structures
            // travel as the JSON they are in a query.
            other => pairs.push((k, other.to_string())),
        }
    }
    Ok(pairs)
}
