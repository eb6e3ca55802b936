//! Retention: deleting old runs, then the blobs no entry refers to and the
//! components no run is pinned to.
//!
//! Runs are deleted a few hundred at a time, each batch its own write
//! transaction, so a big prune never holds the journal's write lock for
//! long. Blobs are shared between runs (content-addressed), so the sweep
//! that deletes unreferenced ones reads every remaining reference inside
//! the same write transaction as its delete: a run that starts referring
//! to a blob meanwhile cannot lose it.

use super::super::blobs;
use crate::journal::{JournalError, PruneReport, PruneRequest, RunStatus};
use rusqlite::{Connection, params};

type Result<T> = std::result::Result<T, JournalError>;

/// Runs deleted per transaction.
const CHUNK: usize = 200;

pub(super) fn prune(conn: &mut Connection, request: &PruneRequest) -> Result<PruneReport> {
    let unfinished = [
        RunStatus::Running,
        RunStatus::Suspended,
        RunStatus::Uncertain,
    ];
    let statuses: Vec<&str> = request
        .statuses
        .iter()
        .filter(|s| request.force || !unfinished.contains(s))
        .map(|s| s.as_str())
        .collect();
    let mut report = PruneReport::default();
    if statuses.is_empty() {
        return Ok(report);
    }
    let status_list = serde_json::to_string(&statuses).expect("strings serialise");
    // Never a run another process executes right now.
    let ids: Vec<String> = conn
        .prepare(
            "SELECT id FROM runs
             WHERE updated_at < ?1 AND status IN (SELECT value FROM json_each(?2))
               AND (lease_owner IS NULL OR lease_expires_at < ?3)",
        )?
        .query_map(
            params![
                request.updated_before_ms,
                status_list,
                crate::journal::now_ms()
            ],
            |r| r.get(0),
        )?
        .collect::<std::result::Result<_, _>>()?;
    report.runs = ids.len() as u64;
    for chunk in ids.chunks(CHUNK) {
        let list = serde_json::to_string(chunk).expect("strings serialise");
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        report.entries += tx.query_row(
            "SELECT COUNT(*) FROM entries WHERE run_id IN (SELECT value FROM json_each(?1))",
            [&list],
            |r| r.get::<_, i64>(0),
        )? as u64;
        if !request.dry_run {
            tx.execute(
                "DELETE FROM entries WHERE run_id IN (SELECT value FROM json_each(?1))",
                [&list],
            )?;
            tx.execute(
                "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?1))",
                [&list],
            )?;
        }
        tx.commit()?;
    }
    sweep(conn, request, &ids, &mut report)?;
    Ok(report)
}

/// Deletes (or counts) the blobs and components nothing refers to any more.
fn sweep(
    conn: &mut Connection,
    request: &PruneRequest,
    deleted_runs: &[String],
    report: &mut PruneReport,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS live_blobs (digest TEXT PRIMARY KEY) WITHOUT ROWID;
         DELETE FROM live_blobs;
         CREATE TEMP TABLE IF NOT EXISTS gone_runs (id TEXT PRIMARY KEY) WITHOUT ROWID;
         DELETE FROM gone_runs;",
    )?;
    if request.dry_run {
        let mut insert = tx.prepare("INSERT OR IGNORE INTO gone_runs (id) VALUES (?1)")?;
        for id in deleted_runs {
            insert.execute([id])?;
        }
    }
    {
        let mut scan = tx.prepare(
            "SELECT request, response, packed FROM entries
             WHERE packed != 0 AND run_id NOT IN (SELECT id FROM gone_runs)",
        )?;
        let mut insert = tx.prepare("INSERT OR IGNORE INTO live_blobs (digest) VALUES (?1)")?;
        let mut rows = scan.query([])?;
        while let Some(row) = rows.next()? {
            let packed: i64 = row.get(2)?;
            let request: String = row.get(0)?;
            let response: Option<String> = row.get(1)?;
            let texts = [
                (packed & 1 != 0).then_some(request.as_str()),
                (packed & 2 != 0).then_some(response.as_deref().unwrap_or("")),
            ];
            for text in texts.into_iter().flatten() {
                for digest in blobs::references(text) {
                    insert.execute([digest])?;
                }
            }
        }
    }
    let (count, bytes): (i64, i64) = tx.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs
         WHERE digest NOT IN (SELECT digest FROM live_blobs)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    (report.blobs, report.blob_bytes) = (count as u64, bytes as u64);
    let unused_components = "FROM components WHERE created_at < ?1
         AND digest NOT IN (SELECT component_digest FROM runs WHERE id NOT IN (SELECT id FROM gone_runs))";
    let (count, bytes): (i64, i64) = tx.query_row(
        &format!("SELECT COUNT(*), COALESCE(SUM(size), 0) {unused_components}"),
        [request.updated_before_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    (report.components, report.component_bytes) = (count as u64, bytes as u64);
    if !request.dry_run {
        tx.execute(
            "DELETE FROM blobs WHERE digest NOT IN (SELECT digest FROM live_blobs)",
            [],
        )?;
        tx.execute(
            &format!("DELETE {unused_components}"),
            [request.updated_before_ms],
        )?;
    }
    tx.execute_batch("DELETE FROM live_blobs; DELETE FROM gone_runs;")?;
    tx.commit()?;
    Ok(())
}
