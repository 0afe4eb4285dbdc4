//! Authorization requests a client pushed (RFC 9126) or signed (RFC 9101),
//! kept until a browser brings them to the authorization endpoint.
//!
//! A request is stored by the hash of its `request_uri`'s secret part and
//! lives briefly (at most 60 s) until a browser first brings it. That
//! browser then owns it: the request is bound to the hash of the
//! browser's binding cookie, lives as long as a login may take, and
//! answers no other browser. It is gone once the authorization ends (a
//! code or an error sent to the client). On one node the requests are in
//! memory (a restart only means the client pushes again); the nodes of a
//! cluster share them through the database, since the browser may reach
//! another node than the client did.

use std::sync::OnceLock;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::secret::SecretHash;
use crate::store::{decode, encode};

/// Most requests held in memory at once; more are refused until some
/// are used or expire.
pub const MAX_PUSHED: usize = 50_000;

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: String,
    /// The request's parameters, as the authorization endpoint reads them.
    pub pairs: Vec<(String, String)>,
    #[serde(skip)]
    pub expires_at: i64,
    #[serde(skip)]
    pub binding: Option<SecretHash>,
    /// When a browser first opened it (0 until then).
    #[serde(skip)]
    pub opened_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushedError {
    #[error("the request_uri is unknown, used or expired")]
    Unknown,
    #[error("the request_uri was opened by another browser")]
    WrongBrowser,
    #[error("too many pushed requests are waiting; try again later")]
    Busy,
    #[error("the pushed request could not be stored or read; try again")]
    Unavailable,
}

#[derive(Default)]
pub struct PushedRequests {
    local: DashMap<SecretHash, PushedRequest>,
    shared: OnceLock<crate::pg::Pg>,
}

fn unavailable(e: crate::store::StoreError) -> PushedError {
    tracing::warn!(error = %e, "a pushed authorization request could not be stored or read");
    PushedError::Unavailable
}

impl PushedRequests {
    /// Keep the requests in the cluster's database.
    pub fn share(&self, pg: &crate::pg::Pg) {
        let _ = self.shared.set(pg.clone());
    }

    pub async fn put(
        &self,
        id: SecretHash,
        req: PushedRequest,
        now: i64,
    ) -> Result<(), PushedError> {
        if let Some(pg) = self.shared.get() {
            let payload = encode(&req).map_err(unavailable)?;
            return pg
                .run(crate::pg::pushed::put(
                    pg.pool().clone(),
                    id,
                    req.expires_at,
                    payload,
                ))
                .await
                .map_err(unavailable);
        }
        if self.local.len() >= MAX_PUSHED {
            self.local.retain(|_, r| r.expires_at >= now);
            if self.local.len() >= MAX_PUSHED {
                return Err(PushedError::Busy);
            }
        }
        self.local.insert(id, req);
        Ok(())
    }

    /// The request, for the browser whose binding cookie hashes to
    /// `binding`: the first browser to bring it takes it, for `until`.
    pub async fn open(
        &self,
        id: SecretHash,
        binding: SecretHash,
        until: i64,
        now: i64,
    ) -> Result<PushedRequest, PushedError> {
        let Some(pg) = self.shared.get() else {
            let mut e = self.local.get_mut(&id).ok_or(PushedError::Unknown)?;
            if e.expires_at < now {
                drop(e);
                self.local.remove(&id);
                return Err(PushedError::Unknown);
            }
            return match e.binding {
                None => {
                    e.binding = Some(binding);
                    e.expires_at = until;
                    e.opened_at = now;
                    Ok(e.clone())
                }
                Some(b) if b == binding => Ok(e.clone()),
                Some(_) => Err(PushedError::WrongBrowser),
            };
        };
        let pool = pg.pool().clone();
        let read = || async {
            pg.run(crate::pg::pushed::get(pool.clone(), id))
                .await
                .map_err(unavailable)?
                .filter(|(exp, _, _)| *exp >= now)
                .ok_or(PushedError::Unknown)
        };
        let (exp, bound, payload) = read().await?;
        let bound = match bound {
            Some(b) => Some(b),
            None => {
                let took = pg
                    .run(crate::pg::pushed::bind(
                        pool.clone(),
                        id,
                        binding,
                        until,
                        now,
                    ))
                    .await
                    .map_err(unavailable)?;
                if took {
                    None
                } else {
                    // Another browser (or this one, twice) bound it just now.
                    read().await?.1
                }
            }
        };
        if let Some(b) = &bound {
            if b.as_slice() != binding.as_slice() {
                return Err(PushedError::WrongBrowser);
            }
        }
        let mut req: PushedRequest = decode(&payload).map_err(unavailable)?;
        req.expires_at = if bound.is_none() { until } else { exp };
        // Bound with the expiry `until` = opened + the same window.
        req.opened_at = req.expires_at.saturating_sub(until.saturating_sub(now));
        req.binding = Some(binding);
        Ok(req)
    }

    /// Remove the request once its authorization ended; `false` when it
    /// was already gone (another tab used it first).
    pub async fn take(&self, id: SecretHash) -> Result<bool, PushedError> {
        match self.shared.get() {
            Some(pg) => pg
                .run(crate::pg::pushed::take(pg.pool().clone(), id))
                .await
                .map_err(unavailable),
            None => Ok(self.local.remove(&id).is_some()),
        }
    }

    /// Requests held in memory now.
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

    fn req(exp: i64) -> PushedRequest {
        PushedRequest {
            client_id: "c".into(),
            pairs: vec![("scope".into(), "openid".into())],
            expires_at: exp,
            binding: None,
            opened_at: 0,
        }
    }

    #[actix_rt::test]
    async fn the_first_browser_takes_a_request_and_no_other_may() {
        let p = PushedRequests::default();
        p.put([1; 32], req(160), 100).await.unwrap();
        let got = p.open([1; 32], [7; 32], 700, 110).await.unwrap();
        assert_eq!(got.pairs, req(0).pairs);
        // The same browser again (a reload, the way back from the login).
        assert!(p.open([1; 32], [7; 32], 900, 600).await.is_ok());
        assert_eq!(
            p.open([1; 32], [8; 32], 700, 120).await.unwrap_err(),
            PushedError::WrongBrowser
        );
        assert!(p.take([1; 32]).await.unwrap());
        assert!(!p.take([1; 32]).await.unwrap());
        assert_eq!(
            p.open([1; 32], [7; 32], 700, 130).await.unwrap_err(),
            PushedError::Unknown
        );
    }

    #[actix_rt::test]
    async fn an_unopened_request_expires() {
        let p = PushedRequests::default();
        p.put([2; 32], req(160), 100).await.unwrap();
        assert_eq!(
            p.open([2; 32], [7; 32], 800, 161).await.unwrap_err(),
            PushedError::Unknown
        );
        assert!(p.is_empty());
    }
}
