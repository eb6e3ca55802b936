//! What each write does to the database, inside the writer's transaction —
//! the same checks and changes as the SQLite writer's (`sqlite/writer/apply.rs`),
//! in PostgreSQL's SQL. Checks come before changes, so a refused write
//! changes nothing.
//!
//! Fences are checked against the lease generations the batch locked when
//! it began (`FOR SHARE`, see `writer.rs`): no claim can change them until
//! the batch commits, and the writes of this batch that change them
//! (creating, importing and cancelling runs) update the map.

use super::client::Db;
use super::entries::{complete, insert_entry};
use super::schema::NOW_MS;
use crate::journal::ops::{LeaseAnswer, LeaseOp, Op};
use crate::journal::{
    Completion, Entry, EntryKind, Fence, JournalError, NewRun, Resolution, ResolveRequest,
    RunRecord, RunStatus, StatusChange, now_ms,
};
use std::collections::{BTreeSet, HashMap};

/// Why a write did not apply.
pub(super) enum Failure {
    /// Refused by a check: the transaction goes on.
    Refused(JournalError),
    /// The database failed a statement: the transaction is aborted.
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Failure::Refused(e)
    }
}

pub(super) type Step<T = ()> = std::result::Result<T, Failure>;

/// What a batch changed, for the notification sent with its commit.
#[derive(Default)]
pub(super) struct Changes {
    /// Runs whose entries, status or lease changed.
    pub runs: BTreeSet<String>,
    /// Whether a run may have become ready (or its ready time moved): the
    /// schedulers look again.
    pub ready: bool,
}

impl Changes {
    fn run(&mut self, run_id: &str) {
        if !self.runs.contains(run_id) {
            self.runs.insert(run_id.to_string());
        }
    }

    fn ready(&mut self, run_id: &str) {
        self.run(run_id);
        self.ready = true;
    }
}

/// The state a batch's writes share.
pub(super) struct Batch<'a> {
    pub db: Db<'a>,
    /// Each fenced run's current lease generation (locked).
    pub generations: HashMap<String, u64>,
    pub changes: Changes,
}

pub(super) async fn apply(b: &mut Batch<'_>, op: &Op) -> Step {
    match op {
        Op::PutComponent { digest, bytes } => {
            b.db.execute(
                "INSERT INTO components (digest, size, bytes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (digest) DO NOTHING",
                &[digest, &(bytes.len() as i64), bytes, &now_ms()],
            )
            .await?;
        }
        Op::CreateRun(run) => create_run(b, run).await?,
        Op::Import { run, entries } => import(b, run, entries).await?,
        Op::SetComponent { fence, digest } => {
            check_fence(b, fence)?;
            b.db.execute(
                "UPDATE runs SET component_digest = $2, updated_at = $3 WHERE id = $1",
                &[&fence.run_id, digest, &now_ms()],
            )
            .await?;
            b.changes.run(&fence.run_id);
        }
        Op::SetPolicy { fence, policy } => {
            check_fence(b, fence)?;
            b.db.execute(
                "UPDATE runs SET policy = $2 WHERE id = $1 AND policy IS NULL",
                &[&fence.run_id, policy],
            )
            .await?;
        }
        Op::Append { fence, entry } => {
            check_fence(b, fence)?;
            insert_entry(b.db, &fence.run_id, entry).await?;
            b.changes.run(&fence.run_id);
        }
        Op::Complete {
            fence,
            seq,
            completion,
        } => {
            check_fence(b, fence)?;
            complete(b.db, &fence.run_id, *seq, completion).await?;
            b.changes.run(&fence.run_id);
        }
        Op::SetStatus { fence, change } => {
            check_fence(b, fence)?;
            set_status(b, &fence.run_id, change).await?;
        }
        Op::Confirm { fence } => check_fence(b, fence)?,
        Op::SetReady { fence, at_ms } => {
            check_fence(b, fence)?;
            b.db.execute(
                "UPDATE runs SET ready_at = $2, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
                &[&fence.run_id, at_ms],
            )
            .await?;
            b.changes.ready(&fence.run_id);
        }
        Op::Answer {
            run_id,
            seq,
            kind,
            response,
        } => answer(b, run_id, *seq, *kind, response).await?,
        Op::Resolve(request) => resolve(b, request).await?,
        Op::Cancel {
            run_id,
            error,
            owner,
        } => cancel(b, run_id, error, owner.as_deref()).await?,
        Op::Lease { op, answer } => {
            let result = lease(b, op).await?;
            *answer.lock().unwrap_or_else(|p| p.into_inner()) = result;
        }
        Op::Ping => {}
        #[cfg(test)]
        Op::Die => {}
    }
    Ok(())
}

