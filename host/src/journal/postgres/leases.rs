//! Leases and the scheduler's queries on PostgreSQL: who executes a run,
//! until when, and which runs are ready — the SQLite journal's semantics
//! (`sqlite/leases.rs`), with every time decided by the database's clock
//! ([`NOW_MS`]).
//!
//! A service claims ready runs with `FOR UPDATE SKIP LOCKED`
//! ([`claim_ready`]): several processes claiming at once each take
//! different runs, and none waits for a row another holds. A claim of one
//! run by id ([`claim`]) waits for a write in flight instead, as SQLite's
//! single writer would make it.

use super::client::{Db, Result};
use super::schema::NOW_MS;
use crate::journal::{Fence, Instance, Lease, ReadyRun, now_ms};
use std::time::Duration;

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

pub(super) async fn claim(
    db: Db<'_>,
    run_id: &str,
    owner: &str,
    ttl: Duration,
    take_from: Option<&str>,
) -> Result<Option<Fence>> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE runs SET lease_owner = $2, lease_expires_at = {NOW_MS} + $3,
                     lease_generation = lease_generation + 1
                 WHERE id = $1 AND status IN ('running', 'suspended')
                   AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < {NOW_MS}
                        OR lease_owner = $4)
                 RETURNING lease_generation"
            ),
            &[&run_id, &owner, &millis(ttl), &take_from],
        )
        .await?;
    Ok(row.map(|r| Fence {
        run_id: run_id.to_string(),
        generation: r.get::<_, i64>(0) as u64,
    }))
}

/// Claims up to `max` ready runs for `owner` (skipping those in `skip`),
/// earliest due first, in one statement.
pub(super) async fn claim_ready(
    db: Db<'_>,
    owner: &str,
    ttl: Duration,
    max: usize,
    skip: &[String],
) -> Result<Vec<Fence>> {
    let rows = db
        .query(
            &format!(
                "WITH due AS (
                     SELECT id FROM runs
                     WHERE ready_at IS NOT NULL AND status IN ('running', 'suspended')
                       AND GREATEST(ready_at, COALESCE(lease_expires_at, 0)) <= {NOW_MS}
                       AND (lease_owner IS NULL OR lease_expires_at < {NOW_MS})
                       AND NOT (id = ANY($4::text[]))
                     ORDER BY GREATEST(ready_at, COALESCE(lease_expires_at, 0))
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE runs r SET lease_owner = $1, lease_expires_at = {NOW_MS} + $2,
                     lease_generation = r.lease_generation + 1
                 FROM due WHERE r.id = due.id
                 RETURNING r.id, r.lease_generation"
            ),
            &[&owner, &millis(ttl), &limit(max), &skip],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Fence {
            run_id: r.get(0),
            generation: r.get::<_, i64>(1) as u64,
        })
        .collect())
}

pub(super) async fn renew(db: Db<'_>, owner: &str, ttl: Duration) -> Result<usize> {
    db.execute(
        "UPDATE instances SET seen_at = $2 WHERE id = $1",
        &[&owner, &now_ms()],
    )
    .await?;
    let n = db
        .execute(
            // The rows are locked in id order, as the writer locks them,
            // so that a renewal and a batch of writes never deadlock.
            &format!(
                "UPDATE runs SET lease_expires_at = {NOW_MS} + $2
                 WHERE lease_owner = $1 AND id IN (
                     SELECT id FROM runs WHERE lease_owner = $1 ORDER BY id FOR UPDATE)"
            ),
            &[&owner, &millis(ttl)],
        )
        .await?;
    Ok(n as usize)
}

/// Gives up the lease of `fence`'s claim; a running run becomes ready now.
pub(super) async fn release(db: Db<'_>, fence: &Fence) -> Result<()> {
    db.execute(
        &format!(
            "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
                 ready_at = CASE WHEN status = 'running' THEN {NOW_MS} ELSE ready_at END
             WHERE id = $1 AND lease_generation = $2"
        ),
        &[&fence.run_id, &(fence.generation as i64)],
    )
    .await?;
    Ok(())
}

pub(super) async fn ready_runs(db: Db<'_>, max: usize) -> Result<Vec<ReadyRun>> {
    let rows = db
        .query(
            &format!(
                "SELECT id, ready_at FROM runs
                 WHERE ready_at IS NOT NULL AND ready_at <= {NOW_MS}
                   AND status IN ('running', 'suspended')
                   AND (lease_owner IS NULL OR lease_expires_at < {NOW_MS})
                 ORDER BY ready_at LIMIT $1"
            ),
            &[&limit(max)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ReadyRun {
            id: r.get(0),
            ready_at_ms: r.get(1),
        })
        .collect())
}

pub(super) async fn lease_owners(db: Db<'_>) -> Result<Vec<String>> {
    let rows = db
        .query(
            "SELECT DISTINCT lease_owner FROM runs WHERE lease_owner IS NOT NULL",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn break_leases(db: Db<'_>, owner: &str) -> Result<usize> {
    let n = db
        .execute(
            &format!(
                "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
                     ready_at = CASE WHEN status IN ('running', 'suspended')
                                     THEN LEAST(COALESCE(ready_at, {NOW_MS}), {NOW_MS}) END
                 WHERE lease_owner = $1"
            ),
            &[&owner],
        )
        .await?;
    Ok(n as usize)
}

pub(super) async fn next_ready_in(db: Db<'_>) -> Result<Option<Duration>> {
    // A leased run is not ready before its lease expires.
    let row = db
        .query_one(
            &format!(
                "SELECT MIN(CASE WHEN lease_owner IS NULL THEN ready_at
                                 ELSE GREATEST(ready_at, lease_expires_at) END) - {NOW_MS}
                 FROM runs WHERE ready_at IS NOT NULL
                   AND status IN ('running', 'suspended')"
            ),
            &[],
        )
        .await?;
    let wait: Option<i64> = row.get(0);
    Ok(wait.map(|ms| Duration::from_millis(ms.max(0) as u64)))
}

pub(super) async fn lease(db: Db<'_>, run_id: &str) -> Result<Option<Lease>> {
    let row = db
        .query_opt(
            "SELECT lease_owner, lease_expires_at, lease_generation FROM runs WHERE id = $1",
            &[&run_id],
        )
        .await?;
    Ok(row.and_then(|r| {
        let owner: Option<String> = r.get(0);
        let expires: Option<i64> = r.get(1);
        let generation: i64 = r.get(2);
        owner.map(|owner| Lease {
            owner,
            expires_at_ms: expires.unwrap_or(0),
            generation: generation as u64,
        })
    }))
}

pub(super) async fn register_instance(db: Db<'_>, i: &Instance) -> Result<()> {
    db.execute(
        "INSERT INTO instances (id, host, pid, boot_id, pid_ns, start_time, started_at, seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (id) DO UPDATE SET seen_at = $7",
        &[
            &i.id,
            &i.host,
            &i64::from(i.pid),
            &i.boot_id,
            &i.pid_ns,
            &i.start_time,
            &now_ms(),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn instance(db: Db<'_>, id: &str) -> Result<Option<Instance>> {
    let row = db
        .query_opt(
            "SELECT id, host, pid, boot_id, pid_ns, start_time FROM instances WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| Instance {
        id: r.get(0),
        host: r.get(1),
        pid: r.get::<_, i64>(2) as u32,
        boot_id: r.get(3),
        pid_ns: r.get(4),
        start_time: r.get(5),
    }))
}
