//! The node's loop on the database's runtime: listen for wake-ups, read
//! and apply the feed, check itself, and now and then prune the feed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use super::{Appliers, Apply, Cluster};
use crate::pg::feed::{self, Change, ACKS, CHANNEL};
use crate::pg::{conn_error, db_error};
use crate::store::StoreError;

/// Events one read takes at most.
const READ_BATCH: i64 = 2000;
/// How often a node tries to prune the feed: every 50 self-checks, at
/// least every 30 s and at most every 5 s (one node does it each time).
fn prune_every(poll: Duration) -> Duration {
    (poll * 50).clamp(Duration::from_secs(5), Duration::from_secs(30))
}
/// Rows one pruning statement deletes at most.
const PRUNE_BATCH: i64 = 10_000;
/// The lock the pruning node holds (any constant no other lock uses).
const PRUNE_LOCK: i64 = 0x7465_7373_0005;
/// Node rows silent this long are forgotten.
const FORGET_NODES_AFTER_SECS: f64 = 86_400.0;

pub(super) async fn run(c: Cluster, appliers: Appliers) {
    let pool = c.inner.pg.pool().clone();
    let mut listener: Option<PgListener> = None;
    let mut next_check = Instant::now();
    let every = prune_every(c.inner.cfg.poll_interval);
    let mut next_prune = Instant::now() + every;
    loop {
        if listener.is_none() {
            match listen(&pool).await {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was sent while no one listened is read now.
                    note_listening(&c, true);
                    next_check = Instant::now();
                }
                Err(e) => {
                    note_listening(&c, false);
                    tracing::debug!(error = %e, "cannot listen to the feed yet");
                }
            }
        }
        let now = Instant::now();
        if now >= next_check {
            next_check = now + c.inner.cfg.poll_interval;
            match self_check(&c, &pool, &appliers).await {
                Ok(()) => c.set_fresh(now),
                Err(e) => {
                    tracing::warn!(error = %e, "cluster self-check failed");
                    c.set_error(&e);
                }
            }
            publish_metrics(&c);
            if now >= next_prune {
                next_prune = now + every;
                if let Err(e) = prune(&pool, &c).await {
                    tracing::warn!(error = %e, "pruning the feed failed; it runs again later");
                }
            }
            continue;
        }
        let wait = next_check.saturating_duration_since(now);
        let Some(l) = listener.as_mut() else {
            tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
            continue;
        };
        let woke = tokio::select! {
            n = l.try_recv() => Some(n),
            _ = tokio::time::sleep(wait) => None,
        };
        let Some(n) = woke else { continue };
        let mut events = false;
        match n {
            Ok(Some(n)) => events |= wake(&c, n.channel(), n.payload()),
            Ok(None) => {
                // The connection dropped and came back: notifications in
                // between are lost, so read the table.
                note_listening(&c, true);
                events = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the feed listener failed; reconnecting");
                note_listening(&c, false);
                listener = None;
                continue;
            }
        }
        // Take every wake-up already here: one read serves them all.
        while let Some(Ok(Some(n))) = l.try_recv().now_or_never() {
            events |= wake(&c, n.channel(), n.payload());
        }
        if events && c.inner.seen.load(Ordering::Acquire) > c.applied() {
            if let Err(e) = catch_up(&c, &pool, &appliers).await {
                tracing::warn!(error = %e, "reading the feed failed; retrying at the next check");
                c.set_error(&e);
            }
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen_all([CHANNEL, ACKS]).await?;
    Ok(l)
}

/// Note the listener's connection coming up (after the first time, a
/// reconnect: wake-ups sent meanwhile are lost, so the table is read at
/// the next chance) or going down.
fn note_listening(c: &Cluster, up: bool) {
    c.inner.listening.store(up, Ordering::Release);
    if up {
        if c.inner.reconnects.fetch_add(1, Ordering::AcqRel) > 0 {
            metrics::counter!("tessera_cluster_feed_reconnects_total").increment(1);
        }
        c.inner.seen.store(i64::MAX, Ordering::Release);
    }
}

/// Note a wake-up; answers whether it names events to read.
fn wake(c: &Cluster, channel: &str, payload: &str) -> bool {
    if channel == ACKS {
        c.inner.peers.ack(payload);
        return false;
    }
    if let Ok(seq) = payload.parse::<i64>() {
        c.inner.seen.fetch_max(seq, Ordering::AcqRel);
    }
    true
}

/// Heartbeat first, then read the feed to its end: the order the safety
/// argument (module docs of `cluster`) rests on.
async fn self_check(c: &Cluster, pool: &PgPool, appliers: &Appliers) -> Result<(), StoreError> {
    let ready = c.serving();
    sqlx::query(
        "INSERT INTO nodes (node_id, origin, applied_seq, heartbeat_at, started_at, ready) \
         VALUES ($1, $2, $3, now(), now(), $4) \
         ON CONFLICT (node_id) DO UPDATE SET applied_seq = EXCLUDED.applied_seq, \
           heartbeat_at = now(), ready = EXCLUDED.ready, \
           started_at = CASE WHEN nodes.origin = EXCLUDED.origin \
                        THEN nodes.started_at ELSE now() END, \
           origin = EXCLUDED.origin",
    )
    .bind(c.node_id())
    .bind(c.inner.origin)
    .bind(c.applied())
    .bind(ready)
    .execute(pool)
    .await
    .map_err(db_error)?;
    catch_up(c, pool, appliers).await?;
    c.inner.peers.want_read();
    Ok(())
}

/// Read and apply every event after this node's position, in order.
async fn catch_up(c: &Cluster, pool: &PgPool, appliers: &Appliers) -> Result<(), StoreError> {
    let before = c.applied();
    let mut conn = pool.acquire().await.map_err(conn_error)?;
    loop {
        let after = c.applied();
        let batch = feed::read(&mut conn, after, READ_BATCH).await?;
        metrics::counter!("tessera_cluster_catchup_reads_total").increment(1);
        if batch.horizon > after {
            let why = format!(
                "this node applied the feed up to {after}, but it was pruned up to {}: \
                 restart the node to load a fresh snapshot",
                batch.horizon
            );
            tracing::error!("{why}");
            c.doom(why.clone());
            return Err(StoreError::Unavailable(why));
        }
        let Some(last) = batch.last else { break };
        let n = batch.events.len() + batch.others.len();
        for o in &batch.others {
            if o.origin == c.inner.origin {
                continue;
            }
            match appliers.sinks.iter().find(|(name, _)| *name == o.table) {
                Some((_, sink)) => sink(&o.id, o.payload.as_deref()),
                None => tracing::warn!(table = %o.table, "event for an unknown table skipped"),
            }
        }
        let foreign = apply(c, appliers, batch.events).await?;
        c.inner.applied.fetch_max(last, Ordering::AcqRel);
        c.inner.seen.fetch_max(last, Ordering::AcqRel);
        if foreign {
            if let Some(at) = batch.last_committed_at {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                metrics::histogram!("tessera_cluster_apply_delay_seconds")
                    .record((now - at).max(0.0));
            }
        }
        if (n as i64) < READ_BATCH {
            break;
        }
    }
    // Caught up to what this read saw: nothing newer was named before it.
    let applied = c.applied();
    c.inner.seen.store(applied, Ordering::Release);
    if applied > before && c.strict() {
        // Strict waiters on other nodes learn it now, not at the next
        // heartbeat. (An eventual cluster has no waiters: its nodes save
        // the round trip, and every node's wake-up.)
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ACKS)
            .bind(format!("{} {applied}", c.node_id()))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    metrics::gauge!("tessera_cluster_applied_seq").set(applied as f64);
    Ok(())
}

/// Hand each owner its part of `events` (other nodes' only) and wait until
/// all have applied them. Answers whether there was any.
async fn apply(
    c: &Cluster,
    appliers: &Appliers,
    events: Vec<feed::Event>,
) -> Result<bool, StoreError> {
    let mut parts: Vec<Vec<Change>> = vec![Vec::new(); appliers.owners.len()];
    let mut any = false;
    for e in events {
        if e.origin == c.inner.origin {
            continue;
        }
        any = true;
        if let Some(i) = appliers
            .owners
            .iter()
            .position(|(tables, _)| tables.contains(&e.change.table))
        {
            if let Some(p) = parts.get_mut(i) {
                p.push(e.change);
            }
        }
    }
    let sends: Vec<_> = parts
        .into_iter()
        .zip(appliers.owners.iter())
        .filter(|(p, _)| !p.is_empty())
        .map(|(p, (_, to))| to.send(Apply(p)))
        .collect();
    for r in futures_util::future::join_all(sends).await {
        r.map_err(|e| StoreError::Unavailable(format!("an owner could not apply the feed: {e}")))?;
    }
    Ok(any)
}

fn publish_metrics(c: &Cluster) {
    let applied = c.applied();
    metrics::gauge!("tessera_cluster_applied_seq").set(applied as f64);
    let seen = c.inner.seen.load(Ordering::Acquire);
    let behind = if seen == i64::MAX {
        0
    } else {
        (seen - applied).max(0)
    };
    metrics::gauge!("tessera_cluster_lag_events").set(behind as f64);
    metrics::gauge!("tessera_cluster_lag_seconds")
        .set(c.staleness().map_or(-1.0, |d| d.as_secs_f64()));
    metrics::gauge!("tessera_cluster_ready").set(if c.serving() { 1.0 } else { 0.0 });
    metrics::gauge!("tessera_cluster_uptime_seconds").set(c.inner.started.elapsed().as_secs_f64());
}

/// One node at a time: delete events every live node has applied that are
/// older than the retention, recording the horizon first.
async fn prune(pool: &PgPool, c: &Cluster) -> Result<(), StoreError> {
    let timeout = c.inner.cfg.node_timeout.as_secs_f64();
    let retention = c.inner.cfg.event_retention.as_secs_f64();
    let mut tx = pool.begin().await.map_err(conn_error)?;
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(PRUNE_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
    if !ours {
        return Ok(());
    }
    // Both bounds hold: LEAST alone would skip a NULL (nothing old enough
    // yet) and prune by the live nodes only.
    let upto: Option<i64> = sqlx::query_scalar(
        "SELECT CASE WHEN old.seq IS NULL THEN NULL \
                     ELSE LEAST(COALESCE(live.seq, old.seq), old.seq) END \
         FROM (SELECT min(applied_seq) AS seq FROM nodes \
                WHERE heartbeat_at > now() - make_interval(secs => $1)) live, \
              (SELECT max(seq) AS seq FROM events \
                WHERE committed_at < now() - make_interval(secs => $2)) old",
    )
    .bind(timeout)
    .bind(retention)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM nodes WHERE heartbeat_at < now() - make_interval(secs => $1)")
        .bind(FORGET_NODES_AFTER_SECS)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let Some(upto) = upto else {
        tx.commit().await.map_err(db_error)?;
        return Ok(());
    };
    // The horizon moves in the same transaction as the first deletion: a
    // reader never finds events gone without finding the horizon moved.
    sqlx::query("UPDATE feed_horizon SET pruned_through = GREATEST(pruned_through, $1)")
        .bind(upto)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    let mut total = delete_upto(&mut tx, upto).await?;
    tx.commit().await.map_err(db_error)?;
    let mut last = total;
    while last == PRUNE_BATCH as u64 {
        let mut conn = pool.acquire().await.map_err(conn_error)?;
        last = delete_upto(&mut conn, upto).await?;
        total += last;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if total > 0 {
        metrics::counter!("tessera_cluster_events_pruned_total").increment(total);
        tracing::debug!(events = total, upto, "feed pruned");
    }
    Ok(())
}

async fn delete_upto(conn: &mut sqlx::PgConnection, upto: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= $1 LIMIT $2)",
    )
    .bind(upto)
    .bind(PRUNE_BATCH)
    .execute(conn)
    .await
    .map_err(db_error)?
    .rows_affected())
}
