//! Where an authorization request's parameters come from: the query or
//! form as sent, a request object (`request`, RFC 9101), or a pushed
//! request (`request_uri`, RFC 9126).
//!
//! A request that came as a request object or was pushed is held
//! server-side (see `tessera_actors::pushed`) and bound to the browser
//! that brought it first, by a cookie; the way through login and consent
//! then carries only `client_id` and `request_uri`, so the signed or
//! pushed parameters can be neither changed nor dropped on the way.

use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use tessera_actors::directory::Client;
use tessera_actors::pushed::{PushedError, PushedRequest};
use tessera_actors::secret::{self, prefix, SecretHash};

use crate::extract::OAuthForm;
use crate::routes::oauth2::request_object;
use crate::state::AppState;

/// RFC 9126 §2.2: the prefix of every `request_uri` tessera hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters of the interaction itself, which come from this request
/// even when the authorization request's come from a pushed one.
const INTERACTION: &[&str] = &["consent", "csrf", "auth_after"];

/// The parameters to use, and what to carry through login and consent.
pub(super) struct Resolved {
    pub(super) form: OAuthForm,
    /// What the way back from the login page and the consent form carry.
    pub(super) carry: OAuthForm,
    /// The held request's id, taken once the authorization ends.
    pub(super) pushed: Option<SecretHash>,
    /// A binding cookie to set, when this browser had none.
    pub(super) cookie: Option<Cookie<'static>>,
}

/// A refused request: shown as a page (its redirect URI is not trusted
/// yet, or not known).
pub(super) struct Refusal {
    pub(super) error: &'static str,
    pub(super) description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        error,
        description: description.into(),
    }
}

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-tessera_authz"
    } else {
        "tessera_authz"
    }
}

/// This browser's binding secret, and the cookie to set when it is new.
fn binding(req: &HttpRequest, state: &AppState) -> (SecretHash, Option<Cookie<'static>>) {
    let secure = !state.insecure_cookies;
    if let Some(c) = req.cookie(cookie_name(secure)) {
        if c.value().len() >= 32 {
            return (secret::sha256(c.value().as_bytes()), None);
        }
    }
    let value = secret::b64url(&secret::random_bytes::<32>());
    let hash = secret::sha256(value.as_bytes());
    let cookie = Cookie::build(cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    (hash, Some(cookie))
}

/// The id a `request_uri` is held under.
pub fn request_uri_id(request_uri: &str) -> Option<SecretHash> {
    let secret = request_uri.strip_prefix(REQUEST_URI_PREFIX)?;
    secret
        .starts_with(prefix::REQUEST_URI)
        .then(|| secret::sha256(secret.as_bytes()))
}

/// A new `request_uri` and the id it is held under.
pub fn new_request_uri() -> (String, SecretHash) {
    let secret = secret::new_secret(prefix::REQUEST_URI);
    let id = secret::sha256(secret.as_bytes());
    (format!("{REQUEST_URI_PREFIX}{secret}"), id)
}

/// Whether this client must push its requests.
pub fn par_required(state: &AppState, client: &Client) -> bool {
    state.par.required || client.require_pushed_authorization_requests
}

pub(super) async fn resolve(
    req: &HttpRequest,
    state: &AppState,
    client: &Arc<Client>,
    form: OAuthForm,
) -> Result<Resolved, Refusal> {
    let now = state.engine.clock.now();
    if let Some(uri) = form.get("request_uri") {
        if form.get("request").is_some() {
            return Err(refuse(
                "invalid_request",
                "request and request_uri cannot both be sent",
            ));
        }
        let id = request_uri_id(uri).ok_or_else(|| {
            refuse(
                "invalid_request_uri",
                "the request_uri was not issued by this server's pushed authorization request endpoint",
            )
        })?;
        let (bind, cookie) = binding(req, state);
        let until = now.saturating_add(state.par.login_window);
        let held = state
            .pushed
            .open(id, bind, until, now)
            .await
            .map_err(|e| match e {
                PushedError::Busy | PushedError::Unavailable => {
                    refuse("temporarily_unavailable", e.to_string())
                }
                _ => refuse("invalid_request_uri", e.to_string()),
            })?;
        if held.client_id != client.client_id {
            return Err(refuse(
                "invalid_request_uri",
                "the request_uri was pushed by another client",
            ));
        }
        return Ok(held_request(
            &form,
            held.pairs,
            held.opened_at,
            uri,
            id,
            cookie,
        ));
    }
    // RFC 9126 §5: a client that must push sends nothing else, not even
    // a request object by value.
    if par_required(state, client) {
        return Err(refuse(
            "invalid_request",
            "this client must push its authorization requests (RFC 9126) and send only client_id and request_uri",
        ));
    }
    if let Some(jwt) = form.get("request") {
        let pairs = request_object::parameters(state, client, jwt)
            .await
            .map_err(|e| refuse(e.code.as_str(), e.description))?;
        // Held like a pushed request, already bound to this browser, so
        // the way through login carries a handle, not the parameters.
        let (uri, id) = new_request_uri();
        let (bind, cookie) = binding(req, state);
        let held = PushedRequest {
            client_id: client.client_id.clone(),
            pairs: pairs.clone(),
            expires_at: now.saturating_add(state.par.login_window),
            binding: Some(bind),
            opened_at: now,
        };
        state
            .pushed
            .put(id, held.clone(), now)
            .await
            .map_err(|e| refuse("temporarily_unavailable", e.to_string()))?;
        // Shared requests are bound when opened; open it now for this
        // browser (a no-op for one held in memory).
        let _ = state.pushed.open(id, bind, held.expires_at, now).await;
        return Ok(held_request(&form, pairs, now, &uri, id, cookie));
    }
    Ok(Resolved {
        carry: OAuthForm::from_pairs(form.pairs().to_vec()),
        form,
        pushed: None,
        cookie: None,
    })
}

/// The held request's parameters, with this request's interaction state.
/// `auth_after` (a login this request sent the browser to must be newer)
/// comes from the browser, so it is never earlier than the moment the
/// browser opened the request: an edited one cannot skip a `prompt=login`
/// or `max_age` the client asked for.
fn held_request(
    sent: &OAuthForm,
    mut pairs: Vec<(String, String)>,
    opened_at: i64,
    uri: &str,
    id: SecretHash,
    cookie: Option<Cookie<'static>>,
) -> Resolved {
    pairs.retain(|(k, _)| !INTERACTION.contains(&k.as_str()));
    let mut carry = vec![
        (
            "client_id".to_string(),
            sent.get("client_id").unwrap_or_default().to_string(),
        ),
        ("request_uri".to_string(), uri.to_string()),
    ];
    for (k, v) in sent.pairs() {
        if !INTERACTION.contains(&k.as_str()) {
            continue;
        }
        let v = if k == "auth_after" {
            v.parse::<i64>()
                .unwrap_or(opened_at)
                .max(opened_at)
                .to_string()
        } else {
            v.clone()
        };
        pairs.push((k.clone(), v.clone()));
        carry.push((k.clone(), v));
    }
    Resolved {
        form: OAuthForm::from_pairs(pairs),
        carry: OAuthForm::from_pairs(carry),
        pushed: Some(id),
        cookie,
    }
}
