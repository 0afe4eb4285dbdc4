//! Device authorization grants in flight (RFC 8628): a device asked for
//! authorization and polls the token endpoint with its `device_code`
//! while the user enters the `user_code` in a browser and approves or
//! denies.
//!
//! A grant is kept by the SHA-256 of its device code, and found by the
//! SHA-256 of its normalized user code; neither code is stored. It lives
//! until it expires (`expires_in`), then answers `expired_token` for a
//! while and is forgotten. Approving or denying works once, while the
//! grant is pending; the tokens of an approved grant are handed out once,
//! to the first poll that takes it, even when two race.
//!
//! On one node the grants are in memory (a restart only means the device
//! starts again); with PostgreSQL they are in the database, so any node
//! of a cluster can approve a grant that another one is polled on.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::secret::{self, SecretHash};
use crate::store::{decode, encode};

/// Most grants held in memory at once; more are refused until some
/// expire.
pub const MAX_GRANTS: usize = 100_000;
/// RFC 8628 §3.5: by how much the interval grows at each `slow_down`.
pub const SLOW_DOWN_STEP: i64 = 5;
/// How long after its expiry a grant still answers `expired_token`
/// (rather than `invalid_grant`).
pub const EXPIRED_GRACE: i64 = 600;

/// RFC 8628 §6.1: the user code alphabet, consonants only (no vowels: no
/// words; no digits: nothing to confuse with letters).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters of a user code (20^8: about 34.5 bits).
pub const USER_CODE_LEN: usize = 8;

/// A new user code, shown as `XXXX-XXXX`.
pub fn new_user_code() -> String {
    let mut out = String::with_capacity(USER_CODE_LEN + 1);
    let mut n = 0;
    while n < USER_CODE_LEN {
        for b in secret::random_bytes::<16>() {
            // 240 = 12 * 20: the bytes above it would bias the draw.
            if b >= 240 || n >= USER_CODE_LEN {
                continue;
            }
            if n == USER_CODE_LEN / 2 {
                out.push('-');
            }
            let i = usize::from(b) % USER_CODE_ALPHABET.len();
            if let Some(c) = USER_CODE_ALPHABET.get(i) {
                out.push(char::from(*c));
                n += 1;
            }
        }
    }
    out
}

/// A user code as typed, normalized: upper case, without dashes and
/// spaces. `None` when it cannot be a user code (wrong length, a letter
/// outside the alphabet), so a typo is told apart from a wrong code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// The hash a user code is found by (of its normalized form).
pub fn user_code_hash(normalized: &str) -> SecretHash {
    let mut input = b"tessera-user-code:".to_vec();
    input.extend_from_slice(normalized.as_bytes());
    secret::sha256(&input)
}

/// What the device asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    pub client_id: String,
    /// The scope granted if the user approves.
    pub scope: String,
    /// RFC 8707: the resources the device named (none: all the client's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// Who approved, and how they had signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub user_id: uuid::Uuid,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Pending,
    Approved(Approval),
    Denied,
    /// The tokens were handed out.
    Used,
}

#[derive(Debug, Clone)]
struct Entry {
    request: DeviceRequest,
    user_code: SecretHash,
    status: Status,
    expires_at: i64,
    /// When the device last polled (`None`: never).
    last_poll: Option<i64>,
    interval: i64,
}

/// A grant as the verification page sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGrant {
    /// The device code's hash.
    pub id: SecretHash,
    pub request: DeviceRequest,
    pub expires_at: i64,
}

/// What a poll of the token endpoint gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Not decided yet; poll again after the interval.
    Pending,
    /// Polled faster than the interval, which is now this long.
    SlowDown(i64),
    Denied,
    Expired,
    /// Approved: this poll took the tokens; no other will.
    Approved(DeviceRequest, Approval),
    /// Unknown, another client's, or its tokens were already handed out.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the code is unknown")]
    Unknown,
    #[error("the code has expired")]
    Expired,
    #[error("the code was already used")]
    Decided,
    /// A new grant whose user code another live grant has; draw another.
    #[error("the user code is taken")]
    Collision,
    #[error("too many device authorizations are waiting; try again later")]
    Busy,
    #[error("the device authorization could not be stored or read; try again")]
    Unavailable,
}

