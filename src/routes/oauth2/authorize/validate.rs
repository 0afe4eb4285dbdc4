//! Checking an authorization request once its client and redirect URI are
//! trusted: response type, scope, PKCE, `prompt`, `max_age` and
//! `dpop_jkt`, `claims` and `acr_values`.

use tessera_actors::directory::Client;
use tessera_actors::domain::{GrantType, Pkce, PkceMethod, Scope};
use tessera_actors::grants::claims::{self, ClaimsRequest};

use crate::extract::OAuthForm;

pub(crate) struct Validated {
    pub(super) scope: Scope,
    pub(super) pkce: Option<Pkce>,
    pub(super) prompt_none: bool,
    pub(super) prompt_login: bool,
    pub(super) prompt_consent: bool,
    pub(super) max_age: Option<i64>,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    pub(super) dpop_jkt: Option<String>,
    /// RFC 8707: the resources the tokens are for.
    pub(super) resources: Vec<String>,
    /// OIDC Core §5.5: the individual claims asked for (those the client
    /// may have), and the `acr` asked for there or in `acr_values`.
    pub(super) claims: ClaimsRequest,
}

pub(crate) fn validate(
    client: &Client,
    form: &OAuthForm,
    repeated: Option<&str>,
) -> Result<Validated, (&'static str, &'static str)> {
    if repeated.is_some() {
        return Err(("invalid_request", "a parameter is repeated"));
    }
    match form.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
        None => {
            return Err((
                "unsupported_response_type",
                "response_type is missing; only code is supported",
            ))
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err((
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let scope = match form.get("scope") {
        Some(s) => Scope::parse(s).map_err(|_| ("invalid_scope", "the scope is malformed"))?,
        None => client.scope.clone(),
    };
    if !scope.is_subset_of(&client.scope) {
        return Err((
            "invalid_scope",
            "the requested scope exceeds what the client may request",
        ));
    }
    let pkce = match (
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    ) {
        (Some(c), m) => {
            let method = match m {
                None => PkceMethod::S256,
                Some(m) => PkceMethod::parse(m).ok_or((
                    "invalid_request",
                    "code_challenge_method must be S256 or plain",
                ))?,
            };
            if method == PkceMethod::Plain && !client.allow_plain_pkce {
                return Err((
                    "invalid_request",
                    "this client must use code_challenge_method=S256",
                ));
            }
            Some(Pkce::parse(c, method).map_err(|_| {
                (
                    "invalid_request",
                    "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]",
                )
            })?)
        }
        (None, Some(_)) => {
            return Err((
                "invalid_request",
                "code_challenge_method without code_challenge",
            ))
        }
        (None, None) if client.is_public() => {
            return Err((
                "invalid_request",
                "PKCE (code_challenge) is required for public clients",
            ))
        }
        (None, None) => None,
    };
    if form.get("nonce").is_some_and(|n| n.len() > 512) {
        return Err(("invalid_request", "nonce is longer than 512 characters"));
    }
    let prompt: Vec<&str> = form
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let prompt_none = prompt.contains(&"none");
    if prompt_none && prompt.len() > 1 {
        return Err((
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match form.get("max_age") {
        Some(m) => Some(
            m.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or(("invalid_request", "max_age must be a non-negative integer"))?,
        ),
        None => None,
    };
    let dpop_jkt = match form.get("dpop_jkt") {
        Some(j) if tessera_actors::dpop::valid_jkt(j) => Some(j.to_string()),
        Some(_) => {
            return Err((
                "invalid_request",
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
            ))
        }
        None => None,
    };
    let resources = form.list("resource");
    if resources
        .iter()
        .any(|r| !client.audiences.iter().any(|a| a == r))
    {
        return Err((
            "invalid_target",
            "a requested resource is not registered for this client",
        ));
    }
    let claims = requested_claims(client, form)?;
    Ok(Validated {
        claims,
        resources,
        dpop_jkt,
        scope,
        pkce,
        prompt_none,
        prompt_login: prompt.contains(&"login"),
        prompt_consent: prompt.contains(&"consent"),
        max_age,
    })
}

/// The `claims` parameter, parsed strictly, with only the claims whose
/// scope the client may request; and `acr_values` (OIDC Core §3.1.2.1).
fn requested_claims(
    client: &Client,
    form: &OAuthForm,
) -> Result<ClaimsRequest, (&'static str, &'static str)> {
    let mut request = match form.get("claims") {
        Some(raw) => claims::parse(raw).map_err(|why| ("invalid_request", why))?,
        None => ClaimsRequest::default(),
    };
    request
        .claims
        .retain_allowed(|scope| client.scope.contains(scope));
    if let Some(values) = form.get("acr_values") {
        if values.len() > 1024 {
            return Err((
                "invalid_request",
                "acr_values is longer than 1024 characters",
            ));
        }
        request.acr.add_acr_values(values);
    }
    Ok(request)
}
