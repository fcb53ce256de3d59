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
use std::time::Duration;

use tokio::sync::mpsc;

use crate::control::{ControlStore, FinishOutcome, FinishedTask};

/// Outcomes written in one go at most.
const MAX_BATCH: usize = 256;
/// Tries of one write before its outcomes are left to the reconciler.
const MAX_TRIES: u32 = 5;

/// Where slots hand in outcomes; the recorder stops once every sender is dropped and the queue
/// is drained.
pub type OutcomeSender = mpsc::Sender<FinishedTask>;

/// A recorder with room for `capacity` waiting outcomes (a full queue makes slots wait, which
/// is the backpressure wanted when the control plane is slow).
pub fn channel(capacity: usize) -> (OutcomeSender, mpsc::Receiver<FinishedTask>) {
    mpsc::channel(capacity.max(1))
}

/// Writes outcomes until every sender is gone.
pub async fn run(control: Arc<dyn ControlStore>, mut queue: mpsc::Receiver<FinishedTask>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        record(control.as_ref(), &batch).await;
        batch.clear();
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
