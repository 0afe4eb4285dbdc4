//! Verification of an upstream provider's ID token (OIDC Core §3.1.3.7)
//! against its JWK Set.
//!
//! The algorithm comes from the key, never from the token header: RSA keys
//! verify `RS256`, P-256 keys `ES256`, Ed25519 keys `EdDSA`. Symmetric
//! (`oct`) keys are never loaded, so `HS*` and `none` cannot verify. Headers
//! that carry or point at a key (`jku`, `x5u`, `jwk`, `x5c`) are refused.
//! Times are checked against the engine clock with the provider's leeway.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// Longest ID token accepted, bytes.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

/// Why an upstream ID token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("the header carries or points at a key")]
    KeyHeader,
    #[error("no key in the provider's JWKS has this kid")]
    UnknownKid,
    #[error("the algorithm does not match the key")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("wrong issuer")]
    Issuer,
    #[error("the audience does not name this client")]
    Audience,
    #[error("wrong authorized party")]
    AuthorizedParty,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("nonce mismatch")]
    Nonce,
    #[error("a required claim is missing")]
    MissingClaim,
}

/// One usable verification key of a provider.
pub struct UpstreamKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    key: DecodingKey,
}

/// A provider's signing keys, parsed from its JWK Set. Keys that are not
/// for signatures, of an unknown type, or whose `alg` does not fit their
/// type are left out.
#[derive(Default)]
pub struct UpstreamKeys {
    keys: Vec<UpstreamKey>,
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl UpstreamKeys {
    pub fn parse(jwks: &Value) -> UpstreamKeys {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(parse_key).collect())
            .unwrap_or_default();
        UpstreamKeys { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key named by `kid`; without a `kid`, the only key there is.
    pub fn find(&self, kid: Option<&str>) -> Option<&UpstreamKey> {
        match kid {
            Some(k) => self.keys.iter().find(|key| key.kid.as_deref() == Some(k)),
            None => match self.keys.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        }
    }
}

fn parse_key(v: &Value) -> Option<UpstreamKey> {
    if let Some(u) = str_field(v, "use") {
        if u != "sig" {
            return None;
        }
    }
    let (alg, key) = match (str_field(v, "kty")?, str_field(v, "crv")) {
        ("RSA", _) => (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(str_field(v, "n")?, str_field(v, "e")?).ok()?,
        ),
        ("EC", Some("P-256")) => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(str_field(v, "x")?, str_field(v, "y")?).ok()?,
        ),
        ("OKP", Some("Ed25519")) => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(str_field(v, "x")?).ok()?,
        ),
        _ => return None,
    };
    // A key that names another algorithm than its type allows is not used.
    if let Some(a) = str_field(v, "alg") {
        let named = match a {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            _ => return None,
        };
        if named != alg {
            return None;
        }
    }
    Some(UpstreamKey {
        kid: str_field(v, "kid").map(str::to_string),
        alg,
        key,
    })
}

/// What the ID token must say.
pub struct Expected<'a> {
    /// The configured issuer, compared byte for byte.
    pub issuer: &'a str,
    /// Our client id at the provider.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Now, from the engine clock.
    pub now: i64,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: i64,
}

/// The header checks that need no key: compact form, a supported
/// algorithm, no key-carrying headers. Answers the `kid`, if any.
pub fn header_kid(token: &str) -> Result<Option<String>, IdTokenError> {
    if token.len() > MAX_ID_TOKEN_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(IdTokenError::Malformed);
    }
    // `alg: none` and unknown algorithms fail to parse here.
    let h = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if h.jku.is_some() || h.x5u.is_some() || h.jwk.is_some() || h.x5c.is_some() {
        return Err(IdTokenError::KeyHeader);
    }
    if !matches!(
        h.alg,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(IdTokenError::Algorithm);
    }
    Ok(h.kid)
}

fn num(claims: &Map<String, Value>, k: &str) -> Option<i64> {
    claims.get(k).and_then(|v| match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        _ => None,
    })
}

/// Verify `token` with `keys`; answers its claims.
pub fn verify(
    token: &str,
    keys: &UpstreamKeys,
    exp: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let kid = header_kid(token)?;
    let key = keys.find(kid.as_deref()).ok_or(IdTokenError::UnknownKid)?;
    let header_alg = jsonwebtoken::decode_header(token)
        .map_err(|_| IdTokenError::Malformed)?
        .alg;
    if header_alg != key.alg {
        return Err(IdTokenError::Algorithm);
    }
    let mut v = jsonwebtoken::Validation::new(key.alg);
    // Every claim is checked below, against the engine clock.
    v.leeway = 0;
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v)
        .map_err(|_| IdTokenError::Signature)?
        .claims;
    check_claims(&claims, exp)?;
    Ok(claims)
}

