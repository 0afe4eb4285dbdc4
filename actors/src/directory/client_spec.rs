//! What an administrator (or, later, a client registering itself) asks
//! for when creating a client: the RFC 7591 / RFC 8705 metadata, checked
//! once here and turned into a [`Client`] record.

use serde::{Deserialize, Serialize};

use super::clients::{About, CertificateName, Client, ExchangePolicy, TokenAuthMethod};
use super::{invalid, DirectoryError};
use crate::domain::{valid_audience, GrantType, Scope, TokenFormat};
use crate::secret::{self, prefix};

/// What an administrator asks for when creating a client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Chosen id; generated (`tes_cl_...`) when absent.
    pub client_id: Option<String>,
    pub name: Option<String>,
    /// Public clients have no secret and authenticate with `none`.
    #[serde(default)]
    pub public: bool,
    pub grant_types: Option<Vec<GrantType>>,
    pub scope: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub introspect_any: bool,
    #[serde(default)]
    pub introspect_audiences: Vec<String>,
    pub access_token_format: Option<TokenFormat>,
    pub access_token_ttl: Option<i64>,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub allow_plain_pkce: bool,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    #[serde(default)]
    pub dpop_require_nonce: bool,
    pub token_exchange: Option<ExchangePolicy>,
    /// RFC 7591 names. `none` makes a public client.
    pub token_endpoint_auth_method: Option<TokenAuthMethod>,
    pub token_endpoint_auth_signing_alg: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    pub request_object_signing_alg: Option<String>,
    pub introspection_signed_response_alg: Option<String>,
    /// RFC 8705 §2.1.2: exactly one for a `tls_client_auth` client.
    pub tls_client_auth_subject_dn: Option<String>,
    pub tls_client_auth_san_dns: Option<String>,
    pub tls_client_auth_san_uri: Option<String>,
    pub tls_client_auth_san_ip: Option<String>,
    pub tls_client_auth_san_email: Option<String>,
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// RFC 7591 §2: who the client is, for people.
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    #[serde(default)]
    pub contacts: Vec<String>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.2.
    pub backchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
}

