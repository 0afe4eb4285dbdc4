//! RFC 7636 PKCE.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::ParseError;
use crate::secret::{b64url, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PkceMethod {
    S256,
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    pub fn parse(s: &str) -> Option<PkceMethod> {
        match s {
            "S256" => Some(PkceMethod::S256),
            "plain" => Some(PkceMethod::Plain),
            _ => None,
        }
    }
}

/// 43-128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1/§4.2).
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A stored code challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkce {
    pub challenge: String,
    pub method: PkceMethod,
}

impl Pkce {
    pub fn parse(challenge: &str, method: PkceMethod) -> Result<Pkce, ParseError> {
        if !well_formed(challenge) {
            return Err(ParseError(
                "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]".into(),
            ));
        }
        Ok(Pkce {
            challenge: challenge.to_string(),
            method,
        })
    }

    /// Whether `verifier` answers this challenge (constant-time compare).
    pub fn verify(&self, verifier: &str) -> bool {
        if !well_formed(verifier) {
            return false;
        }
        let derived = match self.method {
            PkceMethod::S256 => b64url(&sha256(verifier.as_bytes())),
            PkceMethod::Plain => verifier.to_string(),
        };
        derived.len() == self.challenge.len()
            && bool::from(derived.as_bytes().ct_eq(self.challenge.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let p = Pkce::parse(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            PkceMethod::S256,
        )
        .unwrap();
        assert!(p.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!p.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!p.verify("short"));
    }

    #[test]
    fn malformed_challenges_are_refused() {
        assert!(Pkce::parse("too-short", PkceMethod::S256).is_err());
        assert!(Pkce::parse(&"a".repeat(129), PkceMethod::S256).is_err());
        assert!(Pkce::parse(&format!("{}+", "a".repeat(43)), PkceMethod::S256).is_err());
        assert!(Pkce::parse(&"a".repeat(43), PkceMethod::Plain)
            .unwrap()
            .verify(&"a".repeat(43)));
    }
}
