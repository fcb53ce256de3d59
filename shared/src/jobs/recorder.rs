//! Records task outcomes in the control plane in batches, off the slots' path.
//!
//! A slot that has finished a task hands its outcome here and releases the claim at once, so
//! the tenant database's slot takes the next task while the outcome is written. Whatever
//! outcomes queued up meanwhile go into one write ([`ControlStore::finish_tasks`]: on
//! PostgreSQL one statement and one commit), so a large upgrade's bookkeeping costs the control
//! plane a fraction of a statement per task instead of several.
//!
//! Releasing the claim before the outcome is written is safe because every task is idempotent:
//! should this process die with outcomes unwritten, those tasks are RUNNING in the control
//! plane with neither lease nor heartbeat; the reconciler re-enqueues them, and the next
//! attempt finds the work done (the tenant's own marker says so) and records it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::control::{ControlStore, FinishOutcome, FinishedTask};

/// Outcomes written in one go at most.
const MAX_BATCH: usize = 256;
/// While outcomes stream in (the last write was less than [`BUSY_WITHIN`] ago), how long the
/// recorder waits for more before writing. Each write is a statement, a commit and a check of
/// the job's end: during a large upgrade, one per outcome is most of the control plane's work,
/// on the cores the tenants' DDL runs on. Measured with `bench/evolve.sh` (1,000 tenants,
/// workerSize 4): about 2,400 control-plane statements without the wait, 1,300 with it. A lone
/// outcome is written at once.
const LINGER: Duration = Duration::from_millis(25);
const BUSY_WITHIN: Duration = Duration::from_millis(100);
/// Tries of one write before its outcomes are left to the reconciler.
const MAX_TRIES: u32 = 5;

/// Where slots hand in outcomes; the recorder stops once every sender is dropped and the queue
/// is drained.
pub(super) type OutcomeSender = mpsc::Sender<FinishedTask>;

/// A recorder with room for `capacity` waiting outcomes (a full queue makes slots wait, which
/// is the backpressure wanted when the control plane is slow).
pub(super) fn channel(capacity: usize) -> (OutcomeSender, mpsc::Receiver<FinishedTask>) {
    mpsc::channel(capacity.max(1))
}

/// Writes outcomes until every sender is gone.
pub(super) async fn run(control: Arc<dyn ControlStore>, mut queue: mpsc::Receiver<FinishedTask>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_write: Option<Instant> = None;
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if last_write.is_some_and(|at| at.elapsed() < BUSY_WITHIN) {
            gather(&mut queue, &mut batch).await;
        }
        record(control.as_ref(), &batch).await;
        last_write = Some(Instant::now());
        batch.clear();
    }
}

/// Adds to `batch` what arrives within [`LINGER`] (or until it is full or the queue closes).
async fn gather(queue: &mut mpsc::Receiver<FinishedTask>, batch: &mut Vec<FinishedTask>) {
    let until = tokio::time::Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        match tokio::time::timeout_at(until, queue.recv_many(batch, MAX_BATCH - batch.len())).await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Writes one batch, retrying transient control-plane errors (recording is idempotent per
/// attempt).
async fn record(control: &dyn ControlStore, batch: &[FinishedTask]) {
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    let outcomes = loop {
        match control.finish_tasks(batch).await {
            Ok(outcomes) => break outcomes,
            Err(e) if tries < MAX_TRIES => {
                tracing::warn!(error = %e, tasks = batch.len(), "recording task outcomes failed; retrying");
                tries += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => {
                // The tasks stay RUNNING without a heartbeat: the reconciler re-runs them.
                tracing::error!(
                    error = %e,
                    tasks = ?batch.iter().map(|f| f.id).collect::<Vec<_>>(),
                    "could not record task outcomes; the reconciler will re-run these tasks"
                );
                return;
            }
        }
    };
    for (finished, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            FinishOutcome::JobEnded { status, .. } => {
                tracing::info!(task.id = %finished.id, job.status = %status, "job ended");
            }
            FinishOutcome::Recorded => {}
            FinishOutcome::Stale => {
                tracing::warn!(task.id = %finished.id, task.attempt = finished.attempt,
                    "result not recorded: another attempt owns the task");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::vocab::{TaskId, TaskOutcome};

    fn outcome() -> FinishedTask {
        FinishedTask {
            id: TaskId::new(),
            attempt: 1,
            outcome: TaskOutcome::Finished,
            finished_at: Utc::now(),
            tenant_model: None,
        }
    }

    /// Outcomes arriving within the linger join the batch; a later one waits for the next.
    #[tokio::test(start_paused = true)]
    async fn gather_takes_what_arrives_within_the_linger() {
        let (tx, mut rx) = channel(16);
        let sent: Vec<FinishedTask> = (0..3).map(|_| outcome()).collect();
        let ids: Vec<TaskId> = sent.iter().map(|f| f.id).collect();
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            for (f, at_ms) in sent.into_iter().zip([10, 20, 40]) {
                tokio::time::sleep_until(start + Duration::from_millis(at_ms)).await;
                tx.send(f).await.expect("send");
            }
        });
        let mut batch = vec![outcome()];
        gather(&mut rx, &mut batch).await;
        assert_eq!(
            batch[1..].iter().map(|f| f.id).collect::<Vec<_>>(),
            ids[..2].to_vec(),
            "the outcomes of 10 and 20 ms join, the one of 40 ms does not"
        );
    }

    /// A full batch is written without waiting out the linger, and a closed queue ends it.
    #[tokio::test(start_paused = true)]
    async fn gather_stops_when_full_or_closed() {
        let (tx, mut rx) = channel(MAX_BATCH * 2);
        for _ in 0..MAX_BATCH * 2 {
            tx.send(outcome()).await.expect("send");
        }
        let started = tokio::time::Instant::now();
        let mut batch = vec![outcome()];
        gather(&mut rx, &mut batch).await;
        assert_eq!(batch.len(), MAX_BATCH);
        assert_eq!(started.elapsed(), Duration::ZERO);

        let (tx, mut rx) = channel(4);
        for _ in 0..3 {
            tx.send(outcome()).await.expect("send");
        }
        drop(tx);
        let mut rest = Vec::new();
        gather(&mut rx, &mut rest).await;
        assert_eq!(rest.len(), 3);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "a closed queue ends the wait"
        );
    }
}
