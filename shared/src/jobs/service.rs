//! The job service: turns a tenant operation into a job of per-tenant tasks, records it in the
//! control plane (the source of truth) and hands the tasks to the scheduler.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::JobsConfig;
use crate::control::{ControlError, ControlStore, TenantRecord};
use crate::scheduler::{Limits, QueuedTask, Scheduler, SchedulerError};
use crate::tenant::{TenantStore, TenantStoreError};
use crate::tenant_models::TenantModels;
use crate::versions::VersionError;
use crate::vocab::{
    CallbackRecord, DatabaseId, Job, JobId, JobWithTasks, ModelHash, NewCallback, Status, Task,
    TaskArgs, TaskId, TenantId,
};

/// Which tenants an upgrade covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSelection {
    /// `["*"]`: every subscribed tenant.
    All,
    /// Exactly these tenants (duplicates removed), each of which must be subscribed.
    Only(Vec<TenantId>),
}

/// Why a job could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("Tenant operation job queue is full. Please try again later.")]
    QueueFull,
    #[error("{}", not_found_message(.0))]
    TenantsNotFound(Vec<TenantId>),
    #[error("database '{0}' is not configured")]
    UnknownDatabase(String),
    #[error("No job found for ID {0}")]
    JobNotFound(JobId),
    /// Only an ended job's failures can be re-run (a running job's tasks may still retry).
    #[error("Job {0} has not ended yet; its failed tasks can be re-run once it has")]
    JobNotEnded(JobId),
    #[error(transparent)]
    Control(ControlError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error(transparent)]
    Store(#[from] TenantStoreError),
}

fn not_found_message(tenants: &[TenantId]) -> String {
    match tenants {
        [one] => format!("Tenant {one} not found"),
        many => format!(
            "Tenants not found: {}",
            many.iter()
                .map(TenantId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl From<ControlError> for JobError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::QueueFull => JobError::QueueFull,
            other => JobError::Control(other),
        }
    }
}

/// Creates jobs and reports on them.
#[derive(Debug, Clone)]
pub struct JobService {
    pub(crate) control: Arc<dyn ControlStore>,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) tenants: Arc<dyn TenantStore>,
    /// Each task's target model comes from here, tenant by tenant.
    pub(crate) models: Arc<dyn TenantModels>,
    config: JobsConfig,
}

impl JobService {
    pub fn new(
        control: Arc<dyn ControlStore>,
        scheduler: Arc<dyn Scheduler>,
        tenants: Arc<dyn TenantStore>,
        models: Arc<dyn TenantModels>,
        config: JobsConfig,
    ) -> Self {
        Self {
            control,
            scheduler,
            tenants,
            models,
            config,
        }
    }

    /// Subscribes (or re-subscribes) a tenant: deploys its target model and stores the
    /// subscription metadata (deep-merged into what is stored). `database` places a new tenant
    /// explicitly; otherwise it goes to the least loaded database. `callback` is recorded with
    /// the job and sent once it ends.
    pub async fn subscribe(
        &self,
        tenant: TenantId,
        metadata: serde_json::Value,
        database: Option<DatabaseId>,
        callback: Option<NewCallback>,
    ) -> Result<JobWithTasks, JobError> {
        let model = self.models.target(&tenant).await?;
        let existing = self.control.get_tenant(&tenant).await?;
        let database = match (existing, database) {
            (Some(record), _) => record.location.database().clone(),
            (None, Some(db)) => {
                if !self.tenants.databases().contains(&db) {
                    return Err(JobError::UnknownDatabase(db.to_string()));
                }
                db
            }
            (None, None) => self.least_loaded_database().await?,
        };
        self.enqueue(
            TaskArgs::Subscribe { metadata },
            vec![(tenant, database, Some(model.hash.clone()))],
            callback,
        )
        .await
    }

    /// Unsubscribes a tenant: removes its storage and its control-plane row. Unknown tenants
    /// are accepted (the job finishes without doing anything), as cds-mtxs does.
    pub async fn unsubscribe(
        &self,
        tenant: TenantId,
        callback: Option<NewCallback>,
    ) -> Result<JobWithTasks, JobError> {
        let database = match self.control.get_tenant(&tenant).await? {
            Some(record) => record.location.database().clone(),
            None => self.default_database()?,
        };
        self.enqueue(
            TaskArgs::Unsubscribe,
            vec![(tenant, database, None)],
            callback,
        )
        .await
    }

    /// The tenants a selection stands for, ordered by id. Unknown tenants in an explicit list
    /// refuse the whole selection.
    pub async fn select(&self, selection: TenantSelection) -> Result<Vec<TenantRecord>, JobError> {
        match selection {
            TenantSelection::All => Ok(self.control.list_tenants().await?),
            TenantSelection::Only(ids) => {
                let mut seen = BTreeSet::new();
                let mut found = Vec::new();
                let mut missing = Vec::new();
                for id in ids {
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    match self.control.get_tenant(&id).await? {
                        Some(record) => found.push(record),
                        None => missing.push(id),
                    }
                }
                if !missing.is_empty() {
                    return Err(JobError::TenantsNotFound(missing));
                }
                found.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(found)
            }
        }
    }