impl ClientSpec {
    /// Validate and turn into a client record plus the secret to show once.
    pub fn build(
        mut self,
        now: i64,
        max_ttl: i64,
        signing_alg: &str,
    ) -> Result<(Client, Option<String>), DirectoryError> {
        let tls_client_auth = self.certificate_name(self.token_endpoint_auth_method)?;
        let about = self.about()?;
        let client_id = match self.client_id {
            Some(id) => {
                if !crate::domain::valid_client_id(&id) {
                    return Err(invalid("client_id", "1-128 characters of [A-Za-z0-9-._~]"));
                }
                id
            }
            None => secret::new_id(prefix::CLIENT_ID),
        };
        let method = self.token_endpoint_auth_method;
        let name = self.name.unwrap_or_else(|| client_id.clone());
        if method == Some(TokenAuthMethod::None) {
            self.public = true;
        } else if self.public && method.is_some() {
            return Err(invalid(
                "token_endpoint_auth_method",
                "a public client authenticates with none",
            ));
        }
        check_keys(&self.jwks, &self.jwks_uri)?;
        if let Some(alg) = self.introspection_signed_response_alg.as_deref() {
            if alg != signing_alg {
                return Err(invalid(
                    "introspection_signed_response_alg",
                    format!("answers are signed with the server's key: {signing_alg}"),
                ));
            }
        }
        if let Some(alg) = self.request_object_signing_alg.as_deref() {
            if alg != "none" && !crate::jose::ASYMMETRIC.contains(&alg) {
                return Err(invalid(
                    "request_object_signing_alg",
                    format!("{alg:?} is not an accepted algorithm (an asymmetric one, or none)"),
                ));
            }
        }
        check_signing_alg(method, self.token_endpoint_auth_signing_alg.as_deref())?;
        if method == Some(TokenAuthMethod::PrivateKeyJwt)
            && self.jwks.is_none()
            && self.jwks_uri.is_none()
        {
            return Err(invalid(
                "jwks",
                "a private_key_jwt client needs its keys: jwks or jwks_uri",
            ));
        }
        if name.len() > 200 || name.chars().any(char::is_control) {
            return Err(invalid("name", "at most 200 printable characters"));
        }
        let grant_types = self.grant_types.unwrap_or_else(|| {
            if self.public {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                vec![GrantType::ClientCredentials]
            }
        });
        if self.public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(invalid(
                "grant_types",
                "a public client cannot use client_credentials",
            ));
        }
        let scope =
            Scope::parse(self.scope.as_deref().unwrap_or("")).map_err(|e| invalid("scope", e.0))?;
        let exchange_audiences = self.token_exchange.iter().flat_map(|p| &p.audiences);
        for a in self
            .audiences
            .iter()
            .chain(&self.introspect_audiences)
            .chain(exchange_audiences)
        {
            if !valid_audience(a) {
                return Err(invalid(
                    "audiences",
                    format!("{a:?} is not a valid audience"),
                ));
            }
        }
        for u in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if u.is_empty()
                || u.len() > 2048
                || u.contains('#')
                || !(u.starts_with("https://") || u.starts_with("http://") || u.contains(":/"))
            {
                return Err(invalid(
                    "redirect_uris",
                    format!("{u:?} is not an absolute URI without fragment"),
                ));
            }
        }
        for u in &self.redirect_uris {
            crate::domain::registrable_redirect(u).map_err(|m| invalid("redirect_uris", m))?;
        }
        // A code is only ever delivered to a registered redirect URI: a
        // code-flow client without one could never complete a login.
        if grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(invalid(
                "redirect_uris",
                "an authorization_code client needs at least one redirect URI",
            ));
        }
        if let Some(ttl) = self.access_token_ttl {
            if ttl <= 0 || ttl > max_ttl {
                return Err(invalid(
                    "access_token_ttl",
                    format!("between 1 and {max_ttl} seconds"),
                ));
            }
        }
        // A client that signs with its own keys, or proves itself with a
        // certificate, has no secret to keep.
        let keyed = method.is_some_and(|m| m == TokenAuthMethod::PrivateKeyJwt || m.is_mtls());
        let secret = (!self.public && !keyed).then(|| secret::new_secret(prefix::CLIENT_SECRET));
        let jwt_secret = match method {
            Some(TokenAuthMethod::ClientSecretJwt) => secret.clone(),
            _ => None,
        };
        if let Some(u) = &self.backchannel_logout_uri {
            if !web_uri(u) {
                return Err(invalid(
                    "backchannel_logout_uri",
                    "an absolute http(s) URL without fragment, at most 2048 characters",
                ));
            }
        }
        if self.backchannel_logout_session_required && self.backchannel_logout_uri.is_none() {
            return Err(invalid(
                "backchannel_logout_session_required",
                "only with a backchannel_logout_uri",
            ));
        }
        let client = Client {
            client_id,
            name,
            secret_hash: secret.as_ref().map(|s| secret::sha256(s.as_bytes())),
            grant_types,
            scope,
            audiences: self.audiences,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            introspect_any: self.introspect_any,
            introspect_audiences: self.introspect_audiences,
            access_token_format: self.access_token_format,
            access_token_ttl: self.access_token_ttl,
            first_party: self.first_party,
            allow_plain_pkce: self.allow_plain_pkce,
            created_at: now,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            dpop_require_nonce: self.dpop_require_nonce,
            token_exchange: self.token_exchange,
            token_endpoint_auth_method: method,
            token_endpoint_auth_signing_alg: self.token_endpoint_auth_signing_alg,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            jwt_secret,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            request_object_signing_alg: self.request_object_signing_alg,
            introspection_signed_response_alg: self.introspection_signed_response_alg,
            tls_client_auth,
            tls_client_certificate_bound_access_tokens: self
                .tls_client_certificate_bound_access_tokens,
            about,
            backchannel_logout_uri: self.backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            registration: None,
        };
        Ok((client, secret))
    }
}

impl ClientSpec {
    /// The RFC 7591 metadata people read, each field checked.
    fn about(&self) -> Result<About, DirectoryError> {
        let uris = [
            ("logo_uri", &self.logo_uri),
            ("client_uri", &self.client_uri),
            ("policy_uri", &self.policy_uri),
            ("tos_uri", &self.tos_uri),
        ];
        for (field, v) in uris {
            if let Some(u) = v {
                if !web_uri(u) {
                    return Err(invalid(
                        field,
                        "an absolute http(s) URL without fragment, at most 2048 characters",
                    ));
                }
            }
        }
        if self.contacts.len() > 20 {
            return Err(invalid("contacts", "at most 20 addresses"));
        }
        for c in &self.contacts {
            if c.is_empty() || c.len() > 320 || c.chars().any(char::is_control) {
                return Err(invalid(
                    "contacts",
                    format!("{c:?} is not a contact (1-320 printable characters)"),
                ));
            }
        }
        for (field, v) in [
            ("software_id", &self.software_id),
            ("software_version", &self.software_version),
        ] {
            if let Some(s) = v {
                if s.is_empty() || s.len() > 200 || s.chars().any(char::is_control) {
                    return Err(invalid(field, "1-200 printable characters"));
                }
            }
        }
        Ok(About {
            logo_uri: self.logo_uri.clone(),
            client_uri: self.client_uri.clone(),
            policy_uri: self.policy_uri.clone(),
            tos_uri: self.tos_uri.clone(),
            contacts: self.contacts.clone(),
            software_id: self.software_id.clone(),
            software_version: self.software_version.clone(),
        })
    }

