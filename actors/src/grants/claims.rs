//! The `claims` request parameter (OIDC Core §5.5) and authentication
//! context classes (`acr`, OIDC Core §2, §3.1.2.1 `acr_values`).
//!
//! A `claims` request names individual claims for the ID token and for
//! userinfo. Only claims the server can release are kept (unknown ones
//! are ignored, as §5.5 allows); each is released, when the user has it,
//! even if the scope alone would not release it. A claim's `value` or
//! `values` do not change what is released: the user's own value is.
//! `acr` is the one claim whose request changes the flow.
//!
//! Two classes exist: `pwd` (one factor: a password, or a login at an
//! upstream provider, whose own assurance is not known here) and `mfa`
//! (that, plus a TOTP code at this server; or a passkey with user
//! verification, alone or after the password). `mfa` meets a request for
//! `pwd` as well.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest `claims` parameter accepted, in bytes.
pub const MAX_CLAIMS_LEN: usize = 4096;

/// One factor: a password (or an upstream provider's login).
pub const ACR_PWD: &str = "pwd";
/// Two factors: a password (or upstream login) and a TOTP code, or a
/// user-verified passkey.
pub const ACR_MFA: &str = "mfa";
/// The classes this server knows, for discovery.
pub const ACR_VALUES: &[&str] = &[ACR_PWD, ACR_MFA];

/// OIDC Core errata / OpenID error code: the authentication the request
/// asked for (an `acr`) could not be performed.
pub const UNMET_AUTHENTICATION_REQUIREMENTS: &str = "unmet_authentication_requirements";

/// Claims about the user that can be requested one by one, and the scope
/// that would release each of them (OIDC Core §5.4).
const RELEASABLE: &[(&str, &str)] = &[
    ("preferred_username", "profile"),
    ("name", "profile"),
    ("given_name", "profile"),
    ("family_name", "profile"),
    ("updated_at", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
];

/// The scope that releases `claim`, for a claim that can be requested one
/// by one.
pub fn scope_of(claim: &str) -> Option<&'static str> {
    RELEASABLE
        .iter()
        .find(|(c, _)| *c == claim)
        .map(|(_, s)| *s)
}

/// The class of an authentication by its methods (RFC 8176 `amr`): `mfa`
/// for a TOTP code, for a passkey (`hwk`/`swk`) used with user
/// verification (`user`: the authenticator checked a PIN or biometric, so
/// the passkey alone is two factors), and for a passkey after a password.
pub fn acr_of(amr: &[String]) -> &'static str {
    let has = |m: &str| amr.iter().any(|a| a == m);
    let key = has("hwk") || has("swk");
    if has("otp") || (key && (has("user") || has("pwd"))) {
        ACR_MFA
    } else {
        ACR_PWD
    }
}

/// Whether an authentication by `amr` meets the class `acr`.
pub fn meets(amr: &[String], acr: &str) -> bool {
    match acr {
        ACR_PWD => true,
        ACR_MFA => acr_of(amr) == ACR_MFA,
        _ => false,
    }
}

/// The individual claims granted, stored with the code and the refresh
/// token: released in ID tokens and by userinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl RequestedClaims {
    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }

    /// Keep only the claims whose scope `allowed` says may be released.
    pub fn retain_allowed(&mut self, allowed: impl Fn(&str) -> bool) {
        let keep = |c: &String| scope_of(c).is_some_and(&allowed);
        self.id_token.retain(keep);
        self.userinfo.retain(keep);
    }

    /// The scopes that would release these claims (for consent).
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for c in self.id_token.iter().chain(&self.userinfo) {
            if let Some(s) = scope_of(c) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// The authentication a request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcrRequest {
    /// Requested as an essential claim (OIDC Core §5.5.1.1).
    pub essential: bool,
    /// The known classes asked for, in the order of preference.
    pub values: Vec<String>,
    /// Classes asked for that this server does not know.
    pub unknown: usize,
}

impl AcrRequest {
    fn add(&mut self, value: &str) {
        if ACR_VALUES.contains(&value) {
            if !self.values.iter().any(|v| v == value) {
                self.values.push(value.to_string());
            }
        } else {
            self.unknown = self.unknown.saturating_add(1);
        }
    }

    /// Add the classes of `acr_values` (space-separated, voluntary).
    pub fn add_acr_values(&mut self, acr_values: &str) {
        for v in acr_values.split(' ').filter(|v| !v.is_empty()) {
            self.add(v);
        }
    }

    /// Whether anything is asked for that changes the flow.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && !(self.essential && self.unknown > 0)
    }

    /// Whether an authentication by `amr` satisfies the request. Known
    /// classes are enforced, voluntary or essential: one of them must be
    /// met. Unknown classes alone are ignored when voluntary and can never
    /// be met when essential.
    pub fn satisfied_by(&self, amr: &[String]) -> bool {
        if self.values.is_empty() {
            return !(self.essential && self.unknown > 0);
        }
        self.values.iter().any(|v| meets(amr, v))
    }

    /// Whether TOTP would satisfy what `amr` does not.
    pub fn wants_mfa(&self) -> bool {
        self.values.iter().any(|v| v == ACR_MFA)
    }
}

/// A parsed `claims` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsRequest {
    /// The known claims named, for each target.
    pub claims: RequestedClaims,
    /// `acr` asked for in either member.
    pub acr: AcrRequest,
    /// `sub` asked for with a value in the ID token (§5.5.1: only that
    /// user may get a positive answer).
    pub sub: Option<String>,
}

