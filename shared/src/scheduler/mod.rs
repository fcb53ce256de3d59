//! The scheduler: which queued task runs next, on which worker, within the global limits.
//!
//! The control plane records *what* must happen; the scheduler only decides *when*. It enforces,
//! atomically across every process that shares it:
//! - at most `workerSize` tasks running per database,
//! - at most `clusterSize` databases being worked on at once,
//! - at most one task per tenant, in the order the tenant's tasks were enqueued,
//! - provisioning (subscribe/unsubscribe) ahead of bulk upgrades, without starving the bulk lane.
//!
//! A claim is a lease with a fencing token: the worker renews it while the task runs; if the
//! worker dies, the lease expires and the task is claimed again (attempts are counted at claim,
//! so a task that keeps killing its worker ends after `max_attempts`). A completion carrying a
//! stale token is rejected.
//!
//! Implementations: [`memory::MemoryScheduler`] (in process, for the embedded mode) and, with
//! `MTX_REDIS_URL`, [`redis::RedisScheduler`] (Lua scripts over Redis). Both pass the same
//! conformance suite ([`conformance`]).
//!
//! # Where the truth lives
//! The control plane, not the queue. A job and its tasks are written there first
//! ([`crate::jobs::service::JobService`]), then handed to the scheduler; the scheduler holds
//! only what it needs to apply the limits ([`QueuedTask`]). Whatever the queue loses (an
//! in-process queue on restart, a Redis without persistence, a flush) the reconciler hands back
//! from the control plane every `MTX_RECONCILE_MS`: QUEUED tasks, and RUNNING tasks whose
//! heartbeat (recorded on each lease renewal) is older than a lease. `enqueue` is idempotent
//! per task, so re-enqueueing what the queue still holds changes nothing.
//!
//! # Why not a queue library
//! The obvious candidate, apalis with apalis-redis 1.0, was measured for this project (design
//! record `queue.md`) and rejected:
//! - more than 7,999 due tasks at one fetch crash every worker, for good (an unbounded Lua
//!   `unpack`), and a 10,000-tenant `upgrade ["*"]` is exactly that;
//! - each task start costs O(backlog) (`LREM` on the in-flight list: about 1 ms per start at a
//!   46,000-task backlog, a ceiling of some 900 starts per second across all workers);
//! - `max_attempts` is ignored (a failing migration would run 25 times), and orphan rescue
//!   neither counts the attempt nor resets the status, so a task that kills its worker loops;
//! - a killed worker's tasks come back only after about 5 minutes, and only if a worker of the
//!   same name registers; a Redis restart ends the worker instead of reconnecting;
//! - it has no global limits and no per-tenant mutual exclusion at all.
//!
//! The limits (per database, per cluster, per tenant, lanes without starvation) need an atomic
//! decision over shared state whatever carries the tasks; once such a scheduler exists in Redis
//! it *is* the queue. So [`redis::RedisScheduler`] is a handful of Lua scripts on the `redis`
//! crate, one per trait method, each atomic on the Redis thread, every loop bounded; claims cost
//! O(active databases + scan depth), never O(backlog). Its module doc has the key layout and the
//! failure behaviour. [`memory::MemoryScheduler`] implements the same decisions under a mutex
//! for the embedded mode, and [`conformance`] holds both to one behaviour.

#[cfg(test)]
mod conformance;
pub mod memory;
pub mod redis;

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::vocab::{DatabaseId, JobId, Lane, TaskId, TenantId};

/// After this many provisioning claims in a row while bulk work waits, one bulk task goes first
/// (the anti-starvation burst). Shared by every implementation.
pub const PROVISIONING_BURST: u32 = 4;
/// How many queued tasks of one database and lane a claim looks at for a task whose tenant has
/// nothing older outstanding. Shared by every implementation.
pub const SCAN_DEPTH: usize = 1000;

/// What the scheduler knows of a task: enough to apply the limits, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedTask {
    pub task: TaskId,
    pub job: JobId,
    pub tenant: TenantId,
    pub database: DatabaseId,
    pub lane: Lane,
    pub max_attempts: u32,
}