    /// Upgrades the selected tenants, each to its target model. `None` when the selection is empty
    /// (no job is created). Unknown tenants in an explicit list refuse the whole request.
    pub async fn upgrade(
        &self,
        selection: TenantSelection,
        options: serde_json::Map<String, serde_json::Value>,
        callback: Option<NewCallback>,
    ) -> Result<Option<JobWithTasks>, JobError> {
        let records = self.select(selection).await?;
        if records.is_empty() {
            return Ok(None);
        }
        let ids: Vec<TenantId> = records.iter().map(|r| r.id.clone()).collect();
        let models = self.models.targets(&ids).await?;
        let targets = records
            .into_iter()
            .zip(models)
            .map(|(r, model)| {
                let db = r.location.database().clone();
                (r.id, db, Some(model.hash.clone()))
            })
            .collect();
        self.enqueue(TaskArgs::Upgrade { options }, targets, callback)
            .await
            .map(Some)
    }

    async fn enqueue(
        &self,
        args: TaskArgs,
        targets: Vec<(TenantId, DatabaseId, Option<ModelHash>)>,
        callback: Option<NewCallback>,
    ) -> Result<JobWithTasks, JobError> {
        let now = Utc::now();
        let job = Job {
            id: JobId::new(),
            args: args.clone(),
            status: Status::Queued,
            error: None,
            created_at: now,
            modified_at: now,
        };
        let mut tasks: Vec<Task> = targets
            .into_iter()
            .map(|(tenant, database, model)| Task {
                id: TaskId::new(),
                job_id: job.id,
                tenant,
                args: args.clone(),
                status: Status::Queued,
                error: None,
                database,
                model,
                attempt: 0,
                worker: None,
                created_at: now,
                modified_at: now,
                started_at: None,
                finished_at: None,
            })
            .collect();
        tasks.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        self.control
            .insert_job_with_callback(&job, &tasks, self.config.queue_size, callback.as_ref())
            .await?;
        let queued: Vec<QueuedTask> = tasks.iter().map(|t| self.queued(t)).collect();
        if let Err(e) = self.scheduler.enqueue(&queued).await {
            // The job is recorded; the reconciler hands its tasks to the queue once it is back.
            tracing::warn!(job.id = %job.id, error = %e, "queue unavailable; job recorded, enqueue deferred");
        }
        tracing::info!(job.id = %job.id, job.op = %job.op(), tasks = tasks.len(), "job enqueued");
        Ok(JobWithTasks { job, tasks })
    }

    /// The scheduler's view of a task.
    pub fn queued(&self, task: &Task) -> QueuedTask {
        QueuedTask {
            task: task.id,
            job: task.job_id,
            tenant: task.tenant.clone(),
            database: task.database.clone(),
            lane: task.op().lane(),
            max_attempts: self.config.max_attempts,
        }
    }

    /// Hands the control plane's unfinished tasks to the scheduler again (idempotent: the
    /// scheduler ignores tasks it holds). Run at start-up and by the reconciler: the control
    /// plane is the truth, the queue only transport, so a restarted in-process queue or a
    /// flushed Redis loses nothing.
    ///
    /// QUEUED tasks always go; RUNNING ones only once their heartbeat is older than a lease
    /// (their worker renews it every third of a lease). A live worker whose lease vanished with
    /// Redis' data learns so at its next renewal and stops; only then can its task be claimed
    /// again, so a flush never lets two copies of a task run at once.
    pub async fn reconcile(&self) -> Result<usize, JobError> {
        let unfinished = self.control.unfinished_tasks().await?;
        let stale_before = Utc::now()
            - chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        let queued: Vec<QueuedTask> = unfinished
            .iter()
            .filter(|t| t.status == Status::Queued || t.modified_at < stale_before)
            .map(|t| self.queued(t))
            .collect();
        for chunk in queued.chunks(1000) {
            self.scheduler
                .enqueue(chunk)
                .await
                .map_err(|e| JobError::Control(ControlError::Unavailable(e.to_string())))?;
        }
        Ok(queued.len())
    }

