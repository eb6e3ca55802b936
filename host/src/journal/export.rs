//! Portable journal files: one run as JSON lines (DESIGN §8).
//!
//! Line 1 is a header: `{"format":"relive-journal","version":1,"run":{...}}`
//! with the run's id, agent, component digest, input, status and output.
//! Every further line is one entry, in order, with the fields of
//! [`Entry`](super::Entry). The format is versioned: a reader refuses a
//! version it does not know instead of guessing.

use super::{Entry, EntryState, RunRecord, digest_hex};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read, Write};

/// The `format` field of the header.
pub const FORMAT: &str = "relive-journal";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// Longest line accepted on import (a guard against a file that is not a
/// journal at all).
pub const MAX_LINE_BYTES: usize = 64 << 20;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Header {
    format: String,
    version: u32,
    run: RunRecord,
}

/// A run and its entries, read from or written to a journal file.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalFile {
    pub run: RunRecord,
    pub entries: Vec<Entry>,
}

/// Why a journal file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read journal file: {0}")]
    Io(std::io::Error),
    #[error("journal file is empty; export one with `relive export RUN > run.jsonl`")]
    Empty,
    #[error("line 1: not a relive journal header ({0}); export one with `relive export RUN`")]
    BadHeader(String),
    #[error(
        "line 1: journal format version {found} is not supported (this relive reads version {VERSION}); upgrade relive"
    )]
    Version { found: u32 },
    #[error("line {line}: {message}")]
    BadEntry { line: usize, message: String },
}

impl From<std::io::Error> for ImportError {
    fn from(e: std::io::Error) -> Self {
        ImportError::Io(e)
    }
}

/// Writes `file` as JSON lines.
pub fn write(file: &JournalFile, out: &mut dyn Write) -> std::io::Result<()> {
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
        run: file.run.clone(),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for entry in &file.entries {
        serde_json::to_writer(&mut *out, entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads and checks a journal file: known version, entries numbered from 0
/// without gaps, digests that match their requests, responses on completed
/// entries.
pub fn read(input: &mut dyn BufRead) -> Result<JournalFile, ImportError> {
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut *input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(ImportError::BadEntry {
                line: lines.len() + 1,
                message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let text = String::from_utf8(buf.clone()).map_err(|_| ImportError::BadEntry {
            line: lines.len() + 1,
            message: "not UTF-8 text".into(),
        })?;
        lines.push(text);
    }
    let mut lines = lines
        .into_iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or(ImportError::Empty)?;
    let probe: serde_json::Value =
        serde_json::from_str(&first).map_err(|e| ImportError::BadHeader(e.to_string()))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(ImportError::BadHeader(format!(
            "`format` is not \"{FORMAT}\""
        )));
    }
    if let Some(found) = probe.get("version").and_then(|v| v.as_u64())
        && found != VERSION as u64
    {
        return Err(ImportError::Version {
            found: found as u32,
        });
    }
    let header: Header =
        serde_json::from_value(probe).map_err(|e| ImportError::BadHeader(e.to_string()))?;
    let mut entries = Vec::new();
    for (index, text) in lines {
        let line = index + 1;
        let entry: Entry = serde_json::from_str(&text).map_err(|e| ImportError::BadEntry {
            line,
            message: e.to_string(),
        })?;
        let bad = |message: String| ImportError::BadEntry { line, message };
        if entry.seq != entries.len() as u64 {
            return Err(bad(format!(
                "entry #{} where #{} was expected (entries must be in order, without gaps)",
                entry.seq,
                entries.len()
            )));
        }
        if digest_hex(entry.request.as_bytes()) != entry.request_digest {
            return Err(bad(format!(
                "entry #{}: request_digest does not match the request (the file was edited?)",
                entry.seq
            )));
        }
        if entry.state == EntryState::Completed && entry.response.is_none() {
            return Err(bad(format!(
                "entry #{}: completed but has no response",
                entry.seq
            )));
        }
        entries.push(entry);
    }
    Ok(JournalFile {
        run: header.run,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{EntryKind, RunStatus};

    fn sample() -> JournalFile {
        let mut e0 = Entry::new(0, EntryKind::Clock, "wall", "null".into());
        e0.response = Some("{\"ns\":1}".into());
        e0.state = EntryState::Completed;
        let e1 = Entry::new(1, EntryKind::Tool, "t", "{\"a\":1}".into());
        JournalFile {
            run: RunRecord {
                id: "abc".into(),
                agent: "a".into(),
                component_digest: "sha256:00".into(),
                input: "in".into(),
                status: RunStatus::Running,
                output: None,
                error: None,
                config_path: None,
                created_at_ms: 1,
                updated_at_ms: 2,
                policy: None,
                parent: None,
            },
            entries: vec![e0, e1],
        }
    }

    fn round(text: &str) -> Result<JournalFile, ImportError> {
        read(&mut text.as_bytes())
    }

    #[test]
    fn round_trip_is_lossless() {
        let file = sample();
        let mut out = Vec::new();
        write(&file, &mut out).unwrap();
        assert_eq!(round(std::str::from_utf8(&out).unwrap()).unwrap(), file);
    }

    #[test]
    fn rejects_garbage_reordering_and_tampering() {
        let mut out = Vec::new();
        write(&sample(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(matches!(round(""), Err(ImportError::Empty)));
        assert!(matches!(
            round("\u{0}\u{1}garbage"),
            Err(ImportError::BadHeader(_))
        ));
        let swapped = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[1]);
        assert!(
            round(&swapped)
                .unwrap_err()
                .to_string()
                .contains("in order")
        );
        let tampered = text.replace("{\\\"a\\\":1}", "{\\\"a\\\":2}");
        assert!(round(&tampered).unwrap_err().to_string().contains("digest"));
        let future = text.replacen("\"version\":1", "\"version\":9", 1);
        assert!(matches!(
            round(&future),
            Err(ImportError::Version { found: 9 })
        ));
        let truncated = &text[..text.len() - 10];
        assert!(round(truncated).is_err());
    }
}
