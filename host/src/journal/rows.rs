//! Rows as both backends read them, before their text columns are checked
//! and their blobs restored: the one place that turns stored text back into
//! the journal's types, and says which entry is damaged when it cannot.

use super::blobs;
use super::{Entry, EntryKind, EntryState, JournalError, Resolution, RunRecord, Usage};

type Result<T> = std::result::Result<T, JournalError>;

/// A row of `runs`, before its text columns are checked.
pub(crate) struct RunRow {
    pub record: RunRecord,
    pub status: String,
    pub policy: Option<String>,
}

impl RunRow {
    pub fn finish(self) -> Result<RunRecord> {
        let RunRow {
            mut record,
            status,
            policy,
        } = self;
        let damaged = |e: String| JournalError::Other(format!("run {} is damaged: {e}", record.id));
        record.status = status.parse().map_err(damaged)?;
        record.policy = match policy {
            Some(text) => {
                Some(serde_json::from_str(&text).map_err(|e| damaged(format!("bad policy: {e}")))?)
            }
            None => None,
        };
        Ok(record)
    }
}

/// A row of `entries`, before its text columns are checked and unpacked.
pub(crate) struct EntryRow {
    pub seq: i64,
    pub kind: String,
    pub name: String,
    pub request_digest: String,
    pub request: String,
    pub response: Option<String>,
    pub state: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub resolution: Option<String>,
    pub packed: i64,
    pub attempts: Option<String>,
}

impl EntryRow {
    /// The entry, its blobs restored through `fetch`.
    pub fn finish(
        self,
        run_id: &str,
        fetch: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Entry> {
        let seq = self.seq as u64;
        let damaged = |message: String| JournalError::Damaged {
            run_id: run_id.to_string(),
            seq,
            message,
        };
        let request = if self.packed & 1 != 0 {
            blobs::unpack(&self.request, fetch).map_err(damaged)?
        } else {
            self.request
        };
        let response = match self.response {
            Some(text) if self.packed & 2 != 0 => {
                Some(blobs::unpack(&text, fetch).map_err(damaged)?)
            }
            other => other,
        };
        let kind: EntryKind = self.kind.parse().map_err(damaged)?;
        let state: EntryState = self.state.parse().map_err(damaged)?;
        if state == EntryState::Completed && response.is_none() {
            return Err(damaged("completed entry has no response".into()));
        }
        let resolution = match self.resolution {
            Some(text) => Some(
                serde_json::from_str::<Resolution>(&text)
                    .map_err(|e| damaged(format!("bad resolution: {e}")))?,
            ),
            None => None,
        };
        let attempts = match self.attempts {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| damaged(format!("bad attempts: {e}")))?
            }
            None => Vec::new(),
        };
        Ok(Entry {
            seq,
            kind,
            name: self.name,
            request_digest: self.request_digest,
            request,
            response,
            state,
            started_at_ms: self.started_at,
            finished_at_ms: self.finished_at,
            usage: match (self.input_tokens, self.output_tokens) {
                (Some(i), Some(o)) => Some(Usage {
                    input_tokens: i as u32,
                    output_tokens: o as u32,
                }),
                _ => None,
            },
            resolution,
            attempts,
        })
    }
}

/// A run's entries from their rows in order of `seq`, blobs restored
/// through `fetch`; a gap in the sequence is damage.
pub(crate) fn finish_entries(
    run_id: &str,
    rows: Vec<EntryRow>,
    fetch: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Vec<Entry>> {
    let mut entries = Vec::with_capacity(rows.len());
    for (expected, row) in rows.into_iter().enumerate() {
        if row.seq != expected as i64 {
            return Err(JournalError::Damaged {
                run_id: run_id.to_string(),
                seq: row.seq as u64,
                message: format!("entries are not contiguous: expected #{expected}"),
            });
        }
        entries.push(row.finish(run_id, fetch)?);
    }
    Ok(entries)
}
