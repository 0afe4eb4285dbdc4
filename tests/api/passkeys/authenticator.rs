//! A software authenticator for the tests: one P-256 credential (ES256),
//! attestation `none`, and assertions with a chosen counter, user
//! verification and backup flags. It builds exactly the bytes a browser
//! would hand the server (authenticator data, client data JSON, CBOR) and
//! signs with aws-lc, independently of the library the server verifies
//! with.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use tessera_actors::secret::{b64url, b64url_decode};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

pub struct SoftKey {
    pub rp_id: String,
    pub origin: String,
    pub cred_id: Vec<u8>,
    key: EcdsaKeyPair,
    /// The user handle the registration gave it (the user's id).
    pub user_handle: Vec<u8>,
    /// The signature counter the next assertion carries (then it grows).
    pub counter: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub user_verified: bool,
}

// ---- CBOR, the few shapes an attestation object needs -------------------

fn head(major: u8, len: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend([m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((len as u32).to_be_bytes());
        }
    }
}

fn int(v: i64, out: &mut Vec<u8>) {
    if v >= 0 {
        head(0, v as u64, out);
    } else {
        head(1, (-1 - v) as u64, out);
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len() as u64, out);
    out.extend_from_slice(b);
}

fn text(s: &str, out: &mut Vec<u8>) {
    head(3, s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

impl SoftKey {
    /// A new credential for `origin`, whose relying party id is `rp_id`.
    pub fn new(origin: &str, rp_id: &str) -> SoftKey {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key");
        SoftKey {
            rp_id: rp_id.into(),
            origin: origin.into(),
            cred_id: tessera_actors::secret::random_bytes::<32>().to_vec(),
            key,
            user_handle: Vec::new(),
            counter: 1,
            backup_eligible: false,
            backup_state: false,
            user_verified: true,
        }
    }

    /// A synced passkey (backup eligible and backed up).
    pub fn synced(mut self) -> SoftKey {
        self.backup_eligible = true;
        self.backup_state = true;
        self
    }

    pub fn id(&self) -> String {
        b64url(&self.cred_id)
    }

    fn flags(&self, extra: u8) -> u8 {
        let mut f = UP | extra;
        if self.user_verified {
            f |= UV;
        }
        if self.backup_eligible {
            f |= BE;
        }
        if self.backup_state {
            f |= BS;
        }
        f
    }

    fn rp_hash(&self) -> Vec<u8> {
        digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec()
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("client data JSON")
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "an uncompressed P-256 point");
        let mut out = Vec::new();
        head(5, 5, &mut out);
        int(1, &mut out);
        int(2, &mut out); // kty: EC2
        int(3, &mut out);
        int(-7, &mut out); // alg: ES256
        int(-1, &mut out);
        int(1, &mut out); // crv: P-256
        int(-2, &mut out);
        bytes(&point[1..33], &mut out);
        int(-3, &mut out);
        bytes(&point[33..65], &mut out);
        out
    }

    /// Answer `navigator.credentials.create()` for `options` (the server's
    /// `{"publicKey": ...}`), as the WebAuthn JSON a browser would send.
    pub fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        assert_eq!(pk["rp"]["id"], self.rp_id.as_str(), "{options}");
        let challenge = pk["challenge"].as_str().expect("a challenge");
        self.user_handle =
            b64url_decode(pk["user"]["id"].as_str().expect("a user id")).expect("base64url");
        let client_data = self.client_data("webauthn.create", challenge);
        let mut auth = self.rp_hash();
        auth.push(self.flags(AT));
        auth.extend(0u32.to_be_bytes());
        auth.extend([0u8; 16]); // AAGUID: none
        auth.extend((self.cred_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.cred_id);
        auth.extend(self.cose_key());
        let mut att = Vec::new();
        head(5, 3, &mut att);
        text("fmt", &mut att);
        text("none", &mut att);
        text("attStmt", &mut att);
        head(5, 0, &mut att);
        text("authData", &mut att);
        bytes(&auth, &mut att);
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "extensions": {},
            "response": {
                "attestationObject": b64url(&att),
                "clientDataJSON": b64url(&client_data),
                "transports": ["internal"],
            },
        })
    }

    /// Answer `navigator.credentials.get()` for `options`, with the counter
    /// [`SoftKey::counter`] (which then grows by one).
    pub fn assert(&mut self, options: &Value) -> Value {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("a challenge")
            .to_string();
        self.assert_challenge(&challenge)
    }

    /// An assertion over any `challenge` (base64url).
    pub fn assert_challenge(&mut self, challenge: &str) -> Value {
        let client_data = self.client_data("webauthn.get", challenge);
        let mut auth = self.rp_hash();
        auth.push(self.flags(0));
        auth.extend(self.counter.to_be_bytes());
        self.counter += 1;
        let mut signed = auth.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let sig = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("ECDSA signature");
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": b64url(&auth),
                "clientDataJSON": b64url(&client_data),
                "signature": b64url(sig.as_ref()),
                "userHandle": b64url(&self.user_handle),
            },
        })
    }
}
