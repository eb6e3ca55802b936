//! What each write does to the database, inside the writer's transaction.
//! Checks come before changes, so a refused write changes nothing.

use crate::journal::ops::{LeaseAnswer, LeaseOp, Op};
use crate::journal::{
    Completion, Entry, EntryKind, Fence, JournalError, NewRun, Resolution, ResolveRequest,
    RunRecord, RunStatus, StatusChange, blobs, now_ms,
};
use rusqlite::{Connection, OptionalExtension, params};

type Result<T> = std::result::Result<T, JournalError>;

pub(super) fn apply(conn: &Connection, op: &Op) -> Result<()> {
    match op {
        Op::PutComponent { digest, bytes } => {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO components (digest, size, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![digest, bytes.len() as i64, bytes, now_ms()])?;
        }
        Op::CreateRun(run) => create_run(conn, run)?,
        Op::Import { run, entries } => import(conn, run, entries)?,
        Op::SetComponent { fence, digest } => {
            check_fence(conn, fence)?;
            conn.execute(
                "UPDATE runs SET component_digest = ?2, updated_at = ?3 WHERE id = ?1",
                params![fence.run_id, digest, now_ms()],
            )?;
        }
        Op::SetPolicy { fence, policy } => {
            check_fence(conn, fence)?;
            conn.execute(
                "UPDATE runs SET policy = ?2 WHERE id = ?1 AND policy IS NULL",
                params![fence.run_id, policy],
            )?;
        }
        Op::Append { fence, entry } => {
            check_fence(conn, fence)?;
            insert_entry(conn, &fence.run_id, entry)?;
        }
        Op::Complete {
            fence,
            seq,
            completion,
        } => {
            check_fence(conn, fence)?;
            complete(conn, &fence.run_id, *seq, completion)?;
        }
        Op::SetStatus { fence, change } => {
            check_fence(conn, fence)?;
            set_status(conn, &fence.run_id, change)?;
        }
        Op::Confirm { fence } => check_fence(conn, fence)?,
        Op::SetReady { fence, at_ms } => {
            check_fence(conn, fence)?;
            conn.prepare_cached(
                "UPDATE runs SET ready_at = ?2, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?1",
            )?
            .execute(params![fence.run_id, at_ms])?;
        }
        Op::Answer {
            run_id,
            seq,
            kind,
            response,
        } => answer(conn, run_id, *seq, *kind, response)?,
        Op::Resolve(request) => resolve(conn, request)?,
        Op::Cancel {
            run_id,
            error,
            owner,
        } => cancel(conn, run_id, error, owner.as_deref())?,
        Op::Lease { op, answer } => {
            let result = lease(conn, op)?;
            *answer.lock().unwrap_or_else(|p| p.into_inner()) = result;
        }
        Op::Ping => {}
        #[cfg(test)]
        Op::Die => {}
    }
    Ok(())
}

fn lease(conn: &Connection, op: &LeaseOp) -> Result<LeaseAnswer> {
    use super::super::leases;
    Ok(match op {
        LeaseOp::Claim {
            run_id,
            owner,
            ttl,
            take_from,
        } => LeaseAnswer::Claimed(leases::claim(
            conn,
            run_id,
            owner,
            *ttl,
            take_from.as_deref(),
        )?),
        LeaseOp::Renew { owner, ttl } => LeaseAnswer::Count(leases::renew(conn, owner, *ttl)?),
        LeaseOp::Release(fence) => {
            leases::release(conn, fence)?;
            LeaseAnswer::Nothing
        }
        LeaseOp::Break { owner } => LeaseAnswer::Count(leases::break_leases(conn, owner)?),
        LeaseOp::Register(instance) => {
            leases::register_instance(conn, instance)?;
            LeaseAnswer::Nothing
        }
    })
}

