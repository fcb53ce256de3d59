//! The control plane ("t0"): tenants, jobs, tasks and model versions, kept apart from tenant
//! storage. It is the source of truth for every job; the scheduler is only the transport.
//!
//! ## Layout
//!
//! One implementation of [`ControlStore`], [`store::SqlControlStore`], generic over a
//! [`Dialect`]: the transactions, the statements both databases understand (written once, in
//! `dialect`), row decoding and error classification live in `store`; a dialect adds only what
//! truly differs. [`postgres::PostgresControlStore`] keeps schema `mtx` in the first database
//! (migrations in `migrations/postgres/`); [`sqlite::SqliteControlStore`] keeps
//! `mtx-control.sqlite` in the embedded data directory (migrations in `migrations/sqlite/`).
//! Both schemas are run by `sqlx::migrate!`, so a new table is one migration per dialect and one
//! store method. What the stores share beyond SQL is pure: [`metadata`] (how subscription
//! payloads are merged) and the private `codec` (column values, timestamp precision, and the one
//! place where database errors become [`ControlError`]s).
//!
//! Data flow: a [`ControlStore`] call runs its statements on the dialect's pools (readers,
//! durable writers, relaxed bookkeeping), decodes rows into `vocab` types through `codec`, and
//! returns typed errors only: no `sqlx` error crosses this module's boundary (the PostgreSQL
//! store still takes and lends its pool, for callers that share it).

mod codec;
mod dialect;
pub mod metadata;
pub mod postgres;
pub mod sqlite;
pub mod store;

pub use dialect::Dialect;

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::tenant::StorageLocation;
use crate::vocab::{
    CallbackAttempt, CallbackRecord, DatabaseId, DueCallback, Job, JobId, JobWithTasks, ModelHash,
    NewCallback, NextStep, Status, Task, TaskId, TaskOutcome, TenantId,
};

/// A subscribed tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub id: TenantId,
    /// The subscription payload(s), deep-merged over re-subscriptions (a JSON object).
    pub metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub location: StorageLocation,
    /// The model version the tenant's schema was last deployed from.
    pub model: Option<ModelHash>,
}

/// A task just marked RUNNING ([`ControlStore::start_task`]), with its tenant's record as it was
/// at that moment: `None` for a tenant not (or no longer) subscribed.
#[derive(Debug, Clone, PartialEq)]
pub struct StartedTask {
    pub task: Task,
    pub tenant: Option<TenantRecord>,
}

/// How one attempt of a task ended, for [`ControlStore::finish_tasks`].
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedTask {
    pub id: TaskId,
    pub attempt: u32,
    pub outcome: TaskOutcome,
    /// When the attempt ended, which may be a little before its outcome is written.
    pub finished_at: DateTime<Utc>,
    /// The model version the attempt left its tenant's storage at, recorded as the tenant's
    /// version together with the outcome (`None`: the tenant's record is left as it is).
    pub tenant_model: Option<ModelHash>,
}

/// Errors of the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The number of unfinished jobs reached `queueSize`; nothing was written.
    #[error("Tenant operation job queue is full. Please try again later.")]
    QueueFull,
    /// The database cannot be reached or is busy (lost connection, exhausted pool, SQLite's
    /// busy timeout): retrying later may succeed.
    #[error("control plane unavailable: {0}")]
    Unavailable(String),
    /// A stored value is not a valid domain value, or the schema is newer than this build.
    #[error("control plane data is inconsistent: {0}")]
    Corrupt(String),
    /// The database refused a statement for a reason retrying will not cure. The driver's error
    /// is kept as the source, without exposing its type.
    #[error(transparent)]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date.
    #[error(transparent)]
    Migration(Box<dyn std::error::Error + Send + Sync>),
}

/// What happened when a task attempt reported its outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum FinishOutcome {
    /// Recorded; the job is still running.
    Recorded,
    /// Recorded, and it was the job's last task: the job ended with this status.
    JobEnded {
        status: Status,
        error: Option<String>,
    },
    /// Not recorded: the task is already terminal, or another attempt owns it (a stale worker).
    Stale,
}

/// What cancelling a job did ([`ControlStore::cancel_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelOutcome {
    /// Tasks that were QUEUED and are CANCELLED now.
    pub cancelled: Vec<TaskId>,
    /// Tasks that are RUNNING: flagged in the scheduler, they end with their current attempt
    /// (see [`crate::jobs::service::JobService::cancel`]), the last of them ending the job.
    pub running: Vec<TaskId>,
    /// The job's status afterwards (terminal when nothing was running).
    pub status: Status,
}

/// The control-plane store.
#[async_trait]
pub trait ControlStore: Send + Sync + Debug {
    // --- model versions ---

    /// Stores a model version (idempotent: a known hash is left as it is).
    async fn put_model(&self, hash: &ModelHash, csn_json: &str) -> Result<(), ControlError>;
    /// The CSN of a stored model version.
    async fn get_model(&self, hash: &ModelHash) -> Result<Option<String>, ControlError>;

    // --- tenants ---

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, ControlError>;
    /// All tenants, ordered by id.
    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, ControlError>;
    /// Creates the tenant or deep-merges `metadata` into the stored metadata (keeping
    /// `created_at`, bumping `modified_at`). The location of an existing tenant is kept.
    async fn upsert_tenant(
        &self,
        id: &TenantId,
        metadata: &serde_json::Value,
        location: &StorageLocation,
    ) -> Result<TenantRecord, ControlError>;
    /// Records the model version the tenant's schema is now at.
    async fn set_tenant_model(&self, id: &TenantId, model: &ModelHash) -> Result<(), ControlError>;
    /// Removes the tenant's row; `false` if there was none.
    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, ControlError>;
    /// Number of tenants placed on each database (for placing new tenants on the least loaded).
    async fn tenants_per_database(&self) -> Result<HashMap<DatabaseId, u64>, ControlError>;