fn unavailable(e: crate::store::StoreError) -> DeviceError {
    tracing::warn!(error = %e, "a device authorization could not be stored or read");
    DeviceError::Unavailable
}

#[derive(Default)]
pub struct DeviceGrants {
    local: DashMap<SecretHash, Entry>,
    /// User code hash → device code hash.
    by_user_code: DashMap<SecretHash, SecretHash>,
    last_prune: AtomicI64,
    shared: OnceLock<crate::pg::Pg>,
}

impl DeviceGrants {
    /// Keep the grants in the database.
    pub fn share(&self, pg: &crate::pg::Pg) {
        let _ = self.shared.set(pg.clone());
    }

    /// Whether the grants are in the database.
    pub fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// Record a new grant, pending, polled at `interval`.
    pub async fn start(
        &self,
        id: SecretHash,
        user_code: SecretHash,
        request: DeviceRequest,
        expires_at: i64,
        interval: i64,
        now: i64,
    ) -> Result<(), DeviceError> {
        if let Some(pg) = self.shared.get() {
            let payload = encode(&request).map_err(unavailable)?;
            let row = crate::pg::device::NewRow {
                id,
                user_code,
                client_id: request.client_id,
                expires_at,
                interval,
                payload,
            };
            let inserted = pg
                .run(crate::pg::device::insert(pg.pool().clone(), row))
                .await
                .map_err(unavailable)?;
            return if inserted {
                Ok(())
            } else {
                Err(DeviceError::Collision)
            };
        }
        self.prune(now);
        if self.local.len() >= MAX_GRANTS {
            return Err(DeviceError::Busy);
        }
        match self.by_user_code.entry(user_code) {
            dashmap::mapref::entry::Entry::Occupied(_) => return Err(DeviceError::Collision),
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        self.local.insert(
            id,
            Entry {
                request,
                user_code,
                status: Status::Pending,
                expires_at,
                last_poll: None,
                interval,
            },
        );
        Ok(())
    }

    /// Forget grants past their expiry and its grace (at most once a
    /// minute).
    fn prune(&self, now: i64) {
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last < 60 && self.local.len() < MAX_GRANTS {
            return;
        }
        self.last_prune.store(now, Ordering::Relaxed);
        let by_user_code = &self.by_user_code;
        self.local.retain(|_, e| {
            let keep = e.expires_at.saturating_add(EXPIRED_GRACE) >= now;
            if !keep {
                by_user_code.remove(&e.user_code);
            }
            keep
        });
    }

    /// The pending grant a user code names, for the verification page.
    pub async fn find(&self, user_code: SecretHash, now: i64) -> Result<PendingGrant, DeviceError> {
        if let Some(pg) = self.shared.get() {
            let row = pg
                .run(crate::pg::device::by_user_code(
                    pg.pool().clone(),
                    user_code,
                ))
                .await
                .map_err(unavailable)?
                .ok_or(DeviceError::Unknown)?;
            if row.status != crate::pg::device::PENDING {
                return Err(DeviceError::Decided);
            }
            if row.expires_at < now {
                return Err(DeviceError::Expired);
            }
            let request: DeviceRequest = decode(&row.payload).map_err(unavailable)?;
            let id =
                SecretHash::try_from(row.id.as_slice()).map_err(|_| DeviceError::Unavailable)?;
            return Ok(PendingGrant {
                id,
                request,
                expires_at: row.expires_at,
            });
        }
        let id = *self
            .by_user_code
            .get(&user_code)
            .ok_or(DeviceError::Unknown)?;
        let e = self.local.get(&id).ok_or(DeviceError::Unknown)?;
        if e.status != Status::Pending {
            return Err(DeviceError::Decided);
        }
        if e.expires_at < now {
            return Err(DeviceError::Expired);
        }
        Ok(PendingGrant {
            id,
            request: e.request.clone(),
            expires_at: e.expires_at,
        })
    }

    /// The user's answer: `Some` approval, or `None` to deny. Works once,
    /// on a pending grant that has not expired.
    pub async fn decide(
        &self,
        id: SecretHash,
        user_code: SecretHash,
        approval: Option<Approval>,
        now: i64,
    ) -> Result<(), DeviceError> {
        if let Some(pg) = self.shared.get() {
            let approval = match &approval {
                Some(a) => Some(encode(a).map_err(unavailable)?),
                None => None,
            };
            let done = pg
                .run(crate::pg::device::decide(
                    pg.pool().clone(),
                    id,
                    user_code,
                    approval,
                    now,
                ))
                .await
                .map_err(unavailable)?;
            if done {
                return Ok(());
            }
            // Why not: gone, decided meanwhile, or expired.
            return Err(match self.find(user_code, now).await {
                Ok(_) | Err(DeviceError::Unknown) => DeviceError::Unknown,
                Err(e) => e,
            });
        }
        let mut e = self.local.get_mut(&id).ok_or(DeviceError::Unknown)?;
        if e.user_code != user_code {
            return Err(DeviceError::Unknown);
        }
        if e.status != Status::Pending {
            return Err(DeviceError::Decided);
        }
        if e.expires_at < now {
            return Err(DeviceError::Expired);
        }
        e.status = match approval {
            Some(a) => Status::Approved(a),
            None => Status::Denied,
        };
        Ok(())
    }

    /// A poll by `client_id` with the device code hashing to `id`.
    pub async fn poll(
        &self,
        id: SecretHash,
        client_id: &str,
        now: i64,
    ) -> Result<Poll, DeviceError> {
        if let Some(pg) = self.shared.get() {
            return self.poll_shared(pg, id, client_id, now).await;
        }
        let mut e = match self.local.get_mut(&id) {
            Some(e) if e.request.client_id == client_id => e,
            _ => return Ok(Poll::Invalid),
        };
        match &e.status {
            Status::Used => return Ok(Poll::Invalid),
            // Approved in time: the tokens, even a little after the expiry.
            Status::Approved(a) => {
                let answer = Poll::Approved(e.request.clone(), a.clone());
                e.status = Status::Used;
                return Ok(answer);
            }
            Status::Denied => return Ok(Poll::Denied),
            Status::Pending => {}
        }
        if e.expires_at < now {
            return Ok(Poll::Expired);
        }
        let too_fast = e.last_poll.is_some_and(|t| now - t < e.interval);
        e.last_poll = Some(now);
        if too_fast {
            e.interval = e.interval.saturating_add(SLOW_DOWN_STEP);
            return Ok(Poll::SlowDown(e.interval));
        }
        Ok(Poll::Pending)
    }

    async fn poll_shared(
        &self,
        pg: &crate::pg::Pg,
        id: SecretHash,
        client_id: &str,
        now: i64,
    ) -> Result<Poll, DeviceError> {
        use crate::pg::device::{APPROVED, DENIED, PENDING};
        let pool = pg.pool().clone();
        let Some(row) = pg
            .run(crate::pg::device::by_id(pool.clone(), id))
            .await
            .map_err(unavailable)?
        else {
            return Ok(Poll::Invalid);
        };
        if row.client_id != client_id {
            return Ok(Poll::Invalid);
        }
        match row.status {
            APPROVED => {
                let request: DeviceRequest = decode(&row.payload).map_err(unavailable)?;
                let approval: Approval = row
                    .approval
                    .as_deref()
                    .ok_or(DeviceError::Unavailable)
                    .and_then(|a| decode(a).map_err(unavailable))?;
                // Only the poll whose update takes it gets the tokens.
                let took = pg
                    .run(crate::pg::device::take(pool, id))
                    .await
                    .map_err(unavailable)?;
                Ok(if took {
                    Poll::Approved(request, approval)
                } else {
                    Poll::Invalid
                })
            }
            DENIED => Ok(Poll::Denied),
            PENDING if row.expires_at < now => Ok(Poll::Expired),
            PENDING => {
                match pg
                    .run(crate::pg::device::polled(pool, id, now, SLOW_DOWN_STEP))
                    .await
                    .map_err(unavailable)?
                {
                    Some((before, after)) if after > before => Ok(Poll::SlowDown(after)),
                    Some(_) => Ok(Poll::Pending),
                    // Decided between the read and the update: the next
                    // poll sees the answer.
                    None => Ok(Poll::Pending),
                }
            }
            _ => Ok(Poll::Invalid),
        }
    }

    /// Grants held in memory now.
    pub fn len(&self) -> usize {
        self.local.len()
    }

    pub fn is_empty(&self) -> bool {
        self.local.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> DeviceRequest {
        DeviceRequest {
            client_id: "tv".into(),
            scope: "openid".into(),
            resources: vec![],
        }
    }

    fn approval() -> Approval {
        Approval {
            user_id: uuid::Uuid::nil(),
            auth_time: 1,
            amr: vec!["pwd".into()],
            sid: None,
        }
    }

    #[test]
    fn user_codes_use_the_alphabet_and_normalize() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(c.len(), 9);
            assert_eq!(c.as_bytes()[4], b'-');
            let n = normalize_user_code(&c).unwrap();
            assert!(n.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        }
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code(" bcdf ghjk ").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "a vowel");
        assert_eq!(normalize_user_code("BCDF-GHJ1"), None, "a digit");
    }