    /// RFC 8705 §2.1.2: a `tls_client_auth` client names exactly one
    /// subject or SAN, other clients none; a `self_signed_tls_client_auth`
    /// client registers its certificates (`x5c`) in its keys.
    fn certificate_name(
        &self,
        method: Option<TokenAuthMethod>,
    ) -> Result<Option<CertificateName>, DirectoryError> {
        let field = "tls_client_auth_subject_dn";
        let given = [
            &self.tls_client_auth_subject_dn,
            &self.tls_client_auth_san_dns,
            &self.tls_client_auth_san_uri,
            &self.tls_client_auth_san_ip,
            &self.tls_client_auth_san_email,
        ];
        let count = given.iter().filter(|v| v.is_some()).count();
        if method == Some(TokenAuthMethod::SelfSignedTlsClientAuth) {
            let has_cert = match (&self.jwks, &self.jwks_uri) {
                (Some(set), _) => crate::jose::KeySet::parse_strict(set)
                    .is_ok_and(|k| k.certificates().next().is_some()),
                (None, Some(_)) => true,
                (None, None) => false,
            };
            if !has_cert {
                return Err(invalid(
                    "jwks",
                    "a self_signed_tls_client_auth client registers its certificate as the x5c of a key (jwks or jwks_uri)",
                ));
            }
        }
        if method != Some(TokenAuthMethod::TlsClientAuth) {
            if count > 0 {
                return Err(invalid(field, "only for tls_client_auth clients"));
            }
            return Ok(None);
        }
        if count != 1 {
            return Err(invalid(
                field,
                "a tls_client_auth client registers exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email",
            ));
        }
        fn nonempty(v: &Option<String>, f: &'static str) -> Result<Option<String>, DirectoryError> {
            match v.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() && s.len() <= 1024 => Ok(Some(s.to_string())),
                Some(_) => Err(invalid(f, "1 to 1024 characters")),
                None => Ok(None),
            }
        }
        if let Some(dn) = nonempty(&self.tls_client_auth_subject_dn, field)? {
            crate::domain::dn::Dn::parse(&dn).map_err(|m| invalid(field, m))?;
            return Ok(Some(CertificateName::SubjectDn(dn)));
        }
        if let Some(v) = nonempty(&self.tls_client_auth_san_dns, "tls_client_auth_san_dns")? {
            return Ok(Some(CertificateName::SanDns(v)));
        }
        if let Some(v) = nonempty(&self.tls_client_auth_san_uri, "tls_client_auth_san_uri")? {
            if !v.contains(':') {
                return Err(invalid("tls_client_auth_san_uri", "an absolute URI"));
            }
            return Ok(Some(CertificateName::SanUri(v)));
        }
        if let Some(v) = nonempty(&self.tls_client_auth_san_ip, "tls_client_auth_san_ip")? {
            let ip = v
                .parse()
                .map_err(|_| invalid("tls_client_auth_san_ip", "an IPv4 or IPv6 address"))?;
            return Ok(Some(CertificateName::SanIp(ip)));
        }
        match nonempty(&self.tls_client_auth_san_email, "tls_client_auth_san_email")? {
            Some(v) if v.contains('@') => Ok(Some(CertificateName::SanEmail(v))),
            _ => Err(invalid("tls_client_auth_san_email", "an email address")),
        }
    }
}

/// An absolute http or https URL with a host, without fragment.
pub(crate) fn web_uri(u: &str) -> bool {
    u.len() <= 2048
        && !u.contains('#')
        && !u.chars().any(|c| c.is_control() || c.is_whitespace())
        && u.strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// A JWK Set by value or a `jwks_uri`, not both; each well formed.
fn check_keys(
    jwks: &Option<serde_json::Value>,
    uri: &Option<String>,
) -> Result<(), DirectoryError> {
    if jwks.is_some() && uri.is_some() {
        return Err(invalid("jwks", "register jwks or jwks_uri, not both"));
    }
    if let Some(set) = jwks {
        if set.to_string().len() > 64 * 1024 {
            return Err(invalid("jwks", "a JWK Set of at most 64 KiB"));
        }
        crate::jose::KeySet::parse_strict(set).map_err(|m| invalid("jwks", m))?;
    }
    if let Some(u) = uri {
        let ok = u.len() <= 2048
            && !u.contains('#')
            && u.strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !ok {
            return Err(invalid(
                "jwks_uri",
                "an absolute https URL without fragment, at most 2048 characters",
            ));
        }
    }
    Ok(())
}

/// `token_endpoint_auth_signing_alg` fits the method: an asymmetric
/// algorithm for private_key_jwt, an HMAC for client_secret_jwt.
fn check_signing_alg(
    method: Option<TokenAuthMethod>,
    alg: Option<&str>,
) -> Result<(), DirectoryError> {
    let Some(alg) = alg else { return Ok(()) };
    let fits = match method {
        Some(TokenAuthMethod::PrivateKeyJwt) => crate::jose::ASYMMETRIC.contains(&alg),
        Some(TokenAuthMethod::ClientSecretJwt) => crate::jose::HMAC.contains(&alg),
        _ => {
            return Err(invalid(
                "token_endpoint_auth_signing_alg",
                "only for private_key_jwt and client_secret_jwt clients",
            ))
        }
    };
    if !fits {
        return Err(invalid(
            "token_endpoint_auth_signing_alg",
            format!("{alg:?} is not an algorithm of this method"),
        ));
    }
    Ok(())
}
