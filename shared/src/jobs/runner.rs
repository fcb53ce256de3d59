//! The runner: claims tasks from the scheduler and executes them, in `mtx-worker` processes and,
//! in the embedded mode, inside `mtx-api`.
//!
//! Per claimed task: mark it RUNNING in the control plane, renew its lease every third of the
//! lease while it runs, execute it, release the claim (fenced by the token) and hand the
//! outcome to the [`recorder`](super::recorder), which writes it to the control plane (fenced
//! by the attempt number) batched with others. A task whose lease is lost is abandoned without
//! recording anything: its new owner records the result. Each successful
//! renewal is also recorded in the control plane (a heartbeat), so that the reconciler can tell
//! a live RUNNING task from one whose lease vanished with Redis' data. Maintenance (reaping
//! expired leases, reconciling the queue with the control plane, deleting old jobs) runs beside.
//! Every attempt's end is counted in [`Metrics`].

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::recorder::{self, OutcomeSender};
use super::service::JobService;
use crate::control::{ControlStore, FinishedTask};
use crate::deploy::Deployer;
use crate::metrics::{Metrics, TaskEnd};
use crate::scheduler::{Claim, Completion, LeaseState, Scheduler};
use crate::vocab::TaskOutcome;

/// How a runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Names this runner in leases, task records and logs.
    pub worker_id: String,
    /// Tasks run at once by this runner.
    pub slots: u32,
    pub lease: Duration,
    pub max_attempts: u32,
    pub task_timeout: Duration,
    /// How long in-flight tasks may take to finish after shutdown was requested.
    pub grace: Duration,
    /// Terminal jobs older than this are deleted.
    pub cleanup_age: Duration,
    /// How often the reconciler re-enqueues unfinished tasks from the control plane.
    pub reconcile_every: Duration,
}

/// Claims and executes tasks until shut down.
#[derive(Debug)]
pub struct Runner {
    config: RunnerConfig,
    control: Arc<dyn ControlStore>,
    scheduler: Arc<dyn Scheduler>,
    deployer: Deployer,
    jobs: JobService,
    metrics: Arc<Metrics>,
}

enum Ending {
    Done(Result<crate::deploy::Executed, crate::deploy::DeployError>),
    TimedOut,
    Cancelled,
    LeaseLost,
    ShutDown,
}