fn create_run(conn: &Connection, run: &NewRun) -> Result<()> {
    let now = now_ms();
    let (owner, expires, generation) = match &run.lease {
        Some((owner, ttl)) => (Some(owner.as_str()), Some(now + ttl.as_millis() as i64), 1),
        None => (None, None, 0),
    };
    conn.prepare_cached(
        "INSERT INTO runs (id, agent, component_digest, input, status, config_path, created_at,
                           updated_at, lease_owner, lease_expires_at, lease_generation, ready_at, policy,
                           parent_id)
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?6, ?7, ?8, ?9, ?6, ?10, ?11)",
    )?
    .execute(params![
        run.id,
        run.agent,
        run.component_digest,
        run.input,
        run.config_path,
        now,
        owner,
        expires,
        generation,
        run.policy.as_ref().map(|p| p.to_string()),
        run.parent,
    ])?;
    Ok(())
}

/// A run and its entries from a journal file, as they are.
fn import(conn: &Connection, run: &RunRecord, entries: &[Entry]) -> Result<()> {
    // An unfinished run is ready at once, so `relive serve` picks
    // it up like any other.
    conn.prepare_cached(
        "INSERT INTO runs (id, agent, component_digest, input, status, output, error, config_path,
                           created_at, updated_at, policy, ready_at, parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                 CASE WHEN ?5 IN ('running', 'suspended') THEN ?12 END, ?13)",
    )?
    .execute(params![
        run.id,
        run.agent,
        run.component_digest,
        run.input,
        run.status.as_str(),
        run.output,
        run.error,
        run.config_path,
        run.created_at_ms,
        run.updated_at_ms,
        run.policy.as_ref().map(|p| p.to_string()),
        now_ms(),
        run.parent,
    ])?;
    for entry in entries {
        insert_entry(conn, &run.id, entry)?;
    }
    Ok(())
}

/// Refuses a write by a process whose claim of the run is not the latest.
fn check_fence(conn: &Connection, fence: &Fence) -> Result<()> {
    let current: Option<i64> = conn
        .prepare_cached("SELECT lease_generation FROM runs WHERE id = ?1")?
        .query_row([&fence.run_id], |r| r.get(0))
        .optional()?;
    match current {
        None => Err(JournalError::UnknownRun(fence.run_id.clone())),
        Some(current) if current as u64 != fence.generation => Err(JournalError::LeaseLost {
            run_id: fence.run_id.clone(),
            held: fence.generation,
            current: current as u64,
        }),
        Some(_) => Ok(()),
    }
}

fn set_status(conn: &Connection, run_id: &str, change: &StatusChange) -> Result<()> {
    let now = now_ms();
    match change {
        StatusChange::Running => {
            conn.prepare_cached(
                "UPDATE runs SET status = 'running', output = NULL, error = NULL, updated_at = ?2,
                     ready_at = ?2
                 WHERE id = ?1",
            )?
            .execute(params![run_id, now])?;
        }
        StatusChange::Suspended {
            seq,
            until_ms,
            children,
        } => {
            // An answer that arrived while the run was suspending has
            // completed the entry already, and children it waits for may all
            // have ended meanwhile: then the run is ready now.
            let children = serde_json::to_string(children).expect("ids serialise");
            conn.prepare_cached(
                "UPDATE runs SET status = 'suspended', updated_at = ?3,
                     lease_owner = NULL, lease_expires_at = NULL,
                     ready_at = CASE
                         WHEN (SELECT state FROM entries WHERE run_id = ?1 AND seq = ?2) = 'completed'
                             THEN ?3
                         WHEN ?5 != '[]' AND NOT EXISTS (
                             SELECT 1 FROM runs AS child
                             WHERE child.id IN (SELECT value FROM json_each(?5))
                               AND child.status IN ('running', 'suspended', 'uncertain'))
                             THEN ?3
                         ELSE ?4 END
                 WHERE id = ?1",
            )?
            .execute(params![run_id, *seq as i64, now, until_ms, children])?;
        }
        StatusChange::Ended {
            status,
            output,
            error,
        } => {
            conn.prepare_cached(
                "UPDATE runs SET status = ?2, output = ?3, error = ?4, updated_at = ?5, ready_at = NULL,
                     lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ?1",
            )?
            .execute(params![run_id, status.as_str(), output, error, now])?;
            // A parent waiting for its children goes on: it finds out
            // whether the others have ended too.
            conn.prepare_cached(
                "UPDATE runs SET ready_at = ?2
                 WHERE id = (SELECT parent_id FROM runs WHERE id = ?1) AND status = 'suspended'",
            )?
            .execute(params![run_id, now])?;
        }
    }
    Ok(())
}

