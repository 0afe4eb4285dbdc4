//! The checks after a restart: every acknowledged revocation, kept token,
//! used code and rotated refresh token, and the outbox.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use super::ledger::{Checked, Marks, Setup, Shared};
use super::life::Life;
use super::life::Rng;
use crate::helpers::{jwt_part, kids, INACTIVE};

/// The outbox's mails: Message-ID → recipients, one entry per file.
pub(super) fn outbox(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("an outbox file");
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("{} has no {name} header:\n{text}", p.display()))
        };
        out.push((header("Message-ID"), header("To")));
    }
    out
}

/// No mail was written twice.
pub(super) fn assert_no_duplicate_mail(dir: &Path) -> usize {
    let mails = outbox(dir);
    let mut seen = HashMap::new();
    for (id, _) in &mails {
        *seen.entry(id.clone()).or_insert(0u32) += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "mails delivered more than once: {dups:?}");
    mails.len()
}

/// After a restart: everything the ledger says was acknowledged holds.
/// `full` checks every record; otherwise those since `from` and a sample.
pub(super) async fn verify(
    life: &Life,
    setup: &Setup,
    ledger: &Shared,
    from: &Marks,
    full: bool,
    rng: &mut Rng,
    checked: &mut Checked,
) {
    // A copy: the workers are done, and no borrow is held across an await.
    let l = ledger.borrow().clone();
    // Keys: unique kids, one current key that signs, nothing acknowledged
    // lost.
    let jwks = life.admin_get("/oauth2/jwks").await;
    let jwks_kids = kids(&jwks);
    let unique: BTreeSet<_> = jwks_kids.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        jwks_kids.len(),
        "duplicate kids: {jwks_kids:?}"
    );
    let listed: Vec<Value> =
        serde_json::from_value(life.admin_get("/admin/keys").await).expect("key list");
    let current: Vec<&Value> = listed.iter().filter(|k| k["state"] == "current").collect();
    assert_eq!(current.len(), 1, "exactly one current key: {listed:?}");
    let current_kid = current[0]["kid"].as_str().expect("kid").to_string();
    for kid in &l.acked_kids {
        assert!(
            unique.contains(kid),
            "key {kid} from an acknowledged rotation is gone: {jwks_kids:?}"
        );
    }
    let r = life
        .token(&setup.jwt, &[("grant_type", "client_credentials")])
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = r.json::<Value>().await.expect("token JSON")["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    assert_eq!(
        jwt_part(&fresh, 0)["kid"],
        current_kid.as_str(),
        "new tokens carry the current kid"
    );
    assert!(
        unique.contains(&current_kid),
        "the signing key is published"
    );
    checked.key_checks += 1;

    // Revocations answered 200 stay revoked.
    let mut revoked: Vec<&String> = Vec::new();
    for (i, t) in l.revoked.iter().enumerate() {
        if full || i >= from.revoked || rng.chance(5) {
            revoked.push(t);
        }
    }
    for t in revoked {
        assert_eq!(
            life.introspect(&setup.rs, t).await,
            INACTIVE,
            "an acknowledged revocation was lost"
        );
        checked.revoked += 1;
    }
    // Tokens issued and never revoked are still active, unchanged.
    for (i, (t, jti)) in l.kept.iter().enumerate() {
        if !(full || i >= from.kept || rng.chance(5)) {
            continue;
        }
        let v: Value =
            serde_json::from_str(&life.introspect(&setup.rs, t).await).expect("introspection");
        assert_eq!(v["active"], true, "an acknowledged token was lost: {v}");
        assert_eq!(v["jti"], jti.as_str());
        if t.split('.').count() == 3 {
            let kid = jwt_part(t, 0)["kid"].as_str().expect("kid").to_string();
            assert!(
                unique.contains(&kid),
                "the key {kid} of a live token left the JWKS"
            );
        }
        checked.kept += 1;
    }
    // Reuse detection first (replaying codes below revokes families too):
    // a rotated token fails, and after it the whole family is dead.
    for (i, f) in l.families.iter().enumerate() {
        if !(full || i >= from.families) || f.rotated.is_empty() {
            continue;
        }
        for t in &f.rotated {
            let r = life.refresh(&setup.rp, t).await.expect("refresh");
            let status = r.status();
            let body: Value = r.json().await.expect("refresh JSON");
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant")),
                "a rotated refresh token worked again: {body}"
            );
            checked.rotated += 1;
        }
        if let Some(newest) = &f.newest {
            let r = life.refresh(&setup.rp, newest).await.expect("refresh");
            assert_eq!(
                r.status(),
                StatusCode::BAD_REQUEST,
                "reuse detection did not end the family"
            );
        }
        checked.families += 1;
    }
    // No code whose exchange was sent works again.
    for (i, (code, verifier)) in l.codes.iter().enumerate() {
        if !(full || i >= from.codes) {
            continue;
        }
        let r = life
            .exchange(&setup.rp, code, verifier)
            .await
            .expect("exchange");
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "a used code worked again: {body}"
        );
        checked.codes += 1;
    }
}
