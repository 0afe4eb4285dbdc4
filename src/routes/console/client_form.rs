//! The client form: every field of a `ClientSpec`, filled from a client
//! or from what was typed, and turned back into the spec the admin API
//! takes (through its JSON shape, so the names and checks are the API's).

use serde_json::{json, Map, Value};
use tessera_actors::directory::{Client, ClientSpec};

use super::form::Form;
use crate::error::ApiError;

/// The grant types offered, as `(value, label)`.
pub const GRANTS: &[(&str, &str)] = &[
    ("authorization_code", "Authorization code"),
    ("refresh_token", "Refresh token"),
    ("client_credentials", "Client credentials"),
    (
        "urn:ietf:params:oauth:grant-type:device_code",
        "Device code",
    ),
    (
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "Token exchange",
    ),
];

/// The client authentication methods offered, as `(value, label)`.
pub const METHODS: &[(&str, &str)] = &[
    ("", "Default (a secret; none for public clients)"),
    ("client_secret_basic", "client_secret_basic"),
    ("client_secret_post", "client_secret_post"),
    ("client_secret_jwt", "client_secret_jwt"),
    ("private_key_jwt", "private_key_jwt"),
    ("none", "none (public client)"),
    ("tls_client_auth", "tls_client_auth"),
    ("self_signed_tls_client_auth", "self_signed_tls_client_auth"),
];

/// The checkboxes of policy flags: `(field, label)`.
pub const FLAGS: &[(&str, &str)] = &[
    ("first_party", "First party (no consent screen)"),
    ("allow_plain_pkce", "Allow PKCE method plain"),
    ("dpop_bound_access_tokens", "Require DPoP (RFC 9449)"),
    ("dpop_require_nonce", "DPoP proofs need a server nonce"),
    (
        "require_pushed_authorization_requests",
        "Require PAR (RFC 9126)",
    ),
    ("introspect_any", "May introspect any token"),
    (
        "tls_client_certificate_bound_access_tokens",
        "Certificate-bound tokens (RFC 8705)",
    ),
    (
        "backchannel_logout_session_required",
        "Back-channel logout needs sid",
    ),
];

/// Single-line text fields: `(field, label, hint)`.
pub const TEXTS: &[(&str, &str, &str)] = &[
    (
        "token_endpoint_auth_signing_alg",
        "Assertion algorithm",
        "e.g. RS256, ES256, HS256",
    ),
    ("jwks_uri", "JWKS URI", "https URL of the client's keys"),
    (
        "request_object_signing_alg",
        "Request object algorithm",
        "or none for unsigned",
    ),
    (
        "introspection_signed_response_alg",
        "Signed introspection",
        "RS256, ES256 or EdDSA",
    ),
    ("backchannel_logout_uri", "Back-channel logout URI", ""),
    (
        "tls_client_auth_subject_dn",
        "Certificate subject DN",
        "tls_client_auth: one of these five",
    ),
    ("tls_client_auth_san_dns", "Certificate SAN DNS", ""),
    ("tls_client_auth_san_uri", "Certificate SAN URI", ""),
    ("tls_client_auth_san_ip", "Certificate SAN IP", ""),
    ("tls_client_auth_san_email", "Certificate SAN e-mail", ""),
    ("logo_uri", "Logo URI", ""),
    ("client_uri", "Client URI", ""),
    ("policy_uri", "Policy URI", ""),
    ("tos_uri", "Terms of service URI", ""),
    ("software_id", "Software id", ""),
    ("software_version", "Software version", ""),
];

/// List fields, one entry per line: `(field, label)`.
pub const LISTS: &[(&str, &str)] = &[
    ("redirect_uris", "Redirect URIs"),
    ("post_logout_redirect_uris", "Post-logout redirect URIs"),
    ("audiences", "Audiences"),
    (
        "introspect_audiences",
        "May introspect tokens for audiences",
    ),
    ("contacts", "Contacts"),
];

