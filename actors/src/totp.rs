//! TOTP (RFC 6238) enrolment and verification over `totp-rs`.
//!
//! Parameters are the ones every authenticator app understands: HMAC-SHA1,
//! 6 digits, 30-second steps, one step of clock skew either way. Secrets are
//! 160 random bits, stored base32 in the user record
//! ([`crate::directory::users::Totp`]) together with the last accepted time
//! step: [`check`] returns the step a code matched so the caller can store
//! it, and refuses any step at or before the stored one, so a code is
//! accepted once (RFC 6238 §5.2).
//!
//! The functions are pure (time is a parameter) so the injectable clock
//! drives them in tests.

use serde::Serialize;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Seconds per time step (RFC 6238 §5.2 recommends 30).
const STEP_SECONDS: u64 = 30;
/// Steps of clock skew accepted either side of the current one.
const SKEW_STEPS: u64 = 1;
/// Digits in a code.
const DIGITS: usize = 6;

/// Why a TOTP operation failed. Deliberately coarse: the caller maps
/// `Invalid` and `Replayed` to the same "wrong code" answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The code is malformed or matches no step in the window (for
    /// [`enrol`]: the account label is empty; for [`code_at`]: the time is
    /// before the epoch).
    #[error("invalid TOTP code")]
    Invalid,
    /// The code matches a step already used (at or before `last_step`).
    #[error("TOTP code already used")]
    Replayed,
    /// The stored secret is not base32 or is shorter than 128 bits.
    #[error("unusable TOTP secret")]
    BadSecret,
}

/// A fresh enrolment, shown to the user once. `Debug` redacts the secret.
#[derive(Clone, Serialize)]
pub struct Enrolment {
    /// The secret, base32 (RFC 4648, no padding): what the user types in if
    /// they cannot scan the QR code, and what is stored.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...`
    pub otpauth_url: String,
    /// The `otpauth_url` as a QR code: a PNG, standard base64.
    pub qr_png_base64: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment")
            .field("secret", &"<redacted>")
            .field("otpauth_url", &"<redacted>")
            .field("qr_png_base64_len", &self.qr_png_base64.len())
            .finish()
    }
}

/// A new 160-bit secret for `account` (the user's e-mail or username) under
/// `issuer` (the label shown in authenticator apps, e.g. "tessera").
///
/// The otpauth label may not contain `:` (it separates issuer and account),
/// so any `:` in either is replaced by `_`; the label is display-only.
pub fn enrol(issuer: &str, account: &str) -> Result<Enrolment, TotpError> {
    describe(issuer, account, Secret::generate())
}

/// The enrolment view (URL and QR code) of an existing base32 `secret`, for
/// showing an enrolment in progress again.
pub fn enrolment_of(issuer: &str, account: &str, secret: &str) -> Result<Enrolment, TotpError> {
    let secret = parse(secret)?.secret().clone();
    describe(issuer, account, secret)
}

fn describe(issuer: &str, account: &str, secret: Secret) -> Result<Enrolment, TotpError> {
    let account = label(account);
    if account.is_empty() {
        return Err(TotpError::Invalid);
    }
    let issuer = label(issuer);
    let issuer = (!issuer.is_empty()).then_some(issuer);

    let totp = builder(secret)
        .with_account_name(account)
        .with_issuer(issuer)
        .build()
        .map_err(|_| TotpError::BadSecret)?;
    let otpauth_url = totp.to_url().map_err(|_| TotpError::Invalid)?;
    let qr_png_base64 = totp.to_qr_base64().map_err(|_| TotpError::Invalid)?;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        otpauth_url,
        qr_png_base64,
    })
}

/// Check `code` at unix time `now` against the base32 `secret`: SHA1, 6
/// digits, 30 s steps, one step of skew either way (two are refused).
/// Returns the matched time step. A step ≤ `last_step` is refused (replay).
/// Codes that are not exactly 6 ASCII digits are refused without computing
/// anything.
///
/// Every step of the window is computed and compared in constant time; when
/// more than one step matches (a 1-in-10⁶ coincidence), the latest step not
/// yet used wins.
pub fn check(secret: &str, code: &str, now: i64, last_step: u64) -> Result<u64, TotpError> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Invalid);
    }
    let totp = parse(secret)?;
    let now = u64::try_from(now).map_err(|_| TotpError::Invalid)?;

    let origin = now / STEP_SECONDS;
    let mut fresh = None;
    let mut replayed = false;
    for step in origin.saturating_sub(SKEW_STEPS)..=origin.saturating_add(SKEW_STEPS) {
        let expected = totp.generate(step.saturating_mul(STEP_SECONDS)).to_string();
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            if step > last_step {
                fresh = Some(step);
            } else {
                replayed = true;
            }
        }
    }
    match (fresh, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::Invalid),
    }
}

/// The code for a given unix time (for tests and tools).
pub fn code_at(secret: &str, now: i64) -> Result<String, TotpError> {
    let totp = parse(secret)?;
    let now = u64::try_from(now).map_err(|_| TotpError::Invalid)?;
    Ok(totp.generate(now).to_string())
}

/// The builder with tessera's fixed parameters.
fn builder(secret: Secret) -> Builder {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_SECONDS)
        .with_skew(1)
        .with_secret(secret)
}