    // --- jobs and tasks ---

    /// Inserts a job with its tasks in one transaction, unless `queue_limit` unfinished
    /// (QUEUED or RUNNING) jobs exist already: then [`ControlError::QueueFull`] and nothing is
    /// written. The check and the insert are atomic across processes.
    async fn insert_job(
        &self,
        job: &Job,
        tasks: &[Task],
        queue_limit: usize,
    ) -> Result<(), ControlError> {
        self.insert_job_with_callback(job, tasks, queue_limit, None)
            .await
    }
    /// [`ControlStore::insert_job`], recording in the same transaction the status callback the
    /// job owes (PENDING, due as soon as the job ends).
    async fn insert_job_with_callback(
        &self,
        job: &Job,
        tasks: &[Task],
        queue_limit: usize,
        callback: Option<&NewCallback>,
    ) -> Result<(), ControlError>;
    async fn get_job(&self, id: &JobId) -> Result<Option<JobWithTasks>, ControlError>;
    /// The newest `limit` jobs, newest first, each with its tasks ordered by tenant.
    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobWithTasks>, ControlError>;
    async fn get_task(&self, id: &TaskId) -> Result<Option<Task>, ControlError>;
    /// Marks a task RUNNING for `attempt` by `worker` (also from RUNNING, when a lease expired
    /// and the task is re-run) and its job RUNNING. `None` if the task is unknown or terminal.
    async fn start_task(
        &self,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError>;
    /// Records how attempts of tasks ended (with the versions their tenants are at now), in one
    /// write, and ends each job whose last unfinished task was among them (rolling up status
    /// and error summary with [`crate::vocab::roll_up`]). Concurrent completions cannot leave a
    /// job unfinished. One outcome per input, in input order; of several tasks of a job that
    /// ended, one reports [`FinishOutcome::JobEnded`].
    async fn finish_tasks(
        &self,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError>;
    /// [`ControlStore::finish_tasks`] for one task that leaves its tenant's version as it is.
    async fn finish_task(
        &self,
        id: &TaskId,
        attempt: u32,
        outcome: &TaskOutcome,
    ) -> Result<FinishOutcome, ControlError> {
        let finished = FinishedTask {
            id: *id,
            attempt,
            outcome: outcome.clone(),
            finished_at: Utc::now(),
            tenant_model: None,
        };
        let mut outcomes = self.finish_tasks(std::slice::from_ref(&finished)).await?;
        Ok(outcomes.pop().unwrap_or(FinishOutcome::Stale))
    }
    /// Puts a RUNNING task back to QUEUED (retry after a failed attempt, or hand-back on
    /// shutdown), keeping the last error.
    async fn requeue_task(
        &self,
        id: &TaskId,
        attempt: u32,
        error: Option<&str>,
    ) -> Result<(), ControlError>;
    /// Records that `attempt` of a RUNNING task is alive (its lease was just renewed) by
    /// bumping `modified_at`, so the reconciler can tell a live task from one whose worker and
    /// lease are gone. `false` when the task is not RUNNING under `attempt`.
    async fn heartbeat_task(&self, id: &TaskId, attempt: u32) -> Result<bool, ControlError>;
    /// Cancels a job: its QUEUED tasks become CANCELLED at once; RUNNING ones are reported, to be
    /// stopped through the scheduler. When nothing is left running the job ends (rolled up
    /// with [`crate::vocab::roll_up`]). A terminal job is left as it is. `None` for an unknown
    /// job. Serialized with [`ControlStore::finish_task`] per job.
    async fn cancel_job(&self, id: &JobId) -> Result<Option<CancelOutcome>, ControlError>;
    /// Every QUEUED or RUNNING task, oldest first (for re-enqueueing after a restart).
    async fn unfinished_tasks(&self) -> Result<Vec<Task>, ControlError>;
    /// Deletes terminal jobs (and their tasks and callbacks) last modified before `before`;
    /// returns how many.
    async fn delete_jobs_before(&self, before: DateTime<Utc>) -> Result<u64, ControlError>;

    // --- status callbacks ---

    /// The callbacks of these jobs (jobs without one are absent), each with its attempts.
    async fn callbacks_of(
        &self,
        jobs: &[JobId],
    ) -> Result<HashMap<JobId, CallbackRecord>, ControlError>;
    /// Claims up to `limit` PENDING callbacks whose job has ended and whose next attempt is due,
    /// oldest first: counts the attempt and moves `next_attempt_at` `lease` ahead, so no other
    /// process claims them meanwhile (and they come back if this one dies). Claims by
    /// concurrent processes never overlap.
    async fn claim_due_callbacks(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError>;
    /// Records an attempt and what follows it. The state changes only if `attempt.number` is
    /// still the callback's latest claimed attempt and it is PENDING; returns whether it did
    /// (the attempt itself is recorded either way).
    async fn record_callback_attempt(
        &self,
        job: &JobId,
        attempt: &CallbackAttempt,
        next: NextStep,
    ) -> Result<bool, ControlError>;
    /// Hands back a claimed attempt that was never sent (the process is shutting down): the
    /// callback is due again at once and the attempt is not counted. A no-op unless
    /// `attempt` is still the callback's latest claim.
    async fn release_callback_claim(&self, job: &JobId, attempt: u32) -> Result<(), ControlError>;
}