fn check_claims(c: &Map<String, Value>, e: &Expected<'_>) -> Result<(), IdTokenError> {
    match c.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == e.issuer => {}
        Some(_) => return Err(IdTokenError::Issuer),
        None => return Err(IdTokenError::MissingClaim),
    }
    if !c
        .get("sub")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty() && s.len() <= 255)
    {
        return Err(IdTokenError::MissingClaim);
    }
    let aud: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(IdTokenError::MissingClaim),
    };
    if !aud.contains(&e.client_id) {
        return Err(IdTokenError::Audience);
    }
    match c.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != e.client_id => return Err(IdTokenError::AuthorizedParty),
        None if aud.len() > 1 => return Err(IdTokenError::AuthorizedParty),
        _ => {}
    }
    let expires = num(c, "exp").ok_or(IdTokenError::MissingClaim)?;
    if expires.saturating_add(e.leeway) <= e.now {
        return Err(IdTokenError::Expired);
    }
    let iat = num(c, "iat").ok_or(IdTokenError::MissingClaim)?;
    if iat > e.now.saturating_add(e.leeway) {
        return Err(IdTokenError::IssuedInFuture);
    }
    if let Some(nbf) = num(c, "nbf") {
        if nbf > e.now.saturating_add(e.leeway) {
            return Err(IdTokenError::NotYetValid);
        }
    }
    let nonce = c.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            nonce.as_bytes(),
            e.nonce.as_bytes(),
        ))
    {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::material::{generate, JwtType, KeyAlg, PublicJwk, Signer};
    use crate::secret::b64url;
    use serde_json::json;

    const ISS: &str = "https://up.example.com";
    const CLIENT: &str = "downstream";
    const NONCE: &str = "n-0S6_WzA2Mj";
    const NOW: i64 = 1_800_000_000;

    struct Key {
        signer: Signer,
        jwk: Value,
    }

    fn key(alg: KeyAlg, kid: &str) -> Key {
        let g = generate(alg).unwrap();
        let signer = Signer::new(kid, alg, &g.private_der).unwrap();
        let mut jwk = serde_json::to_value(&g.public).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg.as_str());
        Key { signer, jwk }
    }

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "u-1", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
               "nonce": NONCE, "email": "a@example.com", "email_verified": true})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISS,
            client_id: CLIENT,
            nonce: NONCE,
            now: NOW,
            leeway: 30,
        }
    }

    fn keys_of(ks: &[&Key]) -> UpstreamKeys {
        UpstreamKeys::parse(&json!({"keys": ks.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}))
    }

    fn sign(k: &Key, c: &Value) -> String {
        k.signer.sign(JwtType::Jwt, c).unwrap()
    }

    /// A token with a hand-made header and signature bytes.
    fn raw(header: &Value, c: &Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(c.to_string().as_bytes()),
            b64url(sig)
        )
    }

    /// Re-sign `c` with `k` under a header of our choosing.
    fn with_header(k: &Key, header: &Value, c: &Value) -> String {
        let real = sign(k, c);
        let (_, rest) = real.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(c.to_string().as_bytes())
        );
        // The signature of the real token does not cover this header: it
        // must fail as a signature, whatever the header says.
        format!("{signing_input}.{sig}")
    }

    #[test]
    fn every_algorithm_verifies_with_its_key() {
        for alg in [KeyAlg::RS256, KeyAlg::ES256, KeyAlg::EdDSA] {
            let k = key(alg, "k1");
            let got = verify(&sign(&k, &claims()), &keys_of(&[&k]), &expected()).unwrap();
            assert_eq!(got["sub"], "u-1");
        }
    }

    #[test]
    fn claims_are_checked() {
        let k = key(KeyAlg::ES256, "k1");
        let keys = keys_of(&[&k]);
        let cases: Vec<(&str, Value, IdTokenError)> = vec![
            (
                "iss",
                json!("https://evil.example.com"),
                IdTokenError::Issuer,
            ),
            (
                "iss",
                json!("https://up.example.com/"),
                IdTokenError::Issuer,
            ),
            ("aud", json!("someone-else"), IdTokenError::Audience),
            (
                "aud",
                json!(["someone-else", CLIENT]),
                IdTokenError::AuthorizedParty,
            ),
            ("exp", json!(NOW - 31), IdTokenError::Expired),
            ("iat", json!(NOW + 31), IdTokenError::IssuedInFuture),
            ("nbf", json!(NOW + 31), IdTokenError::NotYetValid),
            ("nonce", json!("other"), IdTokenError::Nonce),
            ("sub", json!(""), IdTokenError::MissingClaim),
        ];
        for (claim, value, err) in cases {
            let mut c = claims();
            c[claim] = value.clone();
            assert_eq!(
                verify(&sign(&k, &c), &keys, &expected()).unwrap_err(),
                err,
                "{claim}={value}"
            );
        }
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            verify(&sign(&k, &c), &keys, &expected()).unwrap_err(),
            IdTokenError::Nonce
        );
    }

    #[test]
    fn leeway_is_honoured() {
        let k = key(KeyAlg::ES256, "k1");
        let keys = keys_of(&[&k]);
        let mut c = claims();
        c["exp"] = json!(NOW - 29);
        c["iat"] = json!(NOW + 29);
        c["nbf"] = json!(NOW + 29);
        verify(&sign(&k, &c), &keys, &expected()).unwrap();
        let mut c = claims();
        c["aud"] = json!(["other", CLIENT]);
        c["azp"] = json!(CLIENT);
        verify(&sign(&k, &c), &keys, &expected()).unwrap();
    }

    #[test]
    fn forged_headers_are_refused() {
        let k = key(KeyAlg::RS256, "k1");
        let keys = keys_of(&[&k]);
        let c = claims();
        // alg none, unsigned.
        let none = raw(&json!({"alg": "none", "kid": "k1"}), &c, b"");
        assert_eq!(
            verify(&none, &keys, &expected()).unwrap_err(),
            IdTokenError::Malformed
        );
        // HS256 keyed with the provider's public key material.
        let PublicJwk::Rsa { n, .. } = serde_json::from_value::<PublicJwk>(k.jwk.clone()).unwrap()
        else {
            panic!("RSA key")
        };
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some("k1".into()),
                ..jsonwebtoken::Header::new(Algorithm::HS256)
            },
            &c,
            &jsonwebtoken::EncodingKey::from_secret(n.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verify(&hs, &keys, &expected()).unwrap_err(),
            IdTokenError::Algorithm
        );
        // ES256 header against an RSA key.
        let es = with_header(&k, &json!({"alg": "ES256", "kid": "k1"}), &c);
        assert_eq!(
            verify(&es, &keys, &expected()).unwrap_err(),
            IdTokenError::Algorithm
        );
        for extra in [
            json!({"jku": "https://evil.example.com/jwks"}),
            json!({"x5u": "https://evil.example.com/cert"}),
            json!({"jwk": k.jwk.clone()}),
            json!({"x5c": ["MIIB"]}),
        ] {
            let mut h = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
            for (name, v) in extra.as_object().unwrap() {
                h[name] = v.clone();
            }
            assert_eq!(
                verify(&with_header(&k, &h, &c), &keys, &expected()).unwrap_err(),
                IdTokenError::KeyHeader,
                "{h}"
            );
        }
        // A kid the JWKS does not hold.
        let other = key(KeyAlg::RS256, "k2");
        assert_eq!(
            verify(&sign(&other, &c), &keys, &expected()).unwrap_err(),
            IdTokenError::UnknownKid
        );
        // Same kid, another key: the signature fails.
        let impostor = key(KeyAlg::RS256, "k1");
        assert_eq!(
            verify(&sign(&impostor, &c), &keys, &expected()).unwrap_err(),
            IdTokenError::Signature
        );
        // A tampered payload.
        let good = sign(&k, &c);
        let parts: Vec<&str> = good.split('.').collect();
        let mut evil = c.clone();
        evil["sub"] = json!("admin");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64url(evil.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            verify(&tampered, &keys, &expected()).unwrap_err(),
            IdTokenError::Signature
        );
    }

    #[test]
    fn jwks_parsing_keeps_only_fitting_signature_keys() {
        let rsa = key(KeyAlg::RS256, "r");
        let mut mislabelled = key(KeyAlg::ES256, "e").jwk;
        mislabelled["alg"] = json!("RS256");
        let mut enc = key(KeyAlg::ES256, "enc").jwk;
        enc["use"] = json!("enc");
        let set = json!({"keys": [
            rsa.jwk,
            mislabelled,
            enc,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"},
            {"kty": "RSA", "kid": "broken"},
            "not an object"
        ]});
        let keys = UpstreamKeys::parse(&set);
        assert_eq!(keys.len(), 1);
        assert!(keys.find(Some("r")).is_some());
        assert!(keys.find(Some("h")).is_none());
        // Without a kid, only a lone key is chosen.
        assert!(keys.find(None).is_some());
        let two = keys_of(&[&key(KeyAlg::ES256, "a"), &key(KeyAlg::ES256, "b")]);
        assert!(two.find(None).is_none());
        assert!(UpstreamKeys::parse(&json!({"keys": 3})).is_empty());
    }
}
