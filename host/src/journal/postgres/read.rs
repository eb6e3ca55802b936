//! Reading runs, entries and components from PostgreSQL, on the journal's
//! reader connections. The rows become the journal's types in `rows.rs`,
//! as the SQLite journal's do.

use super::client::{Db, Result, text, text_opt};
use crate::journal::rows::{EntryRow, RunRow, finish_entries};
use crate::journal::{Entry, JournalError, ModelUsage, RunQuery, RunRecord, RunStatus, RunSummary};
use std::collections::HashMap;
use tokio_postgres::Row;

const RUN_COLUMNS: &str = "id, agent, component_digest, input, status, output, error, config_path, created_at, updated_at, policy, parent_id";

const ENTRY_COLUMNS: &str = "seq, kind, name, request_digest, request, response, state, started_at, finished_at, input_tokens, output_tokens, resolution, packed, attempts";

fn run_row(row: &Row) -> Result<RunRow> {
    Ok(RunRow {
        record: RunRecord {
            id: row.try_get(0)?,
            agent: row.try_get(1)?,
            component_digest: row.try_get(2)?,
            input: text(row, 3)?,
            status: RunStatus::Running,
            output: text_opt(row, 5)?,
            error: text_opt(row, 6)?,
            config_path: row.try_get(7)?,
            created_at_ms: row.try_get(8)?,
            updated_at_ms: row.try_get(9)?,
            policy: None,
            parent: row.try_get(11)?,
        },
        status: row.try_get(4)?,
        policy: row.try_get(10)?,
    })
}

fn entry_row(row: &Row) -> Result<EntryRow> {
    Ok(EntryRow {
        seq: row.try_get(0)?,
        kind: row.try_get(1)?,
        name: text(row, 2)?,
        request_digest: row.try_get(3)?,
        request: text(row, 4)?,
        response: text_opt(row, 5)?,
        state: row.try_get(6)?,
        started_at: row.try_get(7)?,
        finished_at: row.try_get(8)?,
        input_tokens: row.try_get(9)?,
        output_tokens: row.try_get(10)?,
        resolution: row.try_get(11)?,
        packed: i64::from(row.try_get::<_, i32>(12)?),
        attempts: row.try_get(13)?,
    })
}

pub(super) async fn find_run(db: Db<'_>, id_or_prefix: &str) -> Result<RunRecord> {
    let exact = db
        .query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
            &[&id_or_prefix],
        )
        .await?;
    if let Some(row) = exact {
        return run_row(&row)?.finish();
    }
    if id_or_prefix.len() < 4
        || !id_or_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(JournalError::UnknownRun(id_or_prefix.to_string()));
    }
    let rows = db
        .query(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE $1 || '%' ORDER BY id LIMIT 6"),
            &[&id_or_prefix],
        )
        .await?;
    let found: Vec<RunRow> = rows.iter().map(run_row).collect::<Result<_>>()?;
    match found.len() {
        0 => Err(JournalError::UnknownRun(id_or_prefix.to_string())),
        1 => found.into_iter().next().expect("one run").finish(),
        _ => Err(JournalError::AmbiguousRun {
            prefix: id_or_prefix.to_string(),
            matches: found
                .iter()
                .map(|r| r.record.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A page of runs, newest first: (created_at, id) descending, after the
/// cursor run if there is one.
pub(super) async fn runs(db: Db<'_>, query: &RunQuery) -> Result<Vec<RunRecord>> {
    let cursor: Option<(i64, String)> = match &query.before {
        Some(id) => {
            let row = db
                .query_opt("SELECT created_at, id FROM runs WHERE id = $1", &[id])
                .await?
                .ok_or_else(|| JournalError::UnknownRun(id.clone()))?;
            Some((row.get(0), row.get(1)))
        }
        None => None,
    };
    let (at, id) = cursor.unwrap_or((i64::MAX, String::new()));
    let rows = db
        .query(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE ($1::text IS NULL OR status = $1) AND ($5::text IS NULL OR agent = $5)
                   AND ($6::text IS NULL OR ($6 = '' AND parent_id IS NULL) OR parent_id = $6)
                   AND (created_at < $2 OR (created_at = $2 AND ($3 = '' OR id < $3)))
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ),
            &[
                &query.status.map(|s| s.as_str()),
                &at,
                &id,
                &(query.limit.min(i64::MAX as usize) as i64),
                &query.agent,
                &query.parent,
            ],
        )
        .await?;
    rows.iter().map(|r| run_row(r)?.finish()).collect()
}

/// The blobs `rows` refer to, fetched in one query.
async fn blobs_of(db: Db<'_>, rows: &[EntryRow]) -> Result<HashMap<String, String>> {
    let mut digests: Vec<String> = Vec::new();
    for row in rows.iter().filter(|r| r.packed != 0) {
        let texts = [
            (row.packed & 1 != 0).then_some(row.request.as_str()),
            (row.packed & 2 != 0).then(|| row.response.as_deref().unwrap_or("")),
        ];
        for text in texts.into_iter().flatten() {
            digests.extend(crate::journal::blobs::references(text).map(str::to_string));
        }
    }
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    digests.sort();
    digests.dedup();
    let found = db
        .query(
            "SELECT digest, bytes FROM blobs WHERE digest = ANY($1)",
            &[&digests],
        )
        .await?;
    Ok(found.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) async fn entries(db: Db<'_>, run_id: &str) -> Result<Vec<Entry>> {
    let rows = db
        .query(
            &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id = $1 ORDER BY seq"),
            &[&run_id],
        )
        .await?;
    let rows: Vec<EntryRow> = rows.iter().map(entry_row).collect::<Result<_>>()?;
    let blobs = blobs_of(db, &rows).await?;
    finish_entries(run_id, rows, &mut |digest| blobs.get(digest).cloned())
}

pub(super) async fn summary(db: Db<'_>, run_id: &str) -> Result<RunSummary> {
    let entries: i64 = db
        .query_one("SELECT COUNT(*) FROM entries WHERE run_id = $1", &[&run_id])
        .await?
        .get(0);
    let last = db
        .query_opt(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id = $1 ORDER BY seq DESC LIMIT 1"
            ),
            &[&run_id],
        )
        .await?;
    let last = match last {
        Some(row) => {
            let row = entry_row(&row)?;
            let blobs = blobs_of(db, std::slice::from_ref(&row)).await?;
            Some(row.finish(run_id, &mut |digest| blobs.get(digest).cloned())?)
        }
        None => None,
    };
    let usage = db
        .query(
            "SELECT name, SUM(input_tokens)::bigint, SUM(output_tokens)::bigint FROM entries
             WHERE run_id = $1 AND kind = 'llm' AND input_tokens IS NOT NULL
             GROUP BY name ORDER BY name",
            &[&run_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(ModelUsage {
                model: text(r, 0)?,
                input_tokens: r.try_get::<_, i64>(1)? as u64,
                output_tokens: r.try_get::<_, i64>(2)? as u64,
            })
        })
        .collect::<Result<_>>()?;
    Ok(RunSummary {
        entries: entries as u64,
        last,
        usage,
    })
}

pub(super) async fn component(db: Db<'_>, digest: &str) -> Result<Option<Vec<u8>>> {
    let row = db
        .query_opt("SELECT bytes FROM components WHERE digest = $1", &[&digest])
        .await?;
    Ok(row.map(|r| r.get(0)))
}
