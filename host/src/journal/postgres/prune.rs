//! Retention on PostgreSQL: deleting old runs a few hundred per
//! transaction, then the blobs no entry refers to and the components no
//! run is pinned to — what `sqlite/prune.rs` does.
//!
//! Blobs are shared between runs, so the sweep locks the `blobs` table
//! against writers (`SHARE ROW EXCLUSIVE`: reads go on) before it reads the
//! remaining references: a writer of any process that is about to refer to
//! a blob has inserted it (`ON CONFLICT DO NOTHING` locks the table too),
//! so the sweep waits for its commit and then sees its entry.

use super::client::{Db, Result, text, text_opt};
use super::schema::NOW_MS;
use crate::journal::{PruneReport, PruneRequest, RunStatus, blobs};
use std::collections::HashSet;

/// Runs deleted per transaction.
const CHUNK: usize = 200;

pub(super) async fn prune(db: Db<'_>, request: &PruneRequest) -> Result<PruneReport> {
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
    // Never a run another process executes right now.
    let ids: Vec<String> = db
        .query(
            &format!(
                "SELECT id FROM runs
                 WHERE updated_at < $1 AND status = ANY($2::text[])
                   AND (lease_owner IS NULL OR lease_expires_at < {NOW_MS})"
            ),
            &[&request.updated_before_ms, &statuses],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    report.runs = ids.len() as u64;
    for chunk in ids.chunks(CHUNK) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        in_transaction(db, async {
            let n: i64 = db
                .query_one(
                    "SELECT COUNT(*) FROM entries WHERE run_id = ANY($1::text[])",
                    &[&chunk],
                )
                .await?
                .get(0);
            report.entries += n as u64;
            if !request.dry_run {
                db.execute(
                    "DELETE FROM entries WHERE run_id = ANY($1::text[])",
                    &[&chunk],
                )
                .await?;
                db.execute("DELETE FROM runs WHERE id = ANY($1::text[])", &[&chunk])
                    .await?;
            }
            Ok(())
        })
        .await?;
    }
    in_transaction(db, sweep(db, request, &ids, &mut report)).await?;
    Ok(report)
}

/// Runs `work` between BEGIN and COMMIT (ROLLBACK if it fails).
async fn in_transaction(db: Db<'_>, work: impl Future<Output = Result<()>>) -> Result<()> {
    db.batch("BEGIN").await?;
    let result = work.await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = db.batch(end).await;
    result?;
    Ok(ended?)
}

/// Deletes (or counts) the blobs and components nothing refers to any more.
async fn sweep(
    db: Db<'_>,
    request: &PruneRequest,
    deleted_runs: &[String],
    report: &mut PruneReport,
) -> Result<()> {
    db.batch("LOCK TABLE blobs IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    // With a dry run the runs are still there: leave their references out.
    let gone: Vec<&str> = if request.dry_run {
        deleted_runs.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    let rows = db
        .query(
            "SELECT request, response, packed FROM entries
             WHERE packed != 0 AND NOT (run_id = ANY($1::text[]))",
            &[&gone],
        )
        .await?;
    let mut live: HashSet<String> = HashSet::new();
    for row in &rows {
        let packed: i32 = row.get(2);
        let request_text = text(row, 0)?;
        let response_text = text_opt(row, 1)?.unwrap_or_default();
        let texts = [
            (packed & 1 != 0).then_some(request_text.as_str()),
            (packed & 2 != 0).then_some(response_text.as_str()),
        ];
        for text in texts.into_iter().flatten() {
            live.extend(blobs::references(text).map(str::to_string));
        }
    }
    let live: Vec<String> = live.into_iter().collect();
    let row = db
        .query_one(
            "SELECT COUNT(*), COALESCE(SUM(size), 0)::bigint FROM blobs
             WHERE NOT (digest = ANY($1::text[]))",
            &[&live],
        )
        .await?;
    (report.blobs, report.blob_bytes) = (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
    let unused_components = "FROM components WHERE created_at < $1
         AND digest NOT IN (SELECT component_digest FROM runs WHERE NOT (id = ANY($2::text[])))";
    let row = db
        .query_one(
            &format!("SELECT COUNT(*), COALESCE(SUM(size), 0)::bigint {unused_components}"),
            &[&request.updated_before_ms, &gone],
        )
        .await?;
    (report.components, report.component_bytes) =
        (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
    if !request.dry_run {
        db.execute(
            "DELETE FROM blobs WHERE NOT (digest = ANY($1::text[]))",
            &[&live],
        )
        .await?;
        db.execute(
            &format!("DELETE {unused_components}"),
            &[&request.updated_before_ms, &gone],
        )
        .await?;
    }
    Ok(())
}