/// A stored base32 secret as a `Totp` (no label: it only computes codes).
/// Spaces and lower case are tolerated for secrets typed by hand.
fn parse(secret: &str) -> Result<Totp, TotpError> {
    let normalised: String = secret
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = Secret::try_from_base32(normalised).map_err(|_| TotpError::BadSecret)?;
    // Refuses secrets under 128 bits.
    builder(secret).build().map_err(|_| TotpError::BadSecret)
}

fn label(s: &str) -> String {
    s.trim().replace(':', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// RFC 6238 appendix B's SHA1 key, "12345678901234567890", in base32.
    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const NOW: i64 = 1_700_000_015;

    #[test]
    fn an_enrolment_in_progress_is_shown_again_unchanged() {
        let e = enrol("tessera", "ada@example.com").unwrap();
        let again = enrolment_of("tessera", "ada@example.com", &e.secret).unwrap();
        assert_eq!(again.secret, e.secret);
        assert_eq!(again.otpauth_url, e.otpauth_url);
        assert_eq!(again.qr_png_base64, e.qr_png_base64);
        assert_eq!(
            enrolment_of("tessera", "ada", "not base32!").unwrap_err(),
            TotpError::BadSecret
        );
    }

    #[test]
    fn rfc6238_vector() {
        // Appendix B gives 8 digits (94287082 at T=59); ours are the last 6.
        assert_eq!(code_at(SECRET, 59).unwrap(), "287082");
        assert_eq!(code_at(SECRET, 1_111_111_109).unwrap(), "081804");
    }

    #[test]
    fn code_at_now_verifies_once() {
        let code = code_at(SECRET, NOW).unwrap();
        let step = check(SECRET, &code, NOW, 0).unwrap();
        assert_eq!(step, NOW as u64 / 30);
        assert_eq!(check(SECRET, &code, NOW, step), Err(TotpError::Replayed));
        assert_eq!(
            check(SECRET, &code, NOW, step + 5),
            Err(TotpError::Replayed)
        );
    }

    #[test]
    fn one_step_of_skew_either_way() {
        let now_step = NOW as u64 / 30;
        let before = code_at(SECRET, NOW - 30).unwrap();
        let after = code_at(SECRET, NOW + 30).unwrap();
        assert_eq!(check(SECRET, &before, NOW, 0), Ok(now_step - 1));
        assert_eq!(check(SECRET, &after, NOW, 0), Ok(now_step + 1));
        // A later code already used refuses an earlier one.
        assert_eq!(
            check(SECRET, &before, NOW, now_step),
            Err(TotpError::Replayed)
        );

        let too_old = code_at(SECRET, NOW - 60).unwrap();
        let too_new = code_at(SECRET, NOW + 60).unwrap();
        assert_eq!(check(SECRET, &too_old, NOW, 0), Err(TotpError::Invalid));
        assert_eq!(check(SECRET, &too_new, NOW, 0), Err(TotpError::Invalid));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let code = code_at(SECRET, NOW).unwrap();
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            "+12345",
            " 12345",
            "١٢٣٤٥٦", // Arabic-Indic digits
            &format!("{code}0"),
            &code[..5],
        ] {
            assert_eq!(
                check(SECRET, bad, NOW, 0),
                Err(TotpError::Invalid),
                "{bad:?}"
            );
        }
        // Format is checked before the secret is even looked at.
        assert_eq!(
            check("not base32!", "12345", NOW, 0),
            Err(TotpError::Invalid)
        );
    }

    #[test]
    fn bad_secrets_and_times() {
        assert_eq!(
            check("not base32!", "123456", NOW, 0),
            Err(TotpError::BadSecret)
        );
        // 80 bits: under the 128-bit minimum.
        assert_eq!(code_at("GEZDGNBVGY3DQOJQ", NOW), Err(TotpError::BadSecret));
        assert_eq!(code_at(SECRET, -1), Err(TotpError::Invalid));
        // Hand-typed secrets: spaces and lower case.
        let spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(code_at(spaced, NOW), code_at(SECRET, NOW));
    }

    #[test]
    fn enrol_gives_url_and_png() {
        let e = enrol("tessera", "alice@example.com").unwrap();
        // 160 bits = 32 base32 characters, no padding.
        assert_eq!(e.secret.len(), 32);
        assert!(
            e.otpauth_url.starts_with("otpauth://totp/"),
            "{}",
            e.otpauth_url
        );
        assert!(e.otpauth_url.contains("tessera"));
        assert!(e.otpauth_url.contains(&format!("secret={}", e.secret)));
        assert!(e.otpauth_url.contains("issuer=tessera"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(&e.qr_png_base64)
            .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // The secret works.
        let code = code_at(&e.secret, NOW).unwrap();
        assert!(check(&e.secret, &code, NOW, 0).is_ok());
        // Two enrolments never share a secret.
        assert_ne!(
            enrol("tessera", "alice@example.com").unwrap().secret,
            e.secret
        );
        assert!(!format!("{e:?}").contains(&e.secret));
    }

    #[test]
    fn enrol_labels() {
        let e = enrol("my:issuer", "odd:name").unwrap();
        assert!(e.otpauth_url.contains("my_issuer"));
        assert!(e.otpauth_url.contains("odd_name"));
        assert!(matches!(enrol("tessera", "  "), Err(TotpError::Invalid)));
    }
}