/// A run's status, or `UnknownRun`.
fn status_of(conn: &Connection, run_id: &str) -> Result<RunStatus> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM runs WHERE id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()?;
    let status = status.ok_or_else(|| JournalError::UnknownRun(run_id.to_string()))?;
    status
        .parse()
        .map_err(|e: String| JournalError::Other(format!("run {run_id} is damaged: {e}")))
}

/// An entry's kind, state and resolution, if it exists.
fn entry_state(
    conn: &Connection,
    run_id: &str,
    seq: u64,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT kind, state, resolution FROM entries WHERE run_id = ?1 AND seq = ?2",
        )?
        .query_row(params![run_id, seq as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

fn answer(
    conn: &Connection,
    run_id: &str,
    seq: u64,
    kind: EntryKind,
    response: &str,
) -> Result<()> {
    let status = status_of(conn, run_id)?;
    if status.is_final() {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status}: it waits for nothing"
        )));
    }
    match entry_state(conn, run_id, seq)? {
        Some((k, state, _)) if k == kind.as_str() && state == "started" => {}
        Some((k, _, _)) if k == kind.as_str() => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} was already answered; a second answer is refused"
            )));
        }
        _ => {
            return Err(JournalError::Refused(format!(
                "run {run_id} is not waiting for a {kind} at entry #{seq}"
            )));
        }
    }
    let now = now_ms();
    complete(
        conn,
        run_id,
        seq,
        &Completion {
            response: response.to_string(),
            ..Completion::default()
        },
    )?;
    conn.prepare_cached(
        "UPDATE runs SET ready_at = ?2 WHERE id = ?1 AND status IN ('running', 'suspended')",
    )?
    .execute(params![run_id, now])?;
    Ok(())
}

fn resolve(conn: &Connection, request: &ResolveRequest) -> Result<()> {
    let ResolveRequest {
        run_id,
        seq,
        resolution,
        response,
        error,
    } = request;
    let status = status_of(conn, run_id)?;
    if status != RunStatus::Uncertain {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status}, not uncertain: there is nothing to resolve"
        )));
    }
    match entry_state(conn, run_id, *seq)? {
        Some((_, state, None)) if state == "started" => {}
        Some((_, _, Some(_))) => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} is already resolved; continue with `relive resume {run_id}`"
            )));
        }
        _ => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} is not an interrupted call"
            )));
        }
    }
    let text = serde_json::to_string(resolution).expect("resolution serialises");
    let now = now_ms();
    match response {
        Some(response) => conn.execute(
            "UPDATE entries SET resolution = ?3, response = ?4, state = 'completed', finished_at = ?5
             WHERE run_id = ?1 AND seq = ?2",
            params![run_id, *seq as i64, text, response, now],
        )?,
        None => conn.execute(
            "UPDATE entries SET resolution = ?3 WHERE run_id = ?1 AND seq = ?2",
            params![run_id, *seq as i64, text],
        )?,
    };
    let change = match resolution {
        Resolution::Fail { .. } => StatusChange::Ended {
            status: RunStatus::Failed,
            output: None,
            error: error.clone(),
        },
        Resolution::Retry { .. } | Resolution::Result { .. } => StatusChange::Running,
    };
    set_status(conn, run_id, &change)
}

fn cancel(conn: &Connection, run_id: &str, error: &str, owner: Option<&str>) -> Result<()> {
    let status = status_of(conn, run_id)?;
    if status.is_final() {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status} already; only running, suspended or uncertain runs can be cancelled"
        )));
    }
    let (lease_owner, expires): (Option<String>, Option<i64>) = conn
        .prepare_cached("SELECT lease_owner, lease_expires_at FROM runs WHERE id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let (Some(holder), Some(expires)) = (lease_owner, expires)
        && expires > now_ms()
        && owner != Some(holder.as_str())
    {
        return Err(JournalError::Refused(format!(
            "run {run_id} is being executed by another relive process (instance {holder}); cancel it through that process, or when its lease expires"
        )));
    }
    // The generation moves on: whatever the run's executor still writes
    // is refused.
    conn.prepare_cached(
        "UPDATE runs SET status = 'cancelled', error = ?2, updated_at = ?3, ready_at = NULL,
             lease_owner = NULL, lease_expires_at = NULL, lease_generation = lease_generation + 1
         WHERE id = ?1",
    )?
    .execute(params![run_id, error, now_ms()])?;
    conn.prepare_cached(
        "UPDATE runs SET ready_at = ?2
         WHERE id = (SELECT parent_id FROM runs WHERE id = ?1) AND status = 'suspended'",
    )?
    .execute(params![run_id, now_ms()])?;
    Ok(())
}