/// Lease operations that must be ordered after the writes queued before
/// them (a release after the run's last writes); the others run on the
/// control connection (`leases.rs`).
async fn lease(b: &mut Batch<'_>, op: &LeaseOp) -> Step<LeaseAnswer> {
    use super::leases;
    Ok(match op {
        LeaseOp::Release(fence) => {
            leases::release(b.db, fence).await?;
            b.changes.ready(&fence.run_id);
            LeaseAnswer::Nothing
        }
        LeaseOp::Claim {
            run_id,
            owner,
            ttl,
            take_from,
        } => LeaseAnswer::Claimed(
            leases::claim(b.db, run_id, owner, *ttl, take_from.as_deref()).await?,
        ),
        LeaseOp::Renew { owner, ttl } => {
            LeaseAnswer::Count(leases::renew(b.db, owner, *ttl).await?)
        }
        LeaseOp::Break { owner } => LeaseAnswer::Count(leases::break_leases(b.db, owner).await?),
        LeaseOp::Register(instance) => {
            leases::register_instance(b.db, instance).await?;
            LeaseAnswer::Nothing
        }
    })
}

/// Refuses a write by a process whose claim of the run is not the latest.
fn check_fence(b: &Batch<'_>, fence: &Fence) -> Step {
    match b.generations.get(&fence.run_id) {
        None => Err(JournalError::UnknownRun(fence.run_id.clone()).into()),
        Some(&current) if current != fence.generation => Err(JournalError::LeaseLost {
            run_id: fence.run_id.clone(),
            held: fence.generation,
            current,
        }
        .into()),
        Some(_) => Ok(()),
    }
}

async fn create_run(b: &mut Batch<'_>, run: &NewRun) -> Step {
    let now = now_ms();
    let (owner, ttl_ms, generation) = match &run.lease {
        Some((owner, ttl)) => (Some(owner.as_str()), Some(millis(*ttl)), 1i64),
        None => (None, None, 0),
    };
    let policy = run.policy.as_ref().map(|p| p.to_string());
    b.db.execute(
        &format!(
            "INSERT INTO runs (id, agent, component_digest, input, status, config_path, created_at,
                               updated_at, lease_owner, lease_expires_at, lease_generation, ready_at,
                               policy, parent_id)
             VALUES ($1, $2, $3, $4, 'running', $5, $6, $6, $7, {NOW_MS} + $8, $9, {NOW_MS}, $10, $11)"
        ),
        &[
            &run.id,
            &run.agent,
            &run.component_digest,
            &run.input.as_bytes(),
            &run.config_path,
            &now,
            &owner,
            &ttl_ms,
            &generation,
            &policy,
            &run.parent,
        ],
    )
    .await?;
    b.generations.insert(run.id.clone(), generation as u64);
    if owner.is_some() {
        b.changes.run(&run.id);
    } else {
        b.changes.ready(&run.id);
    }
    Ok(())
}

/// A run and its entries from a journal file, as they are; an unfinished
/// run is ready at once, so `relive serve` picks it up like any other.
async fn import(b: &mut Batch<'_>, run: &RunRecord, entries: &[Entry]) -> Step {
    let policy = run.policy.as_ref().map(|p| p.to_string());
    b.db.execute(
        &format!(
            "INSERT INTO runs (id, agent, component_digest, input, status, output, error, config_path,
                               created_at, updated_at, policy, ready_at, parent_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                     CASE WHEN $5 IN ('running', 'suspended') THEN {NOW_MS} END, $12)"
        ),
        &[
            &run.id,
            &run.agent,
            &run.component_digest,
            &run.input.as_bytes(),
            &run.status.as_str(),
            &run.output.as_deref().map(str::as_bytes),
            &run.error.as_deref().map(str::as_bytes),
            &run.config_path,
            &run.created_at_ms,
            &run.updated_at_ms,
            &policy,
            &run.parent,
        ],
    )
    .await?;
    for entry in entries {
        insert_entry(b.db, &run.id, entry).await?;
    }
    b.generations.insert(run.id.clone(), 0);
    b.changes.ready(&run.id);
    Ok(())
}