impl Runner {
    /// A runner counting what it does in `metrics`.
    pub fn new(
        config: RunnerConfig,
        jobs: JobService,
        deployer: Deployer,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            control: jobs.control.clone(),
            scheduler: jobs.scheduler.clone(),
            config,
            deployer,
            jobs,
            metrics,
        }
    }

    /// Runs until `shutdown` is cancelled, then stops claiming, lets in-flight tasks finish
    /// within the grace period (handing back those that do not) and returns.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        // In-flight tasks are aborted (and handed back) only when the grace period is over.
        let abort = CancellationToken::new();
        // The recorder ends after the last slot (and so the last sender) is gone.
        let (outcomes, queue) = recorder::channel(self.config.slots as usize * 4);
        tracker.spawn(recorder::run(self.control.clone(), queue));
        for slot in 0..self.config.slots {
            let me = self.clone();
            let shutdown = shutdown.clone();
            let abort = abort.clone();
            let outcomes = outcomes.clone();
            tracker.spawn(async move { me.slot_loop(slot, shutdown, abort, outcomes).await });
        }
        drop(outcomes);
        let me = self.clone();
        let maintenance_stop = shutdown.clone();
        tracker.spawn(async move { me.maintenance_loop(maintenance_stop).await });
        tracker.close();

        shutdown.cancelled().await;
        tracing::info!(worker.id = %self.config.worker_id, "shutting down: no new claims");
        if tokio::time::timeout(self.config.grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over: handing back unfinished tasks");
            abort.cancel();
            tracker.wait().await;
        }
    }

    async fn slot_loop(
        &self,
        slot: u32,
        shutdown: CancellationToken,
        abort: CancellationToken,
        outcomes: OutcomeSender,
    ) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match self
                .scheduler
                .claim(&self.config.worker_id, self.config.lease)
                .await
            {
                Ok(Some(claim)) => {
                    backoff = Duration::from_millis(100);
                    let span = tracing::info_span!(
                        "task",
                        task.id = %claim.task.task,
                        job.id = %claim.task.job,
                        tenant.id = %claim.task.tenant,
                        db.id = %claim.task.database,
                        task.attempt = claim.attempt,
                        worker.slot = slot,
                    );
                    self.execute(claim, &abort, &outcomes)
                        .instrument(span)
                        .await;
                }
                Ok(None) => {
                    tokio::select! {
                        () = self.scheduler.wait_for_work(Duration::from_millis(500)) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn execute(&self, claim: Claim, abort: &CancellationToken, outcomes: &OutcomeSender) {
        let id = claim.task.task;
        let task = match self
            .control
            .start_task(&id, &self.config.worker_id, claim.attempt)
            .await
        {
            Ok(Some(task)) => task,
            Ok(None) => {
                // Cancelled or already finished (e.g. a re-enqueued duplicate): just release.
                self.release(&claim, Completion::Done).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "control plane unavailable; handing the task back");
                self.release(&claim, Completion::HandBack).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        };
        let started = std::time::Instant::now();
        let _in_flight = self.metrics.in_flight();
        let lease_lost = CancellationToken::new();
        let cancel_requested = CancellationToken::new();
        let renewer = self.spawn_renewer(&claim, lease_lost.clone(), cancel_requested.clone());

        // A cancel request does not abandon the attempt: what was sent to the tenant's database
        // would still run there (a statement waiting for a lock goes on once it gets it), and the
        // task would say CANCELLED of a change that was made. The attempt ends as it would (its
        // waits are bounded by the lock and statement time limits), and then counts as
        // cancelled unless it completed the change.
        let execution =
            tokio::time::timeout(self.config.task_timeout, self.deployer.execute(&task));
        tokio::pin!(execution);
        let mut cancelled = false;
        let ending = loop {
            tokio::select! {
                result = &mut execution => break match result {
                    Ok(Err(_)) if cancelled => Ending::Cancelled,
                    Ok(r) => Ending::Done(r),
                    Err(_) if cancelled => Ending::Cancelled,
                    Err(_) => Ending::TimedOut,
                },
                () = lease_lost.cancelled() => break Ending::LeaseLost,
                () = cancel_requested.cancelled(), if !cancelled => {
                    tracing::info!("cancel requested; the running attempt ends first");
                    cancelled = true;
                }
                () = abort.cancelled() => break Ending::ShutDown,
            }
        };
        renewer.abort();
        let finished_at = Utc::now();
        let elapsed = started.elapsed();
        let duration_ms = elapsed.as_millis();

        let mut tenant_model = None;
        let (outcome, completion) = match ending {
            Ending::LeaseLost => {
                tracing::warn!(
                    duration_ms,
                    "lease lost; abandoning the task to its new owner"
                );
                return;
            }
            Ending::ShutDown => {
                self.metrics.task_ended(TaskEnd::HandedBack, elapsed);
                let _ = self
                    .control
                    .requeue_task(&id, claim.attempt, Some("handed back on worker shutdown"))
                    .await;
                self.release(&claim, Completion::HandBack).await;
                return;
            }
            Ending::Cancelled => (TaskOutcome::Cancelled, Completion::Done),
            Ending::TimedOut => (
                TaskOutcome::Timeout {
                    error: format!(
                        "task exceeded its time limit of {} s",
                        self.config.task_timeout.as_secs()
                    ),
                },
                Completion::Done,
            ),
            Ending::Done(Ok(executed)) => {
                tracing::info!(duration_ms, deployed = ?executed.deployed, "task finished");
                tenant_model = executed.tenant_model;
                (TaskOutcome::Finished, Completion::Done)
            }
            Ending::Done(Err(e))
                if e.is_retryable() && claim.attempt < self.config.max_attempts =>
            {
                let backoff = retry_backoff(claim.attempt);
                self.metrics.task_ended(TaskEnd::Retried, elapsed);
                tracing::warn!(duration_ms, error = %e, backoff_ms = backoff.as_millis(), "task failed; will retry");
                if let Err(ce) = self
                    .control
                    .requeue_task(&id, claim.attempt, Some(&e.to_string()))
                    .await
                {
                    tracing::warn!(error = %ce, "could not record the retry");
                }
                self.release(&claim, Completion::Retry { backoff }).await;
                return;
            }
            Ending::Done(Err(e)) => {
                tracing::warn!(duration_ms, error = %e, "task failed");
                (
                    TaskOutcome::Failed {
                        error: e.to_string(),
                    },
                    Completion::Done,
                )
            }
        };
        let end = match &outcome {
            TaskOutcome::Finished => TaskEnd::Finished,
            TaskOutcome::Failed { .. } => TaskEnd::Failed,
            TaskOutcome::Timeout { .. } => TaskEnd::TimedOut,
            TaskOutcome::Cancelled => TaskEnd::Cancelled,
        };
        self.metrics.task_ended(end, elapsed);
        self.release(&claim, completion).await;
        let finished = FinishedTask {
            id,
            attempt: claim.attempt,
            outcome,
            finished_at,
            tenant_model,
        };
        if outcomes.send(finished).await.is_err() {
            // Only when the recorder is gone, i.e. never while slots run.
            tracing::error!("the outcome recorder stopped; the reconciler will re-run the task");
        }
    }

    fn spawn_renewer(
        &self,
        claim: &Claim,
        lease_lost: CancellationToken,
        cancel_requested: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let scheduler = self.scheduler.clone();
        let control = self.control.clone();
        let lease = self.config.lease;
        let held = [(claim.task.task, claim.token)];
        let attempt = claim.attempt;
        tokio::spawn(async move {
            let every = lease / 3;
            // Measured from when the last successful renewal was sent: past it, the lease may
            // have expired in the scheduler, so this worker must stop on its own.
            let mut deadline = tokio::time::Instant::now() + lease;
            loop {
                tokio::time::sleep(every).await;
                let sent = tokio::time::Instant::now();
                match scheduler.renew(&held, lease).await {
                    Ok(states) => match states.first() {
                        Some(LeaseState::Held) => deadline = sent + lease,
                        Some(LeaseState::CancelRequested) => {
                            deadline = sent + lease;
                            cancel_requested.cancel();
                        }
                        Some(LeaseState::Lost) | None => {
                            lease_lost.cancel();
                            return;
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
                if tokio::time::Instant::now() < deadline {
                    // A missed heartbeat only lets the reconciler re-enqueue the task early,
                    // which the scheduler ignores while the lease is held.
                    if let Err(e) = control.heartbeat_task(&held[0].0, attempt).await {
                        tracing::debug!(error = %e, "recording the heartbeat failed");
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    lease_lost.cancel();
                    return;
                }
            }
        })
    }

    async fn release(&self, claim: &Claim, completion: Completion) {
        let mut pause = Duration::from_millis(50);
        for _ in 0..5 {
            match self
                .scheduler
                .complete(&claim.task.task, claim.token, completion)
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "could not release the claim; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        // The lease expires on its own and the reaper frees the slots.
    }

    async fn maintenance_loop(&self, shutdown: CancellationToken) {
        let reap_every =
            (self.config.lease / 6).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut last_reconcile = tokio::time::Instant::now();
        let mut last_cleanup = tokio::time::Instant::now() - Duration::from_secs(3600);
        loop {
            tokio::select! {
                () = tokio::time::sleep(reap_every) => {}
                () = shutdown.cancelled() => return,
            }
            match self.scheduler.reap().await {
                Ok(expired) => {
                    self.metrics.leases_expired(expired.len() as u64);
                    for e in expired {
                        let id = e.task.task;
                        let result = if e.requeued {
                            tracing::warn!(task.id = %id, task.attempt = e.attempt, "lease expired; task requeued");
                            self.control
                                .requeue_task(
                                    &id,
                                    e.attempt,
                                    Some("lease expired: the worker stopped making progress"),
                                )
                                .await
                        } else {
                            let outcome = TaskOutcome::Timeout {
                                error: format!(
                                    "no progress: the lease expired on attempt {} of {}",
                                    e.attempt, e.task.max_attempts
                                ),
                            };
                            self.control
                                .finish_task(&id, e.attempt, &outcome)
                                .await
                                .map(|_| ())
                        };
                        if let Err(err) = result {
                            tracing::warn!(task.id = %id, error = %err, "could not record an expired lease");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reaping expired leases failed"),
            }
            if last_reconcile.elapsed() >= self.config.reconcile_every {
                last_reconcile = tokio::time::Instant::now();
                if let Err(e) = self.jobs.reconcile().await {
                    tracing::warn!(error = %e, "reconciling the queue with the control plane failed");
                }
            }
            if last_cleanup.elapsed() >= Duration::from_secs(600) {
                last_cleanup = tokio::time::Instant::now();
                let cutoff = Utc::now()
                    - chrono::Duration::from_std(self.config.cleanup_age)
                        .unwrap_or(chrono::Duration::days(7));
                match self.control.delete_jobs_before(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(jobs = n, "deleted old jobs"),
                    Err(e) => tracing::warn!(error = %e, "job cleanup failed"),
                }
            }
        }
    }
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 5 minutes, ±20 %.
fn retry_backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempt.saturating_sub(1).min(9));
    let base = base.min(Duration::from_secs(300));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 400) as u64; // 0..400 per mille of 20 % band
    let factor = 800 + jitter; // 0.8 .. 1.2
    base * u32::try_from(factor).unwrap_or(1000) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = retry_backoff(1);
        assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
        let third = retry_backoff(3);
        assert!(third >= Duration::from_millis(3200) && third <= Duration::from_millis(4800));
        assert!(retry_backoff(30) <= Duration::from_secs(360));
    }
}
