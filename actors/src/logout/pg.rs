//! The back-channel logout queue over PostgreSQL (`logout_deliveries`,
//! migration 8). Each write is its own committed statement: an enqueue is
//! durable when it returns. The typed columns beside the payload are what
//! SQL decides on: the per-client order (`client_id`, `seq`), dead letters
//! (`dead`) and an attempt's lease (`lease_until`).

use crate::pg::{db_error, Pg};
use crate::store::{decode, encode, StoreError};
use crate::stores::Durable;

use super::storage::{Claim, LogoutStore};
use super::{Delivery, DeliveryState};

pub struct PgLogoutStore(Pg);

impl PgLogoutStore {
    pub fn new(pg: &Pg) -> Self {
        PgLogoutStore(pg.clone())
    }
}

/// A row's columns: id, client_id, seq, dead, payload.
type Row = (Vec<u8>, String, i64, bool, Vec<u8>);

fn row(d: &Delivery) -> Result<Row, StoreError> {
    Ok((
        d.id.as_bytes().to_vec(),
        d.client_id.clone(),
        d.seq,
        d.state == DeliveryState::Dead,
        encode(d)?,
    ))
}

impl LogoutStore for PgLogoutStore {
    fn load_all(&self) -> Result<Vec<Delivery>, StoreError> {
        let pool = self.0.pool().clone();
        let rows: Vec<Vec<u8>> = self.0.block(async move {
            sqlx::query_scalar("SELECT payload FROM logout_deliveries ORDER BY client_id, seq, id")
                .fetch_all(&pool)
                .await
                .map_err(db_error)
        })?;
        rows.iter().map(|v| decode(v)).collect()
    }

    fn add(&self, ds: &[Delivery]) -> Result<(), StoreError> {
        if ds.is_empty() {
            return Ok(());
        }
        let rows = ds.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        let pool = self.0.pool().clone();
        self.0.block(async move {
            let mut tx = pool.begin().await.map_err(crate::pg::conn_error)?;
            for (id, client, seq, dead, payload) in rows {
                sqlx::query(
                    "INSERT INTO logout_deliveries (id, client_id, seq, dead, payload) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(client)
                .bind(seq)
                .bind(dead)
                .bind(payload)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        })
    }

    /// Writing a delivery again clears its lease.
    fn put(&self, d: &Delivery) -> Result<(), StoreError> {
        let (id, client, seq, dead, payload) = row(d)?;
        let pool = self.0.pool().clone();
        self.0.block(async move {
            sqlx::query(
                "INSERT INTO logout_deliveries (id, client_id, seq, dead, payload) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                 dead = EXCLUDED.dead, payload = EXCLUDED.payload, lease_until = NULL",
            )
            .bind(id)
            .bind(client)
            .bind(seq)
            .bind(dead)
            .bind(payload)
            .execute(&pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    fn delete(&self, id: &uuid::Uuid) -> Result<(), StoreError> {
        let pool = self.0.pool().clone();
        let id = id.as_bytes().to_vec();
        self.0.block(async move {
            sqlx::query("DELETE FROM logout_deliveries WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn durable(&self) -> Durable {
        // Every write above is committed before it returns.
        Box::pin(std::future::ready(Ok(())))
    }

    fn shared(&self) -> bool {
        self.0.origin().is_some()
    }

    /// `FOR UPDATE SKIP LOCKED`: a process claiming the same row at the same
    /// moment skips it instead of waiting. A row waits while an older
    /// delivery to the same client is still queued, whoever holds it.
    fn claim(&self, d: &Delivery, now: i64, until: i64) -> Result<Claim, StoreError> {
        // A server alone owns its queue: a lease left by its own previous
        // life (killed mid-attempt) must not hold a delivery back.
        if !self.shared() {
            return Ok(Claim::Won);
        }
        let pool = self.0.pool().clone();
        let id = d.id.as_bytes().to_vec();
        self.0.block(async move {
            let won = sqlx::query(
                "UPDATE logout_deliveries SET lease_until = $2 WHERE id = \
                 (SELECT d.id FROM logout_deliveries d WHERE d.id = $1 AND NOT d.dead \
                  AND (d.lease_until IS NULL OR d.lease_until <= $3) \
                  AND NOT EXISTS (SELECT 1 FROM logout_deliveries o \
                      WHERE o.client_id = d.client_id AND NOT o.dead \
                      AND (o.seq, o.id) < (d.seq, d.id)) \
                  FOR UPDATE SKIP LOCKED)",
            )
            .bind(id.as_slice())
            .bind(until)
            .bind(now)
            .execute(&pool)
            .await
            .map_err(db_error)?
            .rows_affected();
            if won == 1 {
                return Ok(Claim::Won);
            }
            let lease: Option<(Option<i64>, bool)> =
                sqlx::query_as("SELECT lease_until, dead FROM logout_deliveries WHERE id = $1")
                    .bind(id.as_slice())
                    .fetch_optional(&pool)
                    .await
                    .map_err(db_error)?;
            Ok(match lease {
                None | Some((_, true)) => Claim::Gone,
                Some((l, false)) => Claim::Leased(l.unwrap_or(now).max(now + 1)),
            })
        })
    }
}