    #[actix_rt::test]
    async fn polls_slow_down_and_tokens_go_out_once() {
        let g = DeviceGrants::default();
        let u = user_code_hash("BCDFGHJK");
        g.start([1; 32], u, req(), 700, 5, 100).await.unwrap();
        assert_eq!(
            g.start([2; 32], u, req(), 700, 5, 100).await.unwrap_err(),
            DeviceError::Collision
        );
        assert_eq!(g.poll([1; 32], "tv", 100).await.unwrap(), Poll::Pending);
        assert_eq!(
            g.poll([1; 32], "tv", 102).await.unwrap(),
            Poll::SlowDown(10)
        );
        assert_eq!(
            g.poll([1; 32], "tv", 110).await.unwrap(),
            Poll::SlowDown(15)
        );
        assert_eq!(g.poll([1; 32], "tv", 125).await.unwrap(), Poll::Pending);
        assert_eq!(g.poll([1; 32], "other", 200).await.unwrap(), Poll::Invalid);
        let found = g.find(u, 130).await.unwrap();
        assert_eq!(found.id, [1; 32]);
        g.decide([1; 32], u, Some(approval()), 130).await.unwrap();
        assert_eq!(
            g.decide([1; 32], u, None, 131).await.unwrap_err(),
            DeviceError::Decided
        );
        assert_eq!(g.find(u, 131).await.unwrap_err(), DeviceError::Decided);
        assert_eq!(
            g.poll([1; 32], "tv", 140).await.unwrap(),
            Poll::Approved(req(), approval())
        );
        assert_eq!(g.poll([1; 32], "tv", 150).await.unwrap(), Poll::Invalid);
    }

