//! DPoP proofs (RFC 9449 §4) made without the server's code: keys
//! generated and signed with aws-lc-rs, the compact JWS assembled by hand
//! so a test can put anything in the header or the claims, and the
//! RFC 7638 thumbprint computed here.

use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaEncoding, RsaKeyPair,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

/// `ath`: base64url(SHA-256(the access token's ASCII)).
pub fn ath(token: &str) -> String {
    b64(&sha256(token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK: its required members
/// only, in lexicographic order, no whitespace.
pub fn thumbprint_of(jwk: &Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str().expect("kty") {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        other => panic!("no thumbprint for kty {other}"),
    };
    let members: Vec<String> = required
        .iter()
        .map(|m| {
            let v = jwk[*m].as_str().unwrap_or_else(|| panic!("JWK member {m}"));
            format!("{}:{}", Value::from(*m), Value::from(v))
        })
        .collect();
    b64(&sha256(format!("{{{}}}", members.join(",")).as_bytes()))
}

enum Signer {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn RsaEncoding),
}

/// A client's proof-of-possession key.
pub struct ProofKey {
    alg: &'static str,
    signer: Signer,
    jwk: Value,
}

/// How a proof is signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// With the key itself, under its own alg (unless the header says otherwise).
    Key,
    /// `alg: none` and an empty signature.
    None,
    /// `alg: HS256`, an HMAC over the input with this secret.
    Hs256(Vec<u8>),
    /// With the key, then one bit of the signature flipped.
    Tampered,
}

/// Everything a proof carries, for good and bad proofs alike. The header
/// starts as `typ: dpop+jwt`, the key's `alg` and public `jwk`; the claims
/// as a fresh `jti`, `htm`, `htu` and `iat`.
#[derive(Debug, Clone)]
pub struct ProofSpec {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    pub signing: Signing,
}

impl ProofSpec {
    pub fn new(htm: &str, htu: &str, iat: i64) -> ProofSpec {
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("htm".into(), json!(htm));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(iat));
        let mut header = Map::new();
        header.insert("typ".into(), json!("dpop+jwt"));
        ProofSpec {
            header,
            claims,
            signing: Signing::Key,
        }
    }

    /// Set (or replace) a header member.
    pub fn header(mut self, k: &str, v: Value) -> Self {
        self.header.insert(k.into(), v);
        self
    }

    pub fn without_header(mut self, k: &str) -> Self {
        self.header.insert(k.into(), Value::Null);
        self
    }

    /// Set (or replace) a claim.
    pub fn claim(mut self, k: &str, v: Value) -> Self {
        self.claims.insert(k.into(), v);
        self
    }

    pub fn without_claim(mut self, k: &str) -> Self {
        self.claims.remove(k);
        self
    }

    pub fn ath(self, token: &str) -> Self {
        self.claim("ath", json!(ath(token)))
    }

    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", json!(nonce))
    }

    pub fn jti(self, jti: &str) -> Self {
        self.claim("jti", json!(jti))
    }

    pub fn signing(mut self, s: Signing) -> Self {
        self.signing = s;
        self
    }
}

impl ProofKey {
    pub fn es256() -> ProofKey {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let point = kp.public_key().as_ref().to_vec();
        assert_eq!((point.len(), point[0]), (65, 0x04), "uncompressed point");
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(&point[1..33]),
            "y": b64(&point[33..]),
        });
        ProofKey {
            alg: "ES256",
            signer: Signer::Es256(kp),
            jwk,
        }
    }

    pub fn ed25519() -> ProofKey {
        let kp = Ed25519KeyPair::generate().expect("Ed25519 key");
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(kp.public_key().as_ref())});
        ProofKey {
            alg: "EdDSA",
            signer: Signer::Ed25519(kp),
            jwk,
        }
    }

    pub fn rs256() -> ProofKey {
        Self::rsa("RS256", &RSA_PKCS1_SHA256)
    }

    pub fn ps256() -> ProofKey {
        Self::rsa("PS256", &RSA_PSS_SHA256)
    }

    fn rsa(alg: &'static str, enc: &'static dyn RsaEncoding) -> ProofKey {
        let kp = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let (n, e) = rsa_public_components(kp.public_key().as_ref());
        let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
        ProofKey {
            alg,
            signer: Signer::Rsa(kp, enc),
            jwk,
        }
    }

    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK (required members only).
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The JWK with a private member too (`d`).
    pub fn private_jwk(&self) -> Value {
        let mut jwk = self.jwk();
        let d = match &self.signer {
            Signer::Es256(kp) => {
                let d: EcPrivateKeyBin = kp.private_key().as_be_bytes().expect("EC d");
                b64(d.as_ref())
            }
            Signer::Ed25519(kp) => {
                let seed: Curve25519SeedBin = kp.seed().expect("seed").as_be_bytes().expect("d");
                b64(seed.as_ref())
            }
            Signer::Rsa(..) => b64(&sha256(self.jwk.to_string().as_bytes())),
        };
        jwk["d"] = json!(d);
        jwk
    }

    pub fn thumbprint(&self) -> String {
        thumbprint_of(&self.jwk)
    }

    /// A valid proof for `htm` `htu` at `iat`, with a fresh `jti`.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64) -> String {
        self.proof_with(ProofSpec::new(htm, htu, iat))
    }

    /// A valid proof for a resource request with `token` (`ath`).
    pub fn proof_for(&self, htm: &str, htu: &str, iat: i64, token: &str) -> String {
        self.proof_with(ProofSpec::new(htm, htu, iat).ath(token))
    }

    /// A proof made from `spec`: header members the spec does not set are
    /// the key's `alg` and `jwk` (a member set to `null` is left out).
    pub fn proof_with(&self, spec: ProofSpec) -> String {
        let mut header = Map::new();
        let alg = match &spec.signing {
            Signing::Key | Signing::Tampered => self.alg,
            Signing::None => "none",
            Signing::Hs256(_) => "HS256",
        };
        header.insert("alg".into(), json!(alg));
        header.insert("jwk".into(), self.jwk());
        for (k, v) in spec.header {
            header.insert(k, v);
        }
        header.retain(|_, v| !v.is_null());
        let input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string().as_bytes()),
            b64(Value::Object(spec.claims).to_string().as_bytes())
        );
        let sig = match spec.signing {
            Signing::Key => self.sign(input.as_bytes()),
            Signing::Tampered => {
                let mut s = self.sign(input.as_bytes());
                s[0] ^= 0x01;
                s
            }
            Signing::None => Vec::new(),
            Signing::Hs256(secret) => {
                let k = hmac::Key::new(hmac::HMAC_SHA256, &secret);
                hmac::sign(&k, input.as_bytes()).as_ref().to_vec()
            }
        };
        format!("{input}.{}", b64(&sig))
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Es256(kp) => kp.sign(&rng, msg).expect("ES256").as_ref().to_vec(),
            Signer::Ed25519(kp) => kp.sign(msg).as_ref().to_vec(),
            Signer::Rsa(kp, enc) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(*enc, &rng, msg, &mut sig).expect("RSA signature");
                sig
            }
        }
    }
}