/// Parse the `claims` parameter strictly: a JSON object whose `userinfo`
/// and `id_token` members, when present, are objects of claims, each
/// `null` or an object with optional `essential` (a boolean), `value` or
/// `values` (an array). Other top-level members are ignored (§5.5).
/// Answers the `error_description` of an `invalid_request` when it is not.
pub fn parse(raw: &str) -> Result<ClaimsRequest, &'static str> {
    if raw.len() > MAX_CLAIMS_LEN {
        return Err("the claims parameter is longer than 4096 bytes");
    }
    let value: Value =
        serde_json::from_str(raw).map_err(|_| "the claims parameter is not well-formed JSON")?;
    let Value::Object(top) = value else {
        return Err("the claims parameter must be a JSON object");
    };
    let mut out = ClaimsRequest::default();
    for target in ["userinfo", "id_token"] {
        let members = match top.get(target) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err("the userinfo and id_token members of claims must be JSON objects")
            }
        };
        parse_target(target, members, &mut out)?;
    }
    Ok(out)
}

fn parse_target(
    target: &str,
    members: &Map<String, Value>,
    out: &mut ClaimsRequest,
) -> Result<(), &'static str> {
    for (name, spec) in members {
        let (essential, value, values) = match spec {
            Value::Null => (false, None, None),
            Value::Object(o) => {
                let essential = match o.get("essential") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err("in claims, essential must be true or false"),
                };
                let value = o.get("value").filter(|v| !v.is_null());
                let values = match o.get("values") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(a)) => Some(a),
                    Some(_) => return Err("in claims, values must be a JSON array"),
                };
                if value.is_some() && values.is_some() {
                    return Err("in claims, a claim may have value or values, not both");
                }
                (essential, value, values)
            }
            _ => return Err("in claims, each claim must be null or a JSON object"),
        };
        match name.as_str() {
            "acr" => {
                let asked: Vec<&Value> = match (value, values) {
                    (Some(v), _) => vec![v],
                    (None, Some(a)) => a.iter().collect(),
                    (None, None) => Vec::new(),
                };
                out.acr.essential |= essential;
                for v in asked {
                    let Value::String(s) = v else {
                        return Err("in claims, the values of acr must be strings");
                    };
                    out.acr.add(s);
                }
            }
            "sub" if target == "id_token" => {
                if let Some(v) = value {
                    let Value::String(s) = v else {
                        return Err("in claims, the value of sub must be a string");
                    };
                    out.sub = Some(s.clone());
                }
            }
            n if scope_of(n).is_some() => {
                let list = if target == "id_token" {
                    &mut out.claims.id_token
                } else {
                    &mut out.claims.userinfo
                };
                if !list.iter().any(|c| c == n) {
                    list.push(n.to_string());
                }
            }
            // Unknown claims, and those always present (sub, auth_time):
            // nothing more to release.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_claims_are_kept_and_unknown_ignored() {
        let r = parse(
            r#"{"id_token":{"email":null,"shoe_size":{"essential":true}},"userinfo":{"name":{"essential":true}},"other":1}"#,
        )
        .unwrap();
        assert_eq!(r.claims.id_token, vec!["email".to_string()]);
        assert_eq!(r.claims.userinfo, vec!["name".to_string()]);
        assert!(r.acr.is_empty());
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "",
            "{",
            "[]",
            "\"x\"",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"mfa"}}}"#,
            r#"{"id_token":{"acr":{"values":[1]}}}"#,
            r#"{"id_token":{"acr":{"value":"mfa","values":["mfa"]}}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} is refused");
        }
        assert!(parse(&format!("{{\"x\":\"{}\"}}", "a".repeat(5000))).is_err());
    }

    #[test]
    fn acr_requests() {
        let r =
            parse(r#"{"id_token":{"acr":{"essential":true,"values":["mfa","gold"]}}}"#).unwrap();
        assert!(r.acr.essential);
        assert_eq!(r.acr.values, vec!["mfa".to_string()]);
        let pwd = vec!["pwd".to_string()];
        let otp = vec!["pwd".to_string(), "otp".to_string()];
        assert!(!r.acr.satisfied_by(&pwd));
        assert!(r.acr.satisfied_by(&otp));
        let unknown = parse(r#"{"id_token":{"acr":{"essential":true,"value":"gold"}}}"#).unwrap();
        assert!(!unknown.acr.satisfied_by(&otp));
        let mut voluntary = AcrRequest::default();
        voluntary.add_acr_values("gold");
        assert!(voluntary.is_empty() && voluntary.satisfied_by(&pwd));
        voluntary.add_acr_values("pwd mfa");
        assert!(voluntary.satisfied_by(&pwd));
        assert_eq!(acr_of(&pwd), "pwd");
        assert_eq!(acr_of(&otp), "mfa");
        let v = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(acr_of(&v(&["hwk", "user"])), "mfa");
        assert_eq!(acr_of(&v(&["swk", "user"])), "mfa");
        assert_eq!(acr_of(&v(&["pwd", "hwk"])), "mfa");
        assert_eq!(acr_of(&v(&["hwk"])), "pwd");
        assert_eq!(acr_of(&v(&["user"])), "pwd");
        assert!(r.acr.satisfied_by(&v(&["hwk", "user"])));
    }
}