    #[actix_rt::test]
    async fn grants_expire_and_denials_stick() {
        let g = DeviceGrants::default();
        let u = user_code_hash("BCDFGHJK");
        g.start([1; 32], u, req(), 700, 5, 100).await.unwrap();
        assert_eq!(g.find(u, 701).await.unwrap_err(), DeviceError::Expired);
        assert_eq!(
            g.decide([1; 32], u, Some(approval()), 701)
                .await
                .unwrap_err(),
            DeviceError::Expired
        );
        assert_eq!(g.poll([1; 32], "tv", 701).await.unwrap(), Poll::Expired);
        let v = user_code_hash("BCDFGHJL");
        g.start([3; 32], v, req(), 700, 5, 100).await.unwrap();
        g.decide([3; 32], v, None, 110).await.unwrap();
        assert_eq!(g.poll([3; 32], "tv", 120).await.unwrap(), Poll::Denied);
        assert_eq!(g.poll([3; 32], "tv", 121).await.unwrap(), Poll::Denied);
        // Long past the grace, a new grant clears them out.
        g.start([4; 32], user_code_hash("CCCCCCCC"), req(), 5000, 5, 4000)
            .await
            .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g.poll([1; 32], "tv", 4001).await.unwrap(), Poll::Invalid);
    }
}
