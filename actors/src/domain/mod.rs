//! Validated domain values. Inputs are parsed once into these types and
//! never re-validated downstream.

use serde::{Deserialize, Serialize};

/// An OAuth scope (RFC 6749 §3.3): space-separated tokens of printable ASCII
/// other than `"` and `\`. Kept in the order first given, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, ParseError> {
        let mut out: Vec<String> = Vec::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            if !tok
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err(ParseError(
                    "scope contains a character outside RFC 6749 §3.3".into(),
                ));
            }
            if tok.len() > 128 {
                return Err(ParseError(
                    "a scope token is longer than 128 characters".into(),
                ));
            }
            if !out.iter().any(|t| t == tok) {
                out.push(tok.to_string());
            }
        }
        if out.len() > 64 {
            return Err(ParseError("too many scope tokens (at most 64)".into()));
        }
        Ok(Scope(out))
    }
    pub fn from_tokens<I: IntoIterator<Item = S>, S: AsRef<str>>(
        it: I,
    ) -> Result<Scope, ParseError> {
        let joined: Vec<String> = it.into_iter().map(|s| s.as_ref().to_string()).collect();
        Scope::parse(&joined.join(" "))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn tokens(&self) -> &[String] {
        &self.0
    }
    pub fn contains(&self, tok: &str) -> bool {
        self.0.iter().any(|t| t == tok)
    }
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl TryFrom<String> for Scope {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Scope::parse(&s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

/// RFC 8693 §2.1: the token exchange grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8628 §3.4: the device authorization grant type.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8693.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
    /// RFC 8628.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::TokenExchange => TOKEN_EXCHANGE,
            GrantType::DeviceCode => DEVICE_CODE,
        }
    }
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            TOKEN_EXCHANGE => Some(GrantType::TokenExchange),
            DEVICE_CODE => Some(GrantType::DeviceCode),
            _ => None,
        }
    }
}

/// How access tokens are minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// RFC 9068 JWT, self-contained, verifiable with the JWKS.
    #[default]
    Jwt,
    /// A random reference token; only introspection can tell what it means.
    Opaque,
}

impl std::str::FromStr for TokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jwt" => Ok(TokenFormat::Jwt),
            "opaque" => Ok(TokenFormat::Opaque),
            other => Err(format!(
                "unknown access token format {other:?} (jwt or opaque)"
            )),
        }
    }
}

/// An audience value: a URI or name, printable ASCII without spaces.
pub fn valid_audience(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_dedups_and_checks_subsets() {
        let s = Scope::parse("read  write read").unwrap();
        assert_eq!(s.to_string(), "read write");
        assert!(Scope::parse("read").unwrap().is_subset_of(&s));
        assert!(!Scope::parse("admin").unwrap().is_subset_of(&s));
        assert!(Scope::parse("bad\"scope").is_err());
        assert!(Scope::parse("bad\\scope").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
        assert!(Scope::parse("").unwrap().is_empty());
    }
}

pub mod dn;
pub mod pkce;
pub mod redirect;
pub use pkce::{Pkce, PkceMethod};
pub use redirect::{find_redirect, redirect_matches, registrable_redirect};

/// A client id: 1-128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}