fn complete(conn: &Connection, run_id: &str, seq: u64, completion: &Completion) -> Result<()> {
    let Completion {
        response,
        usage,
        attempts,
    } = completion;
    let (response, response_packed) = store_text(conn, response)?;
    let attempts = (!attempts.is_empty())
        .then(|| serde_json::to_string(attempts).expect("attempts serialise"));
    let changed = conn
        .prepare_cached(
            "UPDATE entries SET response = ?3, state = 'completed', finished_at = ?4,
                    input_tokens = ?5, output_tokens = ?6, packed = packed | ?7,
                    attempts = ?8
             WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
        )?
        .execute(params![
            run_id,
            seq as i64,
            response,
            now_ms(),
            usage.map(|u| u.input_tokens),
            usage.map(|u| u.output_tokens),
            i64::from(response_packed) << 1,
            attempts,
        ])?;
    if changed != 1 {
        return Err(JournalError::Other(format!(
            "entry {run_id}#{seq} is not a started entry"
        )));
    }
    Ok(())
}

/// Stores `text` packed if that pays (see `blobs.rs`); returns the text for
/// the entry's column and whether it is packed.
fn store_text<'a>(conn: &Connection, text: &'a str) -> Result<(std::borrow::Cow<'a, str>, bool)> {
    match blobs::pack(text) {
        None => Ok((std::borrow::Cow::Borrowed(text), false)),
        Some(packed) => {
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO blobs (digest, size, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for (digest, bytes) in &packed.blobs {
                insert.execute(params![digest, bytes.len() as i64, bytes])?;
            }
            Ok((std::borrow::Cow::Owned(packed.text), true))
        }
    }
}

/// Inserts one entry as it is (state, response, resolution, attempts).
fn insert_entry(conn: &Connection, run_id: &str, entry: &Entry) -> Result<()> {
    let resolution = entry
        .resolution
        .as_ref()
        .map(|r| serde_json::to_string(r).expect("resolution serialises"));
    // Log messages and random bytes are never sent again: packing them
    // into blobs would only cost the parse.
    let packable = !matches!(entry.kind, EntryKind::Log | EntryKind::Random);
    let (request, request_packed) = if packable {
        store_text(conn, &entry.request)?
    } else {
        (std::borrow::Cow::Borrowed(entry.request.as_str()), false)
    };
    let (response, response_packed) = match &entry.response {
        Some(text) if packable => {
            let (t, p) = store_text(conn, text)?;
            (Some(t), p)
        }
        Some(text) => (Some(std::borrow::Cow::Borrowed(text.as_str())), false),
        None => (None, false),
    };
    let packed = i64::from(request_packed) | (i64::from(response_packed) << 1);
    let attempts = (!entry.attempts.is_empty())
        .then(|| serde_json::to_string(&entry.attempts).expect("attempts serialise"));
    conn.prepare_cached(
        "INSERT INTO entries (run_id, seq, kind, name, request_digest, request, response, state,
                              started_at, finished_at, input_tokens, output_tokens, resolution, packed, attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        run_id,
        entry.seq as i64,
        entry.kind.as_str(),
        entry.name,
        entry.request_digest,
        request,
        response,
        entry.state.as_str(),
        entry.started_at_ms,
        entry.finished_at_ms,
        entry.usage.map(|u| u.input_tokens),
        entry.usage.map(|u| u.output_tokens),
        resolution,
        packed,
        attempts,
    ])?;
    Ok(())
}
