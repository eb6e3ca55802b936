//! Leases and the scheduler's queries: who executes a run, until when, and
//! which runs are ready. These run on the journal's control connection, not
//! through the writer: a claim is answered at once, and SQLite serialises it
//! with the writer's transactions. Times are the database's clock
//! ([`SQL_NOW_MS`]), so every process agrees on when a lease expires.

use super::schema::SQL_NOW_MS;
use crate::journal::{Fence, Instance, JournalError, Lease, ReadyRun, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
use std::time::Duration;

type Result<T> = std::result::Result<T, JournalError>;

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

pub(super) fn claim(
    conn: &Connection,
    run_id: &str,
    owner: &str,
    ttl: Duration,
    take_from: Option<&str>,
) -> Result<Option<Fence>> {
    let generation: Option<i64> = conn
        .prepare_cached(&format!(
            "UPDATE runs SET lease_owner = ?2, lease_expires_at = {SQL_NOW_MS} + ?3,
                 lease_generation = lease_generation + 1
             WHERE id = ?1 AND status IN ('running', 'suspended')
               AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_expires_at < {SQL_NOW_MS}
                    OR lease_owner = ?4)
             RETURNING lease_generation"
        ))?
        .query_row(params![run_id, owner, millis(ttl), take_from], |r| r.get(0))
        .optional()?;
    Ok(generation.map(|g| Fence {
        run_id: run_id.to_string(),
        generation: g as u64,
    }))
}

pub(super) fn renew(conn: &Connection, owner: &str, ttl: Duration) -> Result<usize> {
    conn.prepare_cached("UPDATE instances SET seen_at = ?2 WHERE id = ?1")?
        .execute(params![owner, now_ms()])?;
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE runs SET lease_expires_at = {SQL_NOW_MS} + ?2 WHERE lease_owner = ?1"
        ))?
        .execute(params![owner, millis(ttl)])?)
}

/// Gives up the lease of `fence`'s claim; a running run becomes ready now.
pub(super) fn release(conn: &Connection, fence: &Fence) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
             ready_at = CASE WHEN status = 'running' THEN ?3 ELSE ready_at END
         WHERE id = ?1 AND lease_generation = ?2",
    )?
    .execute(params![fence.run_id, fence.generation as i64, now_ms()])?;
    Ok(())
}

pub(super) fn ready_runs(conn: &Connection, limit: usize) -> Result<Vec<ReadyRun>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, ready_at FROM runs
         WHERE ready_at IS NOT NULL AND ready_at <= {SQL_NOW_MS}
           AND status IN ('running', 'suspended')
           AND (lease_owner IS NULL OR lease_expires_at < {SQL_NOW_MS})
         ORDER BY ready_at LIMIT ?1"
    ))?;
    let rows = stmt
        .query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
            Ok(ReadyRun {
                id: r.get(0)?,
                ready_at_ms: r.get(1)?,
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn lease_owners(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT lease_owner FROM runs WHERE lease_owner IS NOT NULL")?;
    let owners = stmt
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    Ok(owners)
}

pub(super) fn break_leases(conn: &Connection, owner: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL,
                 ready_at = CASE WHEN status IN ('running', 'suspended')
                                 THEN MIN(COALESCE(ready_at, ?2), ?2) END
             WHERE lease_owner = ?1",
        )?
        .execute(params![owner, now_ms()])?)
}

pub(super) fn next_ready_in(conn: &Connection) -> Result<Option<Duration>> {
    // A leased run is not ready before its lease expires: without this,
    // every run being executed kept the scheduler spinning.
    let wait: Option<i64> = conn.query_row(
        &format!(
            "SELECT MIN(CASE WHEN lease_owner IS NULL THEN ready_at
                             ELSE MAX(ready_at, lease_expires_at) END) - {SQL_NOW_MS}
             FROM runs WHERE ready_at IS NOT NULL
               AND status IN ('running', 'suspended')"
        ),
        [],
        |r| r.get(0),
    )?;
    Ok(wait.map(|ms| Duration::from_millis(ms.max(0) as u64)))
}

pub(super) fn lease(conn: &Connection, run_id: &str) -> Result<Option<Lease>> {
    let row: Option<(Option<String>, Option<i64>, i64)> = conn
        .prepare_cached(
            "SELECT lease_owner, lease_expires_at, lease_generation FROM runs WHERE id = ?1",
        )?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(owner, expires, generation)| {
        owner.map(|owner| Lease {
            owner,
            expires_at_ms: expires.unwrap_or(0),
            generation: generation as u64,
        })
    }))
}

pub(super) fn register_instance(conn: &Connection, i: &Instance) -> Result<()> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO instances (id, host, pid, boot_id, pid_ns, start_time, started_at, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (id) DO UPDATE SET seen_at = ?7",
    )?
    .execute(params![
        i.id,
        i.host,
        i.pid,
        i.boot_id,
        i.pid_ns,
        i.start_time,
        now
    ])?;
    Ok(())
}

pub(super) fn instance(conn: &Connection, id: &str) -> Result<Option<Instance>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, host, pid, boot_id, pid_ns, start_time FROM instances WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Instance {
                id: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                boot_id: r.get(3)?,
                pid_ns: r.get(4)?,
                start_time: r.get(5)?,
            })
        })
        .optional()?)
}
