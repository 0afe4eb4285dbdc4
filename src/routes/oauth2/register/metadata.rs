//! RFC 7591 §2 client metadata as a client sends it, checked against the
//! server's `[registration]` policy and turned into a [`ClientSpec`]; and
//! the client information response (§3.2.1) built from the record.
//!
//! Each field is read on its own, so that a field of the wrong type is
//! named in the error. Fields the server does not know are ignored
//! (RFC 7591 §2: "MUST ignore any client metadata ... it does not
//! understand").

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use tessera_actors::directory::{Client, ClientSpec, TokenAuthMethod};
use tessera_actors::domain::{GrantType, Scope};

use super::RegistrationError;

/// What the registration policy needs besides the metadata.
pub struct Policy<'a> {
    pub grant_types: &'a [GrantType],
    pub scope: &'a Scope,
    pub auth_methods: &'a [TokenAuthMethod],
    /// The server's signing algorithm (`id_token_signed_response_alg`).
    pub signing_alg: &'a str,
    /// Loopback `http` URLs for `jwks_uri` and `backchannel_logout_uri`
    /// (only in tests: `client_auth.allow_http_jwks_uri`).
    pub allow_loopback_http: bool,
}

fn bad(field: &str, message: impl std::fmt::Display) -> RegistrationError {
    RegistrationError::metadata(format!("{field}: {message}"))
}

/// Read one field; `null` is absent.
fn field<T: DeserializeOwned>(
    m: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, RegistrationError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            let what = e.to_string();
            // serde's message names the type it wanted, without positions.
            let what = what.split(" at line").next().unwrap_or("of the wrong type");
            bad(name, what)
        }),
    }
}

/// Schemes a redirect URI may never have: they run code or read files in
/// the browser instead of reaching an application.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "about", "blob"];

/// RFC 3986 §3.1 scheme syntax.
fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// A redirect URI a client may register for itself: `https`, `http` to the
/// loopback interface (any port, RFC 8252 §7.3) or a private-use scheme
/// (RFC 8252 §7.1); no wildcard, no fragment.
fn check_redirect(u: &str, field_name: &str) -> Result<(), String> {
    if u.is_empty() || u.len() > 2048 {
        return Err(format!(
            "{field_name}: {u:?} is empty or longer than 2048 characters"
        ));
    }
    if u.contains('#') {
        return Err(format!("{field_name}: {u:?} has a fragment"));
    }
    if u.contains('*') {
        return Err(format!(
            "{field_name}: {u:?} has a wildcard; register each URI in full"
        ));
    }
    if u.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "{field_name}: {u:?} has a space or control character"
        ));
    }
    let Some((scheme, rest)) = u.split_once(':') else {
        return Err(format!("{field_name}: {u:?} is not an absolute URI"));
    };
    if !valid_scheme(scheme) || rest.is_empty() {
        return Err(format!("{field_name}: {u:?} is not an absolute URI"));
    }
    let lower = scheme.to_ascii_lowercase();
    if FORBIDDEN_SCHEMES.contains(&lower.as_str()) {
        return Err(format!(
            "{field_name}: the {scheme:?} scheme is not allowed"
        ));
    }
    if lower == "https" || lower == "http" {
        let host = rest.strip_prefix("//").unwrap_or("");
        if host.is_empty() || host.starts_with('/') {
            return Err(format!("{field_name}: {u:?} has no host"));
        }
        if host
            .split(['/', '?'])
            .next()
            .is_some_and(|a| a.contains('@'))
        {
            return Err(format!("{field_name}: {u:?} has user information"));
        }
    }
    tessera_actors::domain::registrable_redirect(u).map_err(|m| format!("{field_name}: {m}"))
}

/// `https`, or `http` to the loopback interface when allowed: a URL the
/// server itself calls.
fn check_callback(u: &str, name: &str, allow_loopback_http: bool) -> Result<(), RegistrationError> {
    let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
        .iter()
        .any(|p| {
            u.strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with([':', '/', '?']))
        });
    if u.starts_with("https://") || (allow_loopback_http && loopback) {
        Ok(())
    } else {
        Err(bad(name, format!("{u:?} must be an https URL")))
    }
}

