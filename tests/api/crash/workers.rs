//! The concurrent workers of one round: revocations, code exchanges,
//! refresh rotations, reset mails and key rotations, each writing what was
//! acknowledged into the ledger.

use std::rc::Rc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::ledger::{Family, Setup, Shared};
use super::life::{Cred, Life, Rng};
use super::MAILS_PER_ROUND;

pub(super) async fn revocation_worker(life: Life, setup: Rc<Setup>, ledger: Shared, mut rng: Rng) {
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let c = if rng.chance(50) {
            &setup.jwt
        } else {
            &setup.opaque
        };
        let Ok(r) = life.token(c, &[("grant_type", "client_credentials")]).await else {
            return;
        };
        if r.status() != StatusCode::OK {
            assert!(
                r.status().is_server_error(),
                "client_credentials answered {}",
                r.status()
            );
            continue;
        }
        let Ok(v) = r.json::<Value>().await else {
            return;
        };
        let token = v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        if rng.chance(60) {
            // By its own client. From here on its state is unknown until
            // the answer arrives.
            match life.revoke(c, &token).await {
                Ok(StatusCode::OK) => ledger.borrow_mut().revoked.push(token),
                Ok(s) => assert!(s.is_server_error(), "revoke answered {s}"),
                Err(_) => return,
            }
        } else {
            let jti = introspected_jti(&life, &setup.rs, &token).await;
            match jti {
                Some(jti) => ledger.borrow_mut().kept.push((token, jti)),
                None => return,
            }
        }
    }
}

/// The `jti` introspection reports for an active token (`None` when the
/// server went away).
pub(super) async fn introspected_jti(life: &Life, rs: &Cred, token: &str) -> Option<String> {
    let r = life
        .http
        .post(life.url("/oauth2/token/introspect"))
        .basic_auth(&rs.id, Some(&rs.secret))
        .form(&[("token", token)])
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    assert_eq!(v["active"], true, "a fresh token is active: {v}");
    Some(v["jti"].as_str().expect("jti").to_string())
}

pub(super) async fn code_worker(life: Life, setup: Rc<Setup>, session: String, ledger: Shared) {
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let Some((code, verifier)) = life.code(&setup.rp, &session).await else {
            return;
        };
        ledger
            .borrow_mut()
            .codes
            .push((code.clone(), verifier.clone()));
        match life.exchange(&setup.rp, &code, &verifier).await {
            Ok(r) if r.status() == StatusCode::OK => ledger.borrow_mut().codes_answered += 1,
            Ok(r) => assert!(
                r.status().is_server_error(),
                "a fresh code's exchange answered {}",
                r.status()
            ),
            Err(_) => return,
        }
    }
}

pub(super) async fn refresh_worker(life: Life, setup: Rc<Setup>, session: String, ledger: Shared) {
    let Some((code, verifier)) = life.code(&setup.rp, &session).await else {
        return;
    };
    ledger
        .borrow_mut()
        .codes
        .push((code.clone(), verifier.clone()));
    let Ok(r) = life.exchange(&setup.rp, &code, &verifier).await else {
        return;
    };
    if r.status() != StatusCode::OK {
        return;
    }
    let Ok(v) = r.json::<Value>().await else {
        return;
    };
    let mut current = v["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let idx = {
        let mut l = ledger.borrow_mut();
        l.codes_answered += 1;
        l.families.push(Family {
            rotated: Vec::new(),
            newest: Some(current.clone()),
        });
        l.families.len() - 1
    };
    let mut n = 0u32;
    while n < 10_000 {
        n += 1;
        let Ok(r) = life.refresh(&setup.rp, &current).await else {
            return;
        };
        if r.status() != StatusCode::OK {
            assert!(
                r.status().is_server_error(),
                "a rotation answered {}",
                r.status()
            );
            continue;
        }
        // Answered: the presented token is used for good, whatever happens
        // to the body.
        {
            let mut l = ledger.borrow_mut();
            l.rotations_answered += 1;
            l.families[idx].rotated.push(current.clone());
            l.families[idx].newest = None;
        }
        let Ok(v) = r.json::<Value>().await else {
            return;
        };
        current = v["refresh_token"]
            .as_str()
            .expect("a rotated refresh token")
            .to_string();
        ledger.borrow_mut().families[idx].newest = Some(current.clone());
    }
}

pub(super) async fn mail_worker(life: Life, setup: Rc<Setup>, ledger: Shared, mut rng: Rng) {
    for _ in 0..MAILS_PER_ROUND {
        let to = setup.mail_users[rng.below(setup.mail_users.len() as u64) as usize].clone();
        *ledger
            .borrow_mut()
            .mail_asked
            .entry(to.clone())
            .or_default() += 1;
        let r = life
            .http
            .post(life.url("/api/oauth/reset_password"))
            .json(&json!({ "email": to }))
            .send()
            .await;
        match r.map(|r| r.status()) {
            Ok(StatusCode::OK) => *ledger.borrow_mut().mail_acked.entry(to).or_default() += 1,
            Ok(StatusCode::TOO_MANY_REQUESTS) => {
                // Refused before anything was queued.
                *ledger.borrow_mut().mail_asked.entry(to).or_default() -= 1;
            }
            Ok(s) => assert!(s.is_server_error(), "reset_password answered {s}"),
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_millis(rng.range(5, 40))).await;
    }
}

pub(super) async fn key_worker(life: Life, ledger: Shared, mut rng: Rng, window_ms: u64) {
    // Early in the window: a rotation makes a key, and should often be
    // answered before the kill.
    tokio::time::sleep(Duration::from_millis(rng.below(window_ms / 3))).await;
    let Ok(r) = life.admin_post("/admin/keys/rotate", &json!({})).await else {
        return;
    };
    assert_eq!(r.status(), StatusCode::OK, "key rotation");
    let Ok(keys) = r.json::<Vec<Value>>().await else {
        return;
    };
    let mut l = ledger.borrow_mut();
    l.key_rotations += 1;
    for k in keys {
        l.acked_kids
            .insert(k["kid"].as_str().expect("kid").to_string());
    }
}
