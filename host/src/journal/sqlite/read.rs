//! Reading runs, entries and components. Every read runs on one of the
//! journal's reader connections, beside the writer (WAL).

use crate::journal::rows::{EntryRow, RunRow, finish_entries};
use crate::journal::{Entry, JournalError, ModelUsage, RunQuery, RunRecord, RunStatus, RunSummary};
use rusqlite::{Connection, OptionalExtension, params};

type Result<T> = std::result::Result<T, JournalError>;

const RUN_COLUMNS: &str = "id, agent, component_digest, input, status, output, error, config_path, created_at, updated_at, policy, parent_id";

fn run_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        record: RunRecord {
            id: row.get(0)?,
            agent: row.get(1)?,
            component_digest: row.get(2)?,
            input: row.get(3)?,
            status: RunStatus::Running,
            output: row.get(5)?,
            error: row.get(6)?,
            config_path: row.get(7)?,
            created_at_ms: row.get(8)?,
            updated_at_ms: row.get(9)?,
            policy: None,
            parent: row.get(11)?,
        },
        status: row.get(4)?,
        policy: row.get(10)?,
    })
}

pub(super) fn find_run(conn: &Connection, id_or_prefix: &str) -> Result<RunRecord> {
    let exact = conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?
        .query_row([id_or_prefix], run_row)
        .optional()?;
    if let Some(run) = exact {
        return run.finish();
    }
    if id_or_prefix.len() < 4
        || !id_or_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(JournalError::UnknownRun(id_or_prefix.to_string()));
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE ?1 || '%' ORDER BY id LIMIT 6"
    ))?;
    let found: Vec<RunRow> = stmt
        .query_map([id_or_prefix], run_row)?
        .collect::<std::result::Result<_, _>>()?;
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
pub(super) fn runs(conn: &Connection, query: &RunQuery) -> Result<Vec<RunRecord>> {
    let cursor: Option<(i64, String)> = match &query.before {
        Some(id) => Some(
            conn.prepare_cached("SELECT created_at, id FROM runs WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .ok_or_else(|| JournalError::UnknownRun(id.clone()))?,
        ),
        None => None,
    };
    let (at, id) = cursor.unwrap_or((i64::MAX, String::new()));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs
         WHERE (?1 IS NULL OR status = ?1) AND (?5 IS NULL OR agent = ?5)
           AND (?6 IS NULL OR (?6 = '' AND parent_id IS NULL) OR parent_id = ?6)
           AND (created_at < ?2 OR (created_at = ?2 AND (?3 = '' OR id < ?3)))
         ORDER BY created_at DESC, id DESC LIMIT ?4"
    ))?;
    let rows: Vec<RunRow> = stmt
        .query_map(
            params![
                query.status.map(|s| s.as_str()),
                at,
                id,
                query.limit.min(i64::MAX as usize) as i64,
                query.agent,
                query.parent,
            ],
            run_row,
        )?
        .collect::<std::result::Result<_, _>>()?;
    rows.into_iter().map(RunRow::finish).collect()
}

fn entry_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok(EntryRow {
        seq: row.get(0)?,
        kind: row.get(1)?,
        name: row.get(2)?,
        request_digest: row.get(3)?,
        request: row.get(4)?,
        response: row.get(5)?,
        state: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        input_tokens: row.get(9)?,
        output_tokens: row.get(10)?,
        resolution: row.get(11)?,
        packed: row.get(12)?,
        attempts: row.get(13)?,
    })
}

pub(super) fn entries(conn: &Connection, run_id: &str) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, name, request_digest, request, response, state, started_at,
                finished_at, input_tokens, output_tokens, resolution, packed, attempts
         FROM entries WHERE run_id = ?1 ORDER BY seq",
    )?;
    let rows: Vec<EntryRow> = stmt
        .query_map([run_id], entry_row)?
        .collect::<std::result::Result<_, _>>()?;
    let mut blob_stmt = conn.prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?;
    let mut fetch = |digest: &str| -> Option<String> {
        blob_stmt
            .query_row([digest], |r| r.get(0))
            .optional()
            .ok()
            .flatten()
    };
    finish_entries(run_id, rows, &mut fetch)
}

pub(super) fn summary(conn: &Connection, run_id: &str) -> Result<RunSummary> {
    let entries: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM entries WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))?;
    let last: Option<EntryRow> = conn
        .prepare_cached(
            "SELECT seq, kind, name, request_digest, request, response, state, started_at,
                    finished_at, input_tokens, output_tokens, resolution, packed, attempts
             FROM entries WHERE run_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([run_id], entry_row)
        .optional()?;
    let last = match last {
        Some(row) => {
            let mut blob_stmt = conn.prepare_cached("SELECT bytes FROM blobs WHERE digest = ?1")?;
            let mut fetch = |digest: &str| -> Option<String> {
                blob_stmt
                    .query_row([digest], |r| r.get(0))
                    .optional()
                    .ok()
                    .flatten()
            };
            Some(row.finish(run_id, &mut fetch)?)
        }
        None => None,
    };
    let usage = conn
        .prepare_cached(
            "SELECT name, SUM(input_tokens), SUM(output_tokens) FROM entries
             WHERE run_id = ?1 AND kind = 'llm' AND input_tokens IS NOT NULL
             GROUP BY name ORDER BY name",
        )?
        .query_map([run_id], |r| {
            Ok(ModelUsage {
                model: r.get(0)?,
                input_tokens: r.get::<_, i64>(1)? as u64,
                output_tokens: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    Ok(RunSummary {
        entries: entries as u64,
        last,
        usage,
    })
}

pub(super) fn component(conn: &Connection, digest: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM components WHERE digest = ?1")?
        .query_row(params![digest], |r| r.get(0))
        .optional()?)
}