/// The form's values, as strings and flags, in the shape the template
/// draws.
#[derive(Default)]
pub struct ClientForm {
    pub client_id: String,
    pub name: String,
    pub method: String,
    pub grants: Vec<String>,
    pub scope: String,
    pub format: String,
    pub ttl: String,
    pub jwks: String,
    pub exchange: bool,
    pub exchange_audiences: String,
    pub exchange_impersonation: bool,
    pub exchange_refresh: bool,
    /// `(field, label, checked)`.
    pub flags: Vec<(&'static str, &'static str, bool)>,
    /// `(field, label, hint, value)`.
    pub texts: Vec<(&'static str, &'static str, &'static str, String)>,
    /// `(field, label, one entry per line)`.
    pub lists: Vec<(&'static str, &'static str, String)>,
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

impl ClientForm {
    /// A new client: a confidential client_credentials client.
    pub fn blank() -> ClientForm {
        ClientForm {
            grants: vec!["client_credentials".into()],
            flags: FLAGS.iter().map(|(f, l)| (*f, *l, false)).collect(),
            texts: TEXTS
                .iter()
                .map(|(f, l, h)| (*f, *l, *h, String::new()))
                .collect(),
            lists: LISTS.iter().map(|(f, l)| (*f, *l, String::new())).collect(),
            ..Default::default()
        }
    }

    /// The form of an existing client.
    pub fn of(c: &Client) -> ClientForm {
        let cert = c.tls_client_auth.as_ref().map(|n| n.field());
        let text = |field: &str| -> String {
            match field {
                "token_endpoint_auth_signing_alg" => opt(&c.token_endpoint_auth_signing_alg),
                "jwks_uri" => opt(&c.jwks_uri),
                "request_object_signing_alg" => opt(&c.request_object_signing_alg),
                "introspection_signed_response_alg" => opt(&c.introspection_signed_response_alg),
                "backchannel_logout_uri" => opt(&c.backchannel_logout_uri),
                "logo_uri" => opt(&c.about.logo_uri),
                "client_uri" => opt(&c.about.client_uri),
                "policy_uri" => opt(&c.about.policy_uri),
                "tos_uri" => opt(&c.about.tos_uri),
                "software_id" => opt(&c.about.software_id),
                "software_version" => opt(&c.about.software_version),
                f => cert
                    .as_ref()
                    .filter(|(name, _)| *name == f)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            }
        };
        let flag = |field: &str| match field {
            "first_party" => c.first_party,
            "allow_plain_pkce" => c.allow_plain_pkce,
            "dpop_bound_access_tokens" => c.dpop_bound_access_tokens,
            "dpop_require_nonce" => c.dpop_require_nonce,
            "require_pushed_authorization_requests" => c.require_pushed_authorization_requests,
            "introspect_any" => c.introspect_any,
            "tls_client_certificate_bound_access_tokens" => {
                c.tls_client_certificate_bound_access_tokens
            }
            "backchannel_logout_session_required" => c.backchannel_logout_session_required,
            _ => false,
        };
        let list = |field: &str| -> String {
            match field {
                "redirect_uris" => c.redirect_uris.join("\n"),
                "post_logout_redirect_uris" => c.post_logout_redirect_uris.join("\n"),
                "audiences" => c.audiences.join("\n"),
                "introspect_audiences" => c.introspect_audiences.join("\n"),
                "contacts" => c.about.contacts.join("\n"),
                _ => String::new(),
            }
        };
        let method = match c.token_endpoint_auth_method {
            Some(m) => m.as_str().to_string(),
            None if c.is_public() => "none".into(),
            None => String::new(),
        };
        ClientForm {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            method,
            grants: c
                .grant_types
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            scope: c.scope.to_string(),
            format: c
                .access_token_format
                .map(|f| format!("{f:?}").to_lowercase())
                .unwrap_or_default(),
            ttl: c
                .access_token_ttl
                .map(|t| t.to_string())
                .unwrap_or_default(),
            jwks: c
                .jwks
                .as_ref()
                .and_then(|j| serde_json::to_string_pretty(j).ok())
                .unwrap_or_default(),
            exchange: c.token_exchange.is_some(),
            exchange_audiences: c
                .token_exchange
                .as_ref()
                .map(|p| p.audiences.join("\n"))
                .unwrap_or_default(),
            exchange_impersonation: c.token_exchange.as_ref().is_some_and(|p| p.impersonation),
            exchange_refresh: c.token_exchange.as_ref().is_some_and(|p| p.refresh_tokens),
            flags: FLAGS.iter().map(|(f, l)| (*f, *l, flag(f))).collect(),
            texts: TEXTS
                .iter()
                .map(|(f, l, h)| (*f, *l, *h, text(f)))
                .collect(),
            lists: LISTS.iter().map(|(f, l)| (*f, *l, list(f))).collect(),
        }
    }

    /// What was typed.
    pub fn typed(f: &Form) -> ClientForm {
        ClientForm {
            client_id: f.text("client_id"),
            name: f.text("name"),
            method: f.text("token_endpoint_auth_method"),
            grants: f.all("grant_types"),
            scope: f.text("scope"),
            format: f.text("access_token_format"),
            ttl: f.text("access_token_ttl"),
            jwks: f.text("jwks"),
            exchange: f.flag("token_exchange"),
            exchange_audiences: f.list("exchange_audiences").join("\n"),
            exchange_impersonation: f.flag("exchange_impersonation"),
            exchange_refresh: f.flag("exchange_refresh_tokens"),
            flags: FLAGS.iter().map(|(n, l)| (*n, *l, f.flag(n))).collect(),
            texts: TEXTS
                .iter()
                .map(|(n, l, h)| (*n, *l, *h, f.text(n)))
                .collect(),
            lists: LISTS
                .iter()
                .map(|(n, l)| (*n, *l, f.list(n).join("\n")))
                .collect(),
        }
    }

    pub fn has_grant(&self, g: &str) -> bool {
        self.grants.iter().any(|x| x == g)
    }

    /// The spec the admin API takes; `client_id` only for a new client
    /// (an empty one is generated).
    pub fn spec(&self, new: bool) -> Result<ClientSpec, ApiError> {
        let mut m = Map::new();
        if new && !self.client_id.is_empty() {
            m.insert("client_id".into(), json!(self.client_id));
        }
        if !self.name.is_empty() {
            m.insert("name".into(), json!(self.name));
        }
        if !self.method.is_empty() {
            m.insert("token_endpoint_auth_method".into(), json!(self.method));
            m.insert("public".into(), json!(self.method == "none"));
        }
        m.insert("grant_types".into(), json!(self.grants));
        if !self.scope.is_empty() {
            m.insert("scope".into(), json!(self.scope));
        }
        if !self.format.is_empty() {
            m.insert("access_token_format".into(), json!(self.format));
        }
        if !self.ttl.is_empty() {
            let ttl: i64 = self.ttl.parse().map_err(|_| {
                ApiError::bad_request("invalid_field", "access_token_ttl: a number of seconds")
            })?;
            m.insert("access_token_ttl".into(), json!(ttl));
        }
        if !self.jwks.is_empty() {
            let jwks: Value = serde_json::from_str(&self.jwks)
                .map_err(|_| ApiError::bad_request("invalid_field", "jwks: not a JSON object"))?;
            m.insert("jwks".into(), jwks);
        }
        if self.exchange {
            m.insert(
                "token_exchange".into(),
                json!({
                    "audiences": self.exchange_audiences.split_whitespace().collect::<Vec<_>>(),
                    "impersonation": self.exchange_impersonation,
                    "refresh_tokens": self.exchange_refresh,
                }),
            );
        }
        for (field, _, on) in &self.flags {
            m.insert((*field).into(), json!(on));
        }
        for (field, _, _, v) in &self.texts {
            if !v.is_empty() {
                m.insert((*field).into(), json!(v));
            }
        }
        for (field, _, v) in &self.lists {
            m.insert(
                (*field).into(),
                json!(v.split_whitespace().collect::<Vec<_>>()),
            );
        }
        serde_json::from_value(Value::Object(m))
            .map_err(|e| ApiError::bad_request("invalid_field", e.to_string()))
    }
}