    /// Waits until the job ends or `timeout` passes; `None` on timeout.
    pub async fn wait(
        &self,
        id: &JobId,
        timeout: Duration,
    ) -> Result<Option<JobWithTasks>, JobError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(job) = self.control.get_job(id).await?
                && job.job.status.is_terminal()
            {
                return Ok(Some(job));
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    async fn least_loaded_database(&self) -> Result<DatabaseId, JobError> {
        let counts = self.control.tenants_per_database().await?;
        self.tenants
            .databases()
            .into_iter()
            .min_by_key(|db| counts.get(db).copied().unwrap_or(0))
            .ok_or_else(|| JobError::UnknownDatabase("(none configured)".into()))
    }

    fn default_database(&self) -> Result<DatabaseId, JobError> {
        self.tenants
            .databases()
            .into_iter()
            .next()
            .ok_or_else(|| JobError::UnknownDatabase("(none configured)".into()))
    }
}

impl From<SchedulerError> for JobError {
    fn from(e: SchedulerError) -> Self {
        JobError::Control(ControlError::Unavailable(e.to_string()))
    }
}

/// Job hygiene: cancelling, re-running failures, runtime limits.
impl JobService {
    /// Cancels a job: queued tasks end CANCELLED at once and leave the queue; running ones are
    /// flagged (their worker learns it at the next lease renewal), end with their current
    /// attempt, and are CANCELLED unless that attempt completed its change (then FINISHED: the
    /// runner never abandons an attempt for a cancel, since what it sent to the tenant's
    /// database would still run there). Idempotent; an ended job is returned unchanged. `None`
    /// for an unknown job.
    ///
    /// When the queue cannot be told, the error says so (retryable): the control plane has
    /// cancelled the queued tasks already (a worker that claims one anyway drops it), but the
    /// running ones would go on until the call is repeated.
    pub async fn cancel(&self, id: &JobId) -> Result<Option<JobWithTasks>, JobError> {
        let Some(outcome) = self.control.cancel_job(id).await? else {
            return Ok(None);
        };
        let tasks: Vec<TaskId> = outcome
            .cancelled
            .iter()
            .chain(&outcome.running)
            .copied()
            .collect();
        if !tasks.is_empty() {
            self.scheduler.cancel(&tasks).await?;
        }
        tracing::info!(
            job.id = %id,
            tasks.cancelled = outcome.cancelled.len(),
            tasks.running = outcome.running.len(),
            job.status = %outcome.status,
            "job cancelled"
        );
        Ok(self.control.get_job(id).await?)
    }

    /// Re-runs the tasks of an ended job that FAILED or TIMED OUT: a new job with the same
    /// operation and arguments over those tenants, each on its recorded database and towards
    /// the same model version (a re-run repeats the attempt, it does not pick up a newer model;
    /// an `upgrade` does). `Ok(None)` when nothing failed.
    pub async fn retry_failed(&self, id: &JobId) -> Result<Option<JobWithTasks>, JobError> {
        let job = self
            .control
            .get_job(id)
            .await?
            .ok_or(JobError::JobNotFound(*id))?;
        if !job.job.status.is_terminal() {
            return Err(JobError::JobNotEnded(*id));
        }
        let failed: Vec<&Task> = job
            .tasks
            .iter()
            .filter(|t| matches!(t.status, Status::Failed | Status::Timeout))
            .collect();
        if failed.is_empty() {
            return Ok(None);
        }
        // Each tenant is re-run towards the model its failed task was planned for.
        let targets = failed
            .iter()
            .map(|t| (t.tenant.clone(), t.database.clone(), t.model.clone()))
            .collect();
        let retry = self
            // An operator's re-run: nobody waits for a callback about it.
            .enqueue(job.job.args.clone(), targets, None)
            .await?;
        tracing::info!(job.id = %id, retry.job.id = %retry.job.id, tasks = retry.tasks.len(), "failed tasks re-run");
        Ok(Some(retry))
    }

    /// The limits in effect across every process sharing the queue.
    pub async fn limits(&self) -> Result<Limits, JobError> {
        Ok(self.scheduler.limits().await?)
    }

    /// Changes the limits for every process at once, without a restart (stored in Redis in
    /// the production mode). Tasks already running are not interrupted; new claims obey.
    pub async fn set_limits(&self, limits: Limits) -> Result<Limits, JobError> {
        self.scheduler.set_limits(limits).await?;
        tracing::info!(
            limits.worker_size = limits.worker_size,
            limits.cluster_size = limits.cluster_size,
            "job limits changed"
        );
        Ok(limits)
    }
}

/// Reads, for the jobs and provisioning APIs.
impl JobService {
    pub async fn job(&self, id: &JobId) -> Result<Option<JobWithTasks>, JobError> {
        Ok(self.control.get_job(id).await?)
    }

    /// The newest `limit` jobs, newest first.
    pub async fn jobs(&self, limit: usize) -> Result<Vec<JobWithTasks>, JobError> {
        Ok(self.control.list_jobs(limit).await?)
    }

    /// The status callbacks of these jobs, with their attempts (jobs without one are absent).
    pub async fn callbacks(
        &self,
        jobs: &[JobId],
    ) -> Result<HashMap<JobId, CallbackRecord>, JobError> {
        Ok(self.control.callbacks_of(jobs).await?)
    }

    pub async fn task(&self, id: &TaskId) -> Result<Option<Task>, JobError> {
        Ok(self.control.get_task(id).await?)
    }

    pub async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, JobError> {
        Ok(self.control.get_tenant(id).await?)
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRecord>, JobError> {
        Ok(self.control.list_tenants().await?)
    }
}