/// Monotonic token handed out with every claim; a completion or renewal must carry the token of
/// the current claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FenceToken(pub u64);

/// A claimed task: run it, renew the lease, then complete it with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub task: QueuedTask,
    pub token: FenceToken,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// The global limits. Changeable at runtime ([`Scheduler::set_limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Parallel tasks per database.
    pub worker_size: u32,
    /// Databases worked on at once.
    pub cluster_size: u32,
}

/// How a claimed task ended, as far as the queue is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Done for good (finished, failed permanently, cancelled, timed out).
    Done,
    /// Failed but worth another attempt after `backoff` (if attempts remain; the runner checks).
    Retry { backoff: Duration },
    /// Handed back without counting the attempt (graceful shutdown).
    HandBack,
}

/// The state of one lease after a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Held,
    /// Held, and somebody asked to cancel the task: end it with its current attempt.
    CancelRequested,
    /// Expired or taken over: stop working on the task, its result will be rejected.
    Lost,
}

/// A lease that expired without completion, and what the scheduler did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub task: QueuedTask,
    /// The attempt whose lease expired.
    pub attempt: u32,
    /// `true`: queued again for another attempt; `false`: attempts exhausted, the task is out
    /// of the queue and must be marked TIMEOUT.
    pub requeued: bool,
}

/// A point-in-time view of the queue, for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub queued_provisioning: u64,
    pub queued_bulk: u64,
    pub delayed: u64,
    /// (database, running tasks), databases with running tasks only.
    pub running: Vec<(DatabaseId, u64)>,
}

/// Errors of the scheduler's transport. Those of the [`Scheduler`] methods are always retryable
/// by the caller (with backoff).
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue data is inconsistent: {0}")]
    Corrupt(String),
    /// Only from constructors: the configuration (URL, key prefix) is wrong; retrying won't help.
    #[error("queue configuration is invalid: {0}")]
    Config(String),
}

/// The scheduler seam shared by the embedded and the distributed mode.
#[async_trait]
pub trait Scheduler: Send + Sync + Debug {
    /// Adds tasks to the queue (idempotent per task id: a task already queued or running is left
    /// alone, so the reconciler can re-enqueue from the control plane safely).
    async fn enqueue(&self, tasks: &[QueuedTask]) -> Result<(), SchedulerError>;

    /// Claims the next runnable task within the limits, leasing it to `worker` for `lease`.
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Claim>, SchedulerError>;

    /// Extends the leases `worker` holds; one state per claim, in order.
    async fn renew(
        &self,
        claims: &[(TaskId, FenceToken)],
        lease: Duration,
    ) -> Result<Vec<LeaseState>, SchedulerError>;

    /// Ends a claim, releasing its slots. `false` when the token is stale (the claim was lost):
    /// the caller must then not record its result.
    async fn complete(
        &self,
        task: &TaskId,
        token: FenceToken,
        completion: Completion,
    ) -> Result<bool, SchedulerError>;

    /// Expires overdue leases (releasing their slots) and reports them. Idempotent; every worker
    /// calls it periodically.
    async fn reap(&self) -> Result<Vec<Expired>, SchedulerError>;

    /// Cancels tasks: queued ones leave the queue (returned), running ones are flagged so the
    /// next renewal reports [`LeaseState::CancelRequested`].
    async fn cancel(&self, tasks: &[TaskId]) -> Result<Vec<TaskId>, SchedulerError>;

    async fn limits(&self) -> Result<Limits, SchedulerError>;
    async fn set_limits(&self, limits: Limits) -> Result<(), SchedulerError>;
    async fn stats(&self) -> Result<QueueStats, SchedulerError>;

    /// Waits until work may be available (an enqueue or a completion happened) or `timeout`
    /// passes. Losing a wake-up only costs latency.
    async fn wait_for_work(&self, timeout: Duration);
}