/// `n` and `e` of a DER `RSAPublicKey` (RFC 8017 §A.1.1), without the
/// sign octet.
pub fn rsa_public_components(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(b: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(b[0], tag, "DER tag");
        let (len, hdr) = match b[1] {
            l if l < 0x80 => (l as usize, 2),
            l => {
                let k = (l & 0x7f) as usize;
                let len = b[2..2 + k]
                    .iter()
                    .fold(0usize, |a, &x| (a << 8) | x as usize);
                (len, 2 + k)
            }
        };
        (&b[hdr..hdr + len], &b[hdr + len..])
    }
    let (seq, _) = tlv(der, 0x30);
    let (n, rest) = tlv(seq, 0x02);
    let (e, _) = tlv(rest, 0x02);
    let strip = |i: &[u8]| {
        i.iter()
            .skip_while(|&&x| x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(e))
}

/// The decoded JSON of part `i` (0 header, 1 claims) of a compact JWS.
pub fn part(jws: &str, i: usize) -> Value {
    let p = jws.split('.').nth(i).expect("JWS part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        });
        assert_eq!(
            thumbprint_of(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn the_rfc_9449_examples() {
        let jwk = json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256",
        });
        assert_eq!(
            thumbprint_of(&jwk),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    fn verify(key: &ProofKey, jws: &str) {
        let (input, sig) = jws.rsplit_once('.').expect("signature");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url");
        let jwk = key.jwk();
        let s = |m: &str| jwk[m].as_str().unwrap().to_string();
        let dk = match jwk["kty"].as_str().unwrap() {
            "EC" => jsonwebtoken::DecodingKey::from_ec_components(&s("x"), &s("y")),
            "OKP" => jsonwebtoken::DecodingKey::from_ed_components(&s("x")),
            _ => jsonwebtoken::DecodingKey::from_rsa_components(&s("n"), &s("e")),
        }
        .expect("decoding key");
        let alg: jsonwebtoken::Algorithm = key.alg().parse().expect("alg");
        let ok = jsonwebtoken::crypto::verify(&b64(&sig), input.as_bytes(), &dk, alg);
        assert!(ok.expect("verification runs"), "{} verifies", key.alg());
    }

    #[test]
    fn proofs_verify_with_their_public_jwk() {
        for key in [
            ProofKey::es256(),
            ProofKey::ed25519(),
            ProofKey::rs256(),
            ProofKey::ps256(),
        ] {
            let p = key.proof("POST", "https://as.example/token", 1_700_000_000);
            verify(&key, &p);
            let h = part(&p, 0);
            assert_eq!(h["typ"], "dpop+jwt");
            assert_eq!(h["alg"], key.alg());
            assert_eq!(h["jwk"], key.jwk());
            assert!(h["jwk"].get("d").is_none());
            let c = part(&p, 1);
            assert_eq!(c["htm"], "POST");
            assert_eq!(c["htu"], "https://as.example/token");
            assert_eq!(c["iat"], 1_700_000_000);
            assert_eq!(c["jti"].as_str().unwrap().len(), 36);
            let q = key.proof("POST", "https://as.example/token", 1_700_000_000);
            assert_ne!(part(&q, 1)["jti"], c["jti"], "a fresh jti each time");
            assert_eq!(key.thumbprint().len(), 43);
            assert!(key.private_jwk()["d"].is_string());
        }
    }

    #[test]
    fn bad_proofs_carry_what_the_spec_says() {
        let key = ProofKey::es256();
        let p = key.proof_with(
            ProofSpec::new("GET", "https://x", 1)
                .header("typ", json!("jwt"))
                .without_header("jwk")
                .without_claim("jti")
                .signing(Signing::None),
        );
        assert!(p.ends_with('.'), "alg none: empty signature");
        let h = part(&p, 0);
        assert_eq!(h, json!({"alg": "none", "typ": "jwt"}));
        assert!(part(&p, 1).get("jti").is_none());
        let p = key.proof_with(
            ProofSpec::new("GET", "https://x", 1).signing(Signing::Hs256(b"s".to_vec())),
        );
        assert_eq!(part(&p, 0)["alg"], "HS256");
        assert_eq!(p.rsplit('.').next().unwrap().len(), 43);
    }
}