/// Makes the parent of `run_id`, if it is suspended, ready now: a parent
/// waiting for its children goes on to find out whether the others have
/// ended too. The parent's row is locked whatever its status, so that a
/// parent suspending at this moment in another process waits for this
/// commit and then sees the child ended.
async fn wake_parent(b: &mut Batch<'_>, run_id: &str) -> Step {
    let parent = b
        .db
        .query_opt(
            &format!(
                "UPDATE runs SET ready_at = CASE WHEN status = 'suspended' THEN {NOW_MS} ELSE ready_at END
                 WHERE id = (SELECT parent_id FROM runs WHERE id = $1)
                 RETURNING id"
            ),
            &[&run_id],
        )
        .await?;
    if let Some(parent) = parent {
        b.changes.ready(parent.get::<_, &str>(0));
    }
    Ok(())
}

async fn set_status(b: &mut Batch<'_>, run_id: &str, change: &StatusChange) -> Step {
    let now = now_ms();
    match change {
        StatusChange::Running => {
            b.db.execute(
                &format!(
                    "UPDATE runs SET status = 'running', output = NULL, error = NULL, updated_at = $2,
                         ready_at = {NOW_MS}
                     WHERE id = $1"
                ),
                &[&run_id, &now],
            )
            .await?;
        }
        StatusChange::Suspended {
            seq,
            until_ms,
            children,
        } => {
            // An answer that arrived while the run was suspending has
            // completed the entry already, and children it waits for may all
            // have ended meanwhile: then the run is ready now.
            b.db.execute(
                &format!(
                    "UPDATE runs SET status = 'suspended', updated_at = $3,
                         lease_owner = NULL, lease_expires_at = NULL,
                         ready_at = CASE
                             WHEN (SELECT state FROM entries WHERE run_id = $1 AND seq = $2) = 'completed'
                                 THEN {NOW_MS}
                             WHEN cardinality($5::text[]) > 0 AND NOT EXISTS (
                                 SELECT 1 FROM runs AS child
                                 WHERE child.id = ANY($5::text[])
                                   AND child.status IN ('running', 'suspended', 'uncertain'))
                                 THEN {NOW_MS}
                             ELSE $4 END
                     WHERE id = $1"
                ),
                &[&run_id, &(*seq as i64), &now, until_ms, children],
            )
            .await?;
        }
        StatusChange::Ended {
            status,
            output,
            error,
        } => {
            b.db.execute(
                "UPDATE runs SET status = $2, output = $3, error = $4, updated_at = $5, ready_at = NULL,
                     lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = $1",
                &[
                    &run_id,
                    &status.as_str(),
                    &output.as_deref().map(str::as_bytes),
                    &error.as_deref().map(str::as_bytes),
                    &now,
                ],
            )
            .await?;
            wake_parent(b, run_id).await?;
        }
    }
    b.changes.ready(run_id);
    Ok(())
}

/// A run's status, its row locked until the batch commits (so that the
/// check and the write that follows are not separated by another
/// process's write), or `UnknownRun`.
async fn lock_status(db: Db<'_>, run_id: &str) -> Step<RunStatus> {
    let row = db
        .query_opt(
            "SELECT status FROM runs WHERE id = $1 FOR UPDATE",
            &[&run_id],
        )
        .await?;
    let Some(row) = row else {
        return Err(JournalError::UnknownRun(run_id.to_string()).into());
    };
    let status: &str = row.get(0);
    status
        .parse()
        .map_err(|e: String| JournalError::Other(format!("run {run_id} is damaged: {e}")).into())
}

