//! What RFC 7662 introspection answers and how a JWT we issued is
//! checked: the answer's shape, the header checks, the verified claims.
//! The operations themselves (`Engine::introspect`, `lookup`, `revoke`,
//! the JWT verifiers) live in [`crate::flows::introspection`].

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::tokens::{Act, TokenKind, TokenOrigin, TokenRecord};

/// RFC 7800 `cnf`: what a token is bound to — a DPoP key (RFC 9449 §6)
/// or a client certificate (RFC 8705 §3.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cnf<S> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<S>,
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<S>,
}

impl<'a> Cnf<&'a str> {
    /// The `cnf` of a grant, if it is bound to anything.
    pub fn of(g: &'a crate::tokens::Grant) -> Option<Cnf<&'a str>> {
        (g.jkt.is_some() || g.x5t.is_some()).then_some(Cnf {
            jkt: g.jkt.as_deref(),
            x5t: g.x5t.as_deref(),
        })
    }
}

/// An active token, as introspection describes it.
#[derive(Debug, Clone)]
pub struct Active {
    pub record: TokenRecord,
    pub iss: Arc<str>,
    /// What issued the token's family, when that is worth telling
    /// (`token_origin`: `personal_token` for a personal token and every
    /// access token minted from it).
    pub origin: Option<TokenOrigin>,
    /// For an entity token: its entity and flags.
    pub entity: Option<Arc<crate::tokens::EntityMeta>>,
}

impl Serialize for Active {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = &self.record.grant;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("active", &true)?;
        m.serialize_entry("scope", &g.scope)?;
        m.serialize_entry("client_id", &g.client_id)?;
        if let Some(u) = &g.username {
            m.serialize_entry("username", u)?;
        }
        m.serialize_entry("sub", &g.sub)?;
        match &g.jkt {
            Some(_) if self.record.kind == TokenKind::AccessToken => {
                m.serialize_entry("token_type", "DPoP")?
            }
            _ => m.serialize_entry("token_type", self.record.kind.token_type())?,
        }
        m.serialize_entry("token_use", self.record.kind.token_use())?;
        if let Some(o) = self.origin {
            m.serialize_entry("token_origin", o.as_str())?;
        }
        m.serialize_entry("exp", &self.record.exp)?;
        m.serialize_entry("iat", &self.record.iat)?;
        m.serialize_entry("nbf", &self.record.iat)?;
        m.serialize_entry("jti", &uuid::Uuid::from_u128(self.record.jti).hyphenated())?;
        m.serialize_entry("iss", self.iss.as_ref())?;
        m.serialize_entry("aud", &g.aud)?;
        if let Some(cnf) = Cnf::of(g) {
            m.serialize_entry("cnf", &cnf)?;
        }
        if let Some(act) = &g.act {
            m.serialize_entry("act", act.as_ref())?;
        }
        if let Some(e) = &self.entity {
            m.serialize_entry("entity_id", &e.entity_id)?;
            m.serialize_entry("flags", &e.flags)?;
        }
        m.end()
    }
}

/// Longest token string worth looking at; anything longer is garbage.
pub(crate) const MAX_TOKEN_LEN: usize = 8192;

/// The key-independent part of the header check: compact form, no
/// key-carrying headers, a `typ` the caller accepts; answers the `kid`.
pub fn header_kid(
    token: &str,
    typ_ok: impl Fn(Option<&str>) -> bool,
) -> Result<String, JwtRejected> {
    if token.len() > MAX_TOKEN_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(JwtRejected("not a compact JWS"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejected("malformed header"))?;
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err(JwtRejected("key-carrying header"));
    }
    if !typ_ok(header.typ.as_deref()) {
        return Err(JwtRejected("wrong typ"));
    }
    header.kid.ok_or(JwtRejected("no kid"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("JWT rejected: {0}")]
pub struct JwtRejected(pub &'static str);

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Claims of an access token we signed.
#[derive(Debug, Clone, Deserialize)]
pub struct VerifiedAccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: OneOrMany,
    pub client_id: String,
    pub scope: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub username: Option<String>,
    /// Grant family, when the token belongs to a code/refresh grant.
    pub fam: Option<String>,
    /// Browser session the grant came from.
    pub sid: Option<String>,
    /// DPoP binding.
    pub cnf: Option<Cnf<String>>,
    /// RFC 8693 actor chain.
    pub act: Option<Act>,
    /// Ids of the tokens this one was exchanged from.
    #[serde(default)]
    pub anc: Vec<String>,
}

/// The claims of an ID token used as a logout hint.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: OneOrMany,
    pub iat: i64,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub sid: Option<String>,
    pub client_id: Option<String>,
}

impl OneOrMany {
    pub fn contains(&self, v: &str) -> bool {
        match self {
            OneOrMany::One(a) => a == v,
            OneOrMany::Many(m) => m.iter().any(|a| a == v),
        }
    }
    pub fn first(&self) -> Option<&str> {
        match self {
            OneOrMany::One(a) => Some(a),
            OneOrMany::Many(m) => m.first().map(String::as_str),
        }
    }
}
