//! RFC 7662 introspection and RFC 7009 revocation, answered from the
//! published views. This is the hot path: no actor round trip, no store
//! read, no signature check for any token this process issued. The
//! answer's shape and the JWT header checks are in [`crate::introspection`].

use std::sync::Arc;

use crate::directory::Client;
use crate::engine::Engine;
use crate::introspection::{
    header_kid, Active, IdTokenHint, JwtRejected, OneOrMany, VerifiedAccessClaims, MAX_TOKEN_LEN,
};
use crate::oauth::OAuthError;
use crate::revocation::Revoke;
use crate::secret;
use crate::tokens::{Grant, TokenKind, TokenRecord};

impl Engine {
    /// Introspect `token` for `caller`. `None` means `{"active":false}`:
    /// unknown, expired, revoked, or not visible to the caller.
    pub fn introspect(&self, caller: &Client, token: &str) -> Option<Active> {
        let rec = self.lookup(token)?;
        if !caller.may_introspect(&rec.grant.client_id, &rec.grant.aud) {
            return None;
        }
        let origin = self.tokens.origin_of(rec.family);
        let entity = match rec.kind {
            TokenKind::EntityToken => self.tokens.entity_meta(secret::token_key(token)),
            _ => None,
        };
        Some(Active {
            record: rec,
            iss: self.issuer_arc.clone(),
            origin,
            entity,
        })
    }