/// The metadata of a registration request (or an RFC 7592 update), as a
/// client spec, checked against the policy.
pub fn to_spec(body: &Value, policy: &Policy) -> Result<ClientSpec, RegistrationError> {
    let Some(m) = body.as_object() else {
        return Err(RegistrationError::metadata(
            "the body must be a JSON object of client metadata",
        ));
    };
    if m.contains_key("software_statement") {
        return Err(RegistrationError::software_statement());
    }
    let method = match field::<String>(m, "token_endpoint_auth_method")? {
        None => TokenAuthMethod::ClientSecretBasic,
        Some(s) => {
            serde_json::from_value::<TokenAuthMethod>(Value::String(s.clone())).map_err(|_| {
                bad(
                    "token_endpoint_auth_method",
                    format!("{s:?} is not supported"),
                )
            })?
        }
    };
    if !policy.auth_methods.contains(&method) {
        return Err(bad(
            "token_endpoint_auth_method",
            format!(
                "{} is not allowed for self-registered clients",
                method.as_str()
            ),
        ));
    }
    let grant_names: Vec<String> =
        field(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut grant_types = Vec::new();
    for g in &grant_names {
        let gt = GrantType::parse(g)
            .ok_or_else(|| bad("grant_types", format!("{g:?} is not supported")))?;
        if !policy.grant_types.contains(&gt) {
            return Err(bad(
                "grant_types",
                format!("{g} is not allowed for self-registered clients"),
            ));
        }
        if !grant_types.contains(&gt) {
            grant_types.push(gt);
        }
    }
    let response_types: Vec<String> = field(m, "response_types")?.unwrap_or_else(|| {
        if grant_types.contains(&GrantType::AuthorizationCode) {
            vec!["code".into()]
        } else {
            Vec::new()
        }
    });
    if let Some(r) = response_types.iter().find(|r| r.as_str() != "code") {
        return Err(bad(
            "response_types",
            format!("{r:?} is not supported (only code)"),
        ));
    }
    // RFC 7591 §2.1: the two must agree.
    if response_types.is_empty() == grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(bad(
            "response_types",
            "code goes with the authorization_code grant, and only with it",
        ));
    }
    let scope = match field::<String>(m, "scope")? {
        None => policy.scope.clone(),
        Some(s) => {
            let asked = Scope::parse(&s).map_err(|e| bad("scope", e.0))?;
            if let Some(t) = asked.tokens().iter().find(|t| !policy.scope.contains(t)) {
                return Err(bad(
                    "scope",
                    format!("{t:?} is not allowed for self-registered clients"),
                ));
            }
            asked
        }
    };
    let redirect_uris: Vec<String> = field(m, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.len() > 20 {
        return Err(RegistrationError::redirect("redirect_uris: at most 20"));
    }
    for u in &redirect_uris {
        check_redirect(u, "redirect_uris").map_err(RegistrationError::redirect)?;
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(RegistrationError::redirect(
            "redirect_uris: an authorization_code client needs at least one",
        ));
    }
    let post_logout: Vec<String> = field(m, "post_logout_redirect_uris")?.unwrap_or_default();
    if post_logout.len() > 20 {
        return Err(bad("post_logout_redirect_uris", "at most 20"));
    }
    for u in &post_logout {
        check_redirect(u, "post_logout_redirect_uris").map_err(RegistrationError::metadata)?;
    }
    let jwks_uri: Option<String> = field(m, "jwks_uri")?;
    if let Some(u) = &jwks_uri {
        check_callback(u, "jwks_uri", policy.allow_loopback_http)?;
    }
    let backchannel: Option<String> = field(m, "backchannel_logout_uri")?;
    if let Some(u) = &backchannel {
        check_callback(u, "backchannel_logout_uri", policy.allow_loopback_http)?;
    }
    if let Some(alg) = field::<String>(m, "id_token_signed_response_alg")? {
        if alg != policy.signing_alg {
            return Err(bad(
                "id_token_signed_response_alg",
                format!("ID tokens are signed with {}", policy.signing_alg),
            ));
        }
    }
    if let Some(t) = field::<String>(m, "subject_type")? {
        if t != "public" {
            return Err(bad("subject_type", "only public"));
        }
    }
    if let Some(t) = field::<String>(m, "application_type")? {
        if t != "web" && t != "native" {
            return Err(bad("application_type", "web or native"));
        }
    }
    let flag = |name: &str| -> Result<bool, RegistrationError> {
        Ok(field::<bool>(m, name)?.unwrap_or(false))
    };
    Ok(ClientSpec {
        name: field(m, "client_name")?,
        public: method == TokenAuthMethod::None,
        grant_types: Some(grant_types),
        scope: Some(scope.to_string()),
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        token_endpoint_auth_method: Some(method),
        token_endpoint_auth_signing_alg: field(m, "token_endpoint_auth_signing_alg")?,
        jwks: field(m, "jwks")?,
        jwks_uri,
        require_pushed_authorization_requests: flag("require_pushed_authorization_requests")?,
        request_object_signing_alg: field(m, "request_object_signing_alg")?,
        introspection_signed_response_alg: field(m, "introspection_signed_response_alg")?,
        dpop_bound_access_tokens: flag("dpop_bound_access_tokens")?,
        tls_client_auth_subject_dn: field(m, "tls_client_auth_subject_dn")?,
        tls_client_auth_san_dns: field(m, "tls_client_auth_san_dns")?,
        tls_client_auth_san_uri: field(m, "tls_client_auth_san_uri")?,
        tls_client_auth_san_ip: field(m, "tls_client_auth_san_ip")?,
        tls_client_auth_san_email: field(m, "tls_client_auth_san_email")?,
        tls_client_certificate_bound_access_tokens: flag(
            "tls_client_certificate_bound_access_tokens",
        )?,
        logo_uri: field(m, "logo_uri")?,
        client_uri: field(m, "client_uri")?,
        policy_uri: field(m, "policy_uri")?,
        tos_uri: field(m, "tos_uri")?,
        contacts: field(m, "contacts")?.unwrap_or_default(),
        software_id: field(m, "software_id")?,
        software_version: field(m, "software_version")?,
        backchannel_logout_uri: backchannel,
        backchannel_logout_session_required: flag("backchannel_logout_session_required")?,
        ..ClientSpec::default()
    })
}

/// RFC 7591 §3.2.1 / RFC 7592 §3: the client's registered metadata, with
/// its credentials when they were issued now.
pub fn information(
    c: &Client,
    secret: Option<&str>,
    registration_token: &str,
    client_uri: &str,
) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            o.insert(k.to_string(), v);
        }
    };
    put("client_id", json!(c.client_id));
    if let Some(s) = secret {
        put("client_secret", json!(s));
    }
    if c.secret_hash.is_some() {
        // The secret does not expire.
        put("client_secret_expires_at", json!(0));
    }
    put("client_id_issued_at", json!(c.created_at));
    put("registration_access_token", json!(registration_token));
    put("registration_client_uri", json!(client_uri));
    put("client_name", json!(c.name));
    put("redirect_uris", json!(c.redirect_uris));
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    put("grant_types", json!(grants));
    let code = c.grant_types.contains(&GrantType::AuthorizationCode);
    put(
        "response_types",
        json!(if code { vec!["code"] } else { vec![] }),
    );
    let method = c.token_endpoint_auth_method.unwrap_or(if c.is_public() {
        TokenAuthMethod::None
    } else {
        TokenAuthMethod::ClientSecretBasic
    });
    put("token_endpoint_auth_method", json!(method.as_str()));
    put("scope", json!(c.scope.to_string()));
    if !c.post_logout_redirect_uris.is_empty() {
        put(
            "post_logout_redirect_uris",
            json!(c.post_logout_redirect_uris),
        );
    }
    let a = &c.about;
    put("logo_uri", json!(a.logo_uri));
    put("client_uri", json!(a.client_uri));
    put("policy_uri", json!(a.policy_uri));
    put("tos_uri", json!(a.tos_uri));
    if !a.contacts.is_empty() {
        put("contacts", json!(a.contacts));
    }
    put("software_id", json!(a.software_id));
    put("software_version", json!(a.software_version));
    put("jwks", c.jwks.clone().unwrap_or(Value::Null));
    put("jwks_uri", json!(c.jwks_uri));
    put(
        "token_endpoint_auth_signing_alg",
        json!(c.token_endpoint_auth_signing_alg),
    );
    put(
        "request_object_signing_alg",
        json!(c.request_object_signing_alg),
    );
    put(
        "introspection_signed_response_alg",
        json!(c.introspection_signed_response_alg),
    );
    if c.require_pushed_authorization_requests {
        put("require_pushed_authorization_requests", json!(true));
    }
    if c.dpop_bound_access_tokens {
        put("dpop_bound_access_tokens", json!(true));
    }
    if let Some(name) = &c.tls_client_auth {
        let (k, v) = name.field();
        put(k, json!(v));
    }
    if c.tls_client_certificate_bound_access_tokens {
        put("tls_client_certificate_bound_access_tokens", json!(true));
    }
    if let Some(u) = &c.backchannel_logout_uri {
        put("backchannel_logout_uri", json!(u));
        put(
            "backchannel_logout_session_required",
            json!(c.backchannel_logout_session_required),
        );
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51234/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
            "cursor://anysphere.cursor/oauth",
        ] {
            assert!(check_redirect(ok, "redirect_uris").is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example/cb#frag",
            "https://*.example/cb",
            "https://app.example/*",
            "http://app.example/cb",
            "javascript:alert(1)",
            "JavaScript://x%0aalert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "relative/path",
            "https:",
            "https:///nohost",
            "1abc:/x",
            "https://app.example/a b",
            "",
        ] {
            assert!(check_redirect(bad, "redirect_uris").is_err(), "{bad}");
        }
    }
}