/// An entry's kind, state and resolution, if it exists.
async fn entry_state(
    db: Db<'_>,
    run_id: &str,
    seq: u64,
) -> Step<Option<(String, String, Option<String>)>> {
    let row = db
        .query_opt(
            "SELECT kind, state, resolution FROM entries WHERE run_id = $1 AND seq = $2",
            &[&run_id, &(seq as i64)],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

async fn answer(
    b: &mut Batch<'_>,
    run_id: &str,
    seq: u64,
    kind: EntryKind,
    response: &str,
) -> Step {
    let status = lock_status(b.db, run_id).await?;
    if status.is_final() {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status}: it waits for nothing"
        ))
        .into());
    }
    match entry_state(b.db, run_id, seq).await? {
        Some((k, state, _)) if k == kind.as_str() && state == "started" => {}
        Some((k, _, _)) if k == kind.as_str() => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} was already answered; a second answer is refused"
            ))
            .into());
        }
        _ => {
            return Err(JournalError::Refused(format!(
                "run {run_id} is not waiting for a {kind} at entry #{seq}"
            ))
            .into());
        }
    }
    let completion = Completion {
        response: response.to_string(),
        ..Completion::default()
    };
    complete(b.db, run_id, seq, &completion).await?;
    b.db.execute(
        &format!(
            "UPDATE runs SET ready_at = {NOW_MS} WHERE id = $1 AND status IN ('running', 'suspended')"
        ),
        &[&run_id],
    )
    .await?;
    b.changes.ready(run_id);
    Ok(())
}

async fn resolve(b: &mut Batch<'_>, request: &ResolveRequest) -> Step {
    let ResolveRequest {
        run_id,
        seq,
        resolution,
        response,
        error,
    } = request;
    let status = lock_status(b.db, run_id).await?;
    if status != RunStatus::Uncertain {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status}, not uncertain: there is nothing to resolve"
        ))
        .into());
    }
    match entry_state(b.db, run_id, *seq).await? {
        Some((_, state, None)) if state == "started" => {}
        Some((_, _, Some(_))) => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} is already resolved; continue with `relive resume {run_id}`"
            ))
            .into());
        }
        _ => {
            return Err(JournalError::Refused(format!(
                "entry #{seq} of run {run_id} is not an interrupted call"
            ))
            .into());
        }
    }
    let text = serde_json::to_string(resolution).expect("resolution serialises");
    let seq = *seq as i64;
    match response {
        Some(response) => {
            b.db.execute(
                "UPDATE entries SET resolution = $3, response = $4, state = 'completed', finished_at = $5
                 WHERE run_id = $1 AND seq = $2",
                &[run_id, &seq, &text, &response.as_bytes(), &now_ms()],
            )
            .await?
        }
        None => {
            b.db.execute(
                "UPDATE entries SET resolution = $3 WHERE run_id = $1 AND seq = $2",
                &[run_id, &seq, &text],
            )
            .await?
        }
    };
    let change = match resolution {
        Resolution::Fail { .. } => StatusChange::Ended {
            status: RunStatus::Failed,
            output: None,
            error: error.clone(),
        },
        Resolution::Retry { .. } | Resolution::Result { .. } => StatusChange::Running,
    };
    Box::pin(set_status(b, run_id, &change)).await
}

async fn cancel(b: &mut Batch<'_>, run_id: &str, error: &str, owner: Option<&str>) -> Step {
    let status = lock_status(b.db, run_id).await?;
    if status.is_final() {
        return Err(JournalError::Refused(format!(
            "run {run_id} is {status} already; only running, suspended or uncertain runs can be cancelled"
        ))
        .into());
    }
    let row =
        b.db.query_one(
            &format!("SELECT lease_owner, lease_expires_at > {NOW_MS} FROM runs WHERE id = $1"),
            &[&run_id],
        )
        .await?;
    let (holder, live): (Option<String>, Option<bool>) = (row.get(0), row.get(1));
    if let (Some(holder), Some(true)) = (holder, live)
        && owner != Some(holder.as_str())
    {
        return Err(JournalError::Refused(format!(
            "run {run_id} is being executed by another relive process (instance {holder}); cancel it through that process, or when its lease expires"
        ))
        .into());
    }
    // The generation moves on: whatever the run's executor still writes
    // is refused.
    b.db.execute(
        "UPDATE runs SET status = 'cancelled', error = $2, updated_at = $3, ready_at = NULL,
             lease_owner = NULL, lease_expires_at = NULL, lease_generation = lease_generation + 1
         WHERE id = $1",
        &[&run_id, &error.as_bytes(), &now_ms()],
    )
    .await?;
    if let Some(generation) = b.generations.get_mut(run_id) {
        *generation += 1;
    }
    b.changes.ready(run_id);
    wake_parent(b, run_id).await
}

fn millis(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}