    /// Find a live, unrevoked token this server issued.
    pub fn lookup(&self, token: &str) -> Option<TokenRecord> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let now = self.clock.now();
        let rec = match self.tokens.get(secret::token_key(token)) {
            Some(r) => r,
            None => self.verify_unindexed_jwt(token)?,
        };
        if rec.exp <= now || rec.iat > now {
            return None;
        }
        if self.revoked.contains(rec.jti)
            || self.revoked.contains(rec.family)
            || self.revoked.subject_revoked(&rec.grant.sub, rec.iat)
            || rec.grant.anc.iter().any(|a| self.revoked.contains(*a))
        {
            return None;
        }
        Some(rec)
    }

    /// A JWT access token this process holds no record of (issued before a
    /// restart whose record was not yet flushed, or by another replica):
    /// verified by signature with every check of RFC 9068 §4.
    fn verify_unindexed_jwt(&self, token: &str) -> Option<TokenRecord> {
        let claims = self.verify_access_jwt(token).ok()?;
        let jti = uuid::Uuid::parse_str(&claims.jti).ok()?.as_u128();
        let aud: Vec<Arc<str>> = match claims.aud {
            OneOrMany::One(a) => vec![Arc::from(a.as_str())],
            OneOrMany::Many(v) => v.iter().map(|a| Arc::from(a.as_str())).collect(),
        };
        // Only an audience this server could have granted the token's
        // client: the client itself or one of its registered audiences.
        let client = self.clients.get(&claims.client_id)?;
        let grantable =
            |a: &str| a == client.client_id || client.audiences.iter().any(|x| x.as_str() == a);
        if aud.is_empty() || !aud.iter().all(|a| grantable(a)) {
            return None;
        }
        Some(TokenRecord {
            jti,
            family: claims
                .fam
                .as_deref()
                .and_then(|f| uuid::Uuid::parse_str(f).ok())
                .map_or(0, |u| u.as_u128()),
            iat: claims.iat,
            exp: claims.exp,
            kind: TokenKind::AccessToken,
            grant: Arc::new(Grant {
                client_id: claims.client_id,
                sub: claims.sub,
                username: claims.username,
                scope: claims.scope.unwrap_or_default(),
                aud,
                sid: claims
                    .sid
                    .as_deref()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok()),
                jkt: claims
                    .cnf
                    .as_ref()
                    .and_then(|c| c.jkt.as_deref())
                    .map(Arc::from),
                x5t: claims
                    .cnf
                    .as_ref()
                    .and_then(|c| c.x5t.as_deref())
                    .map(Arc::from),
                act: claims.act.map(Arc::new),
                anc: claims
                    .anc
                    .iter()
                    .map(|a| uuid::Uuid::parse_str(a).map(|u| u.as_u128()))
                    .collect::<Result<_, _>>()
                    .ok()?,
                // Not in the token: userinfo then releases by scope alone.
                claims: Vec::new(),
            }),
        })
    }

    /// Verify an access-token JWT: our issuer, a known `kid`, the algorithm
    /// of that key (never the header's), `typ: at+jwt`, no key-carrying
    /// headers, zero leeway on `exp`/`nbf`/`iat`.
    pub fn verify_access_jwt(&self, token: &str) -> Result<VerifiedAccessClaims, JwtRejected> {
        let (verifiers, kid) = self.checked_header(token, |typ| {
            typ.is_some_and(|t| {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            })
        })?;
        let key = verifiers.get(&kid).ok_or(JwtRejected("unknown kid"))?;
        let mut v = jsonwebtoken::Validation::new(key.alg.jwt_alg());
        v.leeway = 0;
        // Times are checked below against the engine's clock, the one that
        // issued the token, not the wall clock jsonwebtoken would read.
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.set_issuer(&[self.config.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "sub", "aud"]);
        let data = jsonwebtoken::decode::<VerifiedAccessClaims>(token, &key.key, &v)
            .map_err(|_| JwtRejected("signature or claims"))?;
        let now = self.clock.now();
        if data.claims.exp <= now {
            return Err(JwtRejected("expired"));
        }
        if data.claims.nbf > now {
            return Err(JwtRejected("not yet valid"));
        }
        if data.claims.iat > now {
            return Err(JwtRejected("issued in the future"));
        }
        Ok(data.claims)
    }

    /// The header checks every JWT we accept passes: compact form, no
    /// key-carrying headers (`jku`, `x5u`, `jwk`, `x5c`), a `typ` the caller
    /// accepts, a `kid` of ours. Answers the verifier set and the kid; the
    /// algorithm then comes from that key, never from the header.
    fn checked_header(
        &self,
        token: &str,
        typ_ok: impl Fn(Option<&str>) -> bool,
    ) -> Result<(Arc<crate::keys::VerifierSet>, String), JwtRejected> {
        let kid = header_kid(token, typ_ok)?;
        let verifiers = self.keys.verifiers();
        if verifiers.get(&kid).is_none() {
            return Err(JwtRejected("unknown kid"));
        }
        Ok((verifiers, kid))
    }

    /// Verify an ID token we issued, as an `id_token_hint` (OIDC RP-Initiated
    /// Logout §2): our signature, our issuer, `typ: JWT`, no key-carrying
    /// headers, and not expired. RP-Initiated Logout lets an OP take an
    /// expired ID token as a hint; tessera does not: every JWT it accepts is
    /// checked for expiry with zero leeway, so a leaked old ID token cannot
    /// pick a client's logout redirect. An RP whose ID token has expired can
    /// name itself with `client_id` instead.
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenHint, JwtRejected> {
        // An ID token's typ is JWT or absent (OIDC Core leaves it out).
        let (verifiers, kid) = self.checked_header(token, |typ| {
            typ.is_none_or(|t| t.eq_ignore_ascii_case("JWT"))
        })?;
        let key = verifiers.get(&kid).ok_or(JwtRejected("unknown kid"))?;
        let mut v = jsonwebtoken::Validation::new(key.alg.jwt_alg());
        v.leeway = 0;
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_issuer(&[self.config.issuer.as_str()]);
        v.set_required_spec_claims(&["iss", "sub", "aud", "iat", "exp"]);
        let data = jsonwebtoken::decode::<IdTokenHint>(token, &key.key, &v)
            .map_err(|_| JwtRejected("signature or claims"))?;
        // An access token carries client_id and typ at+jwt; an ID token has azp.
        if data.claims.client_id.is_some() {
            return Err(JwtRejected("an access token is not an ID token"));
        }
        // The times are checked with zero leeway against the engine's clock:
        // nothing we issued is from the future, and nothing expired counts.
        let now = self.clock.now();
        if data.claims.exp <= now {
            return Err(JwtRejected("expired"));
        }
        if data.claims.iat > now {
            return Err(JwtRejected("issued in the future"));
        }
        if data.claims.nbf.is_some_and(|nbf| nbf > now) {
            return Err(JwtRejected("not yet valid"));
        }
        Ok(data.claims)
    }

    /// [`Engine::lookup`], reading the store when the token is not here:
    /// issued by another node of a cluster and not applied here yet.
    pub async fn lookup_or_fetch(&self, token: &str) -> Result<Option<TokenRecord>, OAuthError> {
        if let Some(rec) = self.lookup(token) {
            return Ok(Some(rec));
        }
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        self.issuer
            .send(crate::tokens::FetchToken(secret::token_key(token)))
            .await??;
        Ok(self.lookup(token))
    }

    /// Revoke `token` on behalf of `caller` (RFC 7009). Unknown tokens and
    /// tokens of other clients are left alone and still answer `Ok`, so the
    /// endpoint is no oracle. Revoking a refresh token revokes its family.
    pub async fn revoke(&self, caller: &Client, token: &str) -> Result<(), OAuthError> {
        // A token of another node not applied here yet is read: a 200
        // must not leave it alive.
        let Some(rec) = self.lookup_or_fetch(token).await? else {
            return Ok(());
        };
        if rec.grant.client_id != caller.client_id {
            return Ok(());
        }
        let mut ids = vec![(rec.jti, rec.exp)];
        if rec.kind == TokenKind::RefreshToken && rec.family != 0 {
            let until = self
                .clock
                .now()
                .saturating_add(self.config.max_family_lifetime);
            ids.push((rec.family, until));
        }
        self.revocations.send(Revoke(ids)).await??;
        Ok(())
    }
}
