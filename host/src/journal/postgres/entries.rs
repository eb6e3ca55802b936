//! Writing entries on PostgreSQL: inserting one, completing a started one,
//! and packing large values into content-addressed blobs on the way
//! (`blobs.rs`), as the SQLite writer does.

use super::apply::Step;
use super::client::Db;
use crate::journal::{Completion, Entry, EntryKind, JournalError, blobs, now_ms};

pub(super) async fn complete(db: Db<'_>, run_id: &str, seq: u64, completion: &Completion) -> Step {
    let Completion {
        response,
        usage,
        attempts,
    } = completion;
    let (response, response_packed) = store_text(db, response).await?;
    let attempts = (!attempts.is_empty())
        .then(|| serde_json::to_string(attempts).expect("attempts serialise"));
    let changed = db
        .execute(
            "UPDATE entries SET response = $3, state = 'completed', finished_at = $4,
                    input_tokens = $5, output_tokens = $6, packed = packed | $7,
                    attempts = $8
             WHERE run_id = $1 AND seq = $2 AND state = 'started'",
            &[
                &run_id,
                &(seq as i64),
                &response.as_bytes(),
                &now_ms(),
                &usage.map(|u| i64::from(u.input_tokens)),
                &usage.map(|u| i64::from(u.output_tokens)),
                &(i32::from(response_packed) << 1),
                &attempts,
            ],
        )
        .await?;
    if changed != 1 {
        return Err(
            JournalError::Other(format!("entry {run_id}#{seq} is not a started entry")).into(),
        );
    }
    Ok(())
}

/// Stores `text` packed if that pays (see `blobs.rs`); returns the text for
/// the entry's column and whether it is packed.
async fn store_text<'t>(db: Db<'_>, text: &'t str) -> Step<(std::borrow::Cow<'t, str>, bool)> {
    match blobs::pack(text) {
        None => Ok((std::borrow::Cow::Borrowed(text), false)),
        Some(packed) => {
            let mut blobs = packed.blobs;
            // One order everywhere: two batches inserting the same blobs
            // wait for each other instead of deadlocking.
            blobs.sort();
            blobs.dedup_by(|a, b| a.0 == b.0);
            let digests: Vec<&str> = blobs.iter().map(|(d, _)| d.as_str()).collect();
            let sizes: Vec<i64> = blobs.iter().map(|(_, b)| b.len() as i64).collect();
            let bytes: Vec<&str> = blobs.iter().map(|(_, b)| b.as_str()).collect();
            db.execute(
                "INSERT INTO blobs (digest, size, bytes)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
                 ON CONFLICT (digest) DO NOTHING",
                &[&digests, &sizes, &bytes],
            )
            .await?;
            Ok((std::borrow::Cow::Owned(packed.text), true))
        }
    }
}

/// Inserts one entry as it is (state, response, resolution, attempts).
pub(super) async fn insert_entry(db: Db<'_>, run_id: &str, entry: &Entry) -> Step {
    let resolution = entry
        .resolution
        .as_ref()
        .map(|r| serde_json::to_string(r).expect("resolution serialises"));
    // Log messages and random bytes are never sent again: packing them
    // into blobs would only cost the parse.
    let packable = !matches!(entry.kind, EntryKind::Log | EntryKind::Random);
    let (request, request_packed) = if packable {
        store_text(db, &entry.request).await?
    } else {
        (std::borrow::Cow::Borrowed(entry.request.as_str()), false)
    };
    let (response, response_packed) = match &entry.response {
        Some(text) if packable => {
            let (t, p) = store_text(db, text).await?;
            (Some(t), p)
        }
        Some(text) => (Some(std::borrow::Cow::Borrowed(text.as_str())), false),
        None => (None, false),
    };
    let packed = i32::from(request_packed) | (i32::from(response_packed) << 1);
    let attempts = (!entry.attempts.is_empty())
        .then(|| serde_json::to_string(&entry.attempts).expect("attempts serialise"));
    db.execute(
        "INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state,
                              started_at, finished_at, input_tokens, output_tokens, resolution,
                              packed, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &[
            &run_id,
            &(entry.seq as i64),
            &entry.kind.as_str(),
            &entry.name.as_bytes(),
            &entry.request_digest,
            &request.as_bytes(),
            &response.as_deref().map(str::as_bytes),
            &entry.state.as_str(),
            &entry.started_at_ms,
            &entry.finished_at_ms,
            &entry.usage.map(|u| i64::from(u.input_tokens)),
            &entry.usage.map(|u| i64::from(u.output_tokens)),
            &resolution,
            &packed,
            &attempts,
        ],
    )
    .await?;
    Ok(())
}
