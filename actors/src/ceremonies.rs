//! WebAuthn ceremony state, kept between a ceremony's two requests (the
//! options sent to the browser, then its signed answer).
//!
//! Each ceremony is stored under the SHA-256 of a random handle that only
//! the browser holds, lives briefly, and is taken once: a second finish
//! with the same handle (a replay, or a race of two tabs) finds nothing.
//! On one node ceremonies are in memory. With PostgreSQL they are rows of
//! the short-lived `pushed_requests` table (ids there are hashes of random
//! secrets, so the two kinds never meet; the database sweeps expired rows
//! of both), so that any node behind a balancer can finish what another
//! started.

use std::sync::OnceLock;

use dashmap::DashMap;
use sqlx::PgPool;

use crate::pg::db_error;
use crate::secret::{self, SecretHash};
use crate::store::StoreError;

/// Most ceremonies held in memory at once; more are refused until some
/// finish or expire.
pub const MAX_CEREMONIES: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    #[error("the passkey request is unknown, used or expired; start again")]
    Unknown,
    #[error("too many passkey requests are waiting; try again later")]
    Busy,
    #[error("the passkey request could not be stored or read; try again")]
    Unavailable,
}

fn unavailable(e: StoreError) -> CeremonyError {
    tracing::warn!(error = %e, "a passkey ceremony could not be stored or read");
    CeremonyError::Unavailable
}

#[derive(Default)]
pub struct Ceremonies {
    local: DashMap<SecretHash, (i64, Vec<u8>)>,
    shared: OnceLock<crate::pg::Pg>,
}

/// The storage key of a ceremony handle. Domain-separated from every other
/// hash kept in the same table.
fn key(handle: &str) -> SecretHash {
    let mut input = b"tessera-webauthn-ceremony ".to_vec();
    input.extend_from_slice(handle.as_bytes());
    secret::sha256(&input)
}

impl Ceremonies {
    /// Keep ceremonies in the database, for every node to see.
    pub fn share(&self, pg: &crate::pg::Pg) {
        let _ = self.shared.set(pg.clone());
    }

    /// Store `payload` until `expires_at`; answers the handle the browser
    /// brings back.
    pub async fn put(
        &self,
        payload: Vec<u8>,
        expires_at: i64,
        now: i64,
    ) -> Result<String, CeremonyError> {
        let handle = secret::b64url(&secret::random_bytes::<32>());
        let id = key(&handle);
        if let Some(pg) = self.shared.get() {
            pg.run(put(pg.pool().clone(), id, expires_at, payload))
                .await
                .map_err(unavailable)?;
            return Ok(handle);
        }
        if self.local.len() >= MAX_CEREMONIES {
            self.local.retain(|_, (exp, _)| *exp >= now);
            if self.local.len() >= MAX_CEREMONIES {
                return Err(CeremonyError::Busy);
            }
        }
        self.local.insert(id, (expires_at, payload));
        Ok(handle)
    }

    /// Take the ceremony of `handle`: it is gone afterwards, whether or
    /// not it had expired.
    pub async fn take(&self, handle: &str, now: i64) -> Result<Vec<u8>, CeremonyError> {
        if handle.is_empty() || handle.len() > 128 {
            return Err(CeremonyError::Unknown);
        }
        let id = key(handle);
        let found = match self.shared.get() {
            Some(pg) => pg
                .run(take(pg.pool().clone(), id))
                .await
                .map_err(unavailable)?,
            None => self.local.remove(&id).map(|(_, v)| v),
        };
        match found {
            Some((exp, payload)) if exp >= now => Ok(payload),
            _ => Err(CeremonyError::Unknown),
        }
    }

    /// Ceremonies held in memory now.
    pub fn len(&self) -> usize {
        self.local.len()
    }

    pub fn is_empty(&self) -> bool {
        self.local.is_empty()
    }
}

async fn put(
    pool: PgPool,
    id: SecretHash,
    expires_at: i64,
    payload: Vec<u8>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO pushed_requests (id, expires_at, payload) VALUES ($1, $2, $3)")
        .bind(id.as_slice())
        .bind(expires_at)
        .bind(payload)
        .execute(&pool)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Delete the row and answer what it held: of two takers, one gets it.
async fn take(pool: PgPool, id: SecretHash) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    sqlx::query_as("DELETE FROM pushed_requests WHERE id = $1 RETURNING expires_at, payload")
        .bind(id.as_slice())
        .fetch_optional(&pool)
        .await
        .map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_ceremony_is_taken_once() {
        let c = Ceremonies::default();
        let h = c.put(b"state".to_vec(), 200, 100).await.unwrap();
        assert_eq!(c.take(&h, 150).await.unwrap(), b"state");
        assert_eq!(c.take(&h, 150).await.unwrap_err(), CeremonyError::Unknown);
        assert!(c.is_empty());
    }

    #[actix_rt::test]
    async fn an_expired_ceremony_is_unknown_and_gone() {
        let c = Ceremonies::default();
        let h = c.put(b"state".to_vec(), 200, 100).await.unwrap();
        assert_eq!(c.take(&h, 201).await.unwrap_err(), CeremonyError::Unknown);
        assert!(c.is_empty());
        assert_eq!(
            c.take("no-such-handle", 100).await.unwrap_err(),
            CeremonyError::Unknown
        );
        assert_eq!(c.take("", 100).await.unwrap_err(), CeremonyError::Unknown);
    }
}
