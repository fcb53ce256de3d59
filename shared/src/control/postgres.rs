//! The control plane on PostgreSQL: schema `mtx` (migrations in `migrations/`), shared by every
//! API and worker process.
//!
//! Cross-process guarantees come from the database itself: the queue-size check and the job
//! insert run under one transaction-scoped advisory lock. Task transitions touch only their own
//! task row, so thousands of tasks of one job start and finish without queueing on the job row;
//! a job is ended by whichever completion, *after its own commit*, finds no unfinished task left
//! (the last committer always does), and a status guard on the job row lets exactly one of
//! several such completions end it.
//!
//! Task bookkeeping (start, finish, requeue, heartbeat, a tenant's recorded version) commits
//! without waiting for the WAL flush (`synchronous_commit = off`): each of these is re-derivable,
//! because a tenant's own version marker commits durably with its DDL and every task is
//! idempotent, so what a crash of PostgreSQL could lose (the last few milliseconds) only means a
//! task is run once more and finds its work done. What must survive is committed durably: an
//! accepted job, a tenant's subscription, a job's end (whose flush also makes every earlier task
//! record durable) and the callback outbox. This takes three WAL flushes off every task.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::codec::{self, unfinished_sql};
use super::{
    CancelOutcome, ControlError, ControlStore, FinishOutcome, FinishedTask, StartedTask,
    TenantRecord, metadata,
};
use crate::tenant::StorageLocation;
use crate::vocab::{
    CallbackAttempt, CallbackRecord, CallbackState, DatabaseId, DueCallback, Job, JobId,
    JobWithTasks, ModelHash, NewCallback, NextStep, Status, Task, TaskId, TenantId, roll_up,
};

/// The advisory lock that serializes `insert_job` across processes, so that counting unfinished
/// jobs and inserting a new one is atomic. Any fixed value works as long as nothing else in the
/// database uses it; this is "mtx.jobs" in ASCII.
const INSERT_JOB_LOCK: i64 = 0x6d74_782e_6a6f_6273;

/// The columns of a task, in the order [`task_from_row`] reads them.
macro_rules! task_columns {
    () => {
        "id, job_id, tenant, op, args::text AS args, status, error, database_id, model, attempt, \
         worker, created_at, modified_at, started_at, finished_at"
    };
}

/// The columns of a job, in the order [`job_from_row`] reads them.
macro_rules! job_columns {
    () => {
        "id, op, args::text AS args, status, error, created_at, modified_at"
    };
}

/// The columns of a tenant, in the order [`tenant_from_row`] reads them.
macro_rules! tenant_columns {
    () => {
        "id, metadata::text AS metadata, location::text AS location, model, created_at, modified_at"
    };
}

/// The control-plane store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresControlStore {
    pool: PgPool,
    /// The same database, with `synchronous_commit = off` for the whole session: task
    /// bookkeeping runs here as single autocommit statements, one round trip each (the module
    /// doc says why it may skip the WAL flush).
    bookkeeping: PgPool,
}

/// Starts a transaction that its caller may abandon at any await, as a dropped request, a
/// timeout or an aborted task does.
///
/// sqlx 0.9's `PgPool::begin` is not cancel-safe (transact-rs/sqlx#4393): abandoned between
/// sending BEGIN and reading its reply, it returns the connection to the pool inside a
/// transaction nobody will end, and the next user's autocommit statements run in it, holding
/// their locks and never committing. Run on a task of its own, BEGIN always completes, and a
/// transaction whose caller has gone is dropped like any other, which rolls it back.
async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
}

impl PostgresControlStore {
    /// Connects to `url` with a pool of at most `max_connections` and brings schema `mtx` up to
    /// date. Safe to call from several processes at once: the migrator holds an advisory lock
    /// while it runs.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, ControlError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(url)
            .await
            .map_err(|e| codec::classify(e.into()))?;
        Self::from_pool(pool).await
    }

    /// Wraps an existing pool (and a bookkeeping pool of the same size to the same database,
    /// connected on demand) and brings schema `mtx` up to date.
    pub async fn from_pool(pool: PgPool) -> Result<Self, ControlError> {
        Self::migrate(&pool).await?;
        let relaxed = (*pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        // No liveness ping before each use either: it would double the round trips of task
        // bookkeeping, and a connection that died meanwhile fails the write as unavailable,
        // which its callers retry.
        let bookkeeping = PgPoolOptions::new()
            .max_connections(pool.options().get_max_connections())
            .test_before_acquire(false)
            .connect_lazy_with(relaxed);
        Ok(Self { pool, bookkeeping })
    }

    /// The pool, for callers that share it (health checks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(pool: &PgPool) -> Result<(), ControlError> {
        let mut migrator = sqlx::migrate!("../migrations");
        // Keep the migrator's bookkeeping inside `mtx` too, so the control plane owns exactly one
        // schema of the database it shares with tenant schemas.
        migrator.create_schema("mtx");
        migrator.dangerous_set_table_name("mtx._sqlx_migrations");
        migrator.run(pool).await?;
        Ok(())
    }

    async fn insert_job_inner(
        &self,
        job: &Job,
        tasks: &[Task],
        queue_limit: usize,
        callback: Option<&NewCallback>,
    ) -> Result<(), ControlError> {
        if let Some(stray) = tasks.iter().find(|t| t.job_id != job.id) {
            return Err(ControlError::Corrupt(format!(
                "task {} belongs to job {}, not to job {}",
                stray.id, stray.job_id, job.id
            )));
        }
        let mut tx = begin(&self.pool).await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INSERT_JOB_LOCK)
            .execute(&mut *tx)
            .await?;
        let unfinished: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM mtx.jobs WHERE status IN ",
            unfinished_sql!()
        ))
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(unfinished).unwrap_or(usize::MAX) >= queue_limit {
            // Dropping the transaction rolls it back and releases the lock.
            return Err(ControlError::QueueFull);
        }
        sqlx::query(
            "INSERT INTO mtx.jobs (id, op, args, status, error, created_at, modified_at) \
             VALUES ($1, $2, $3::json, $4, $5, $6, $7)",
        )
        .bind(job.id.0)
        .bind(job.op().as_str())
        .bind(codec::json_text(&job.args)?)
        .bind(job.status.as_str())
        .bind(job.error.as_deref())
        .bind(codec::at_millis(job.created_at))
        .bind(codec::at_millis(job.modified_at))
        .execute(&mut *tx)
        .await?;
        if !tasks.is_empty() {
            TaskColumns::of(tasks)?
                .insert(job.id.0)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(cb) = callback {
            sqlx::query(
                "INSERT INTO mtx.callbacks (job_id, url, subscription_url, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
            )
            .bind(job.id.0)
            .bind(&cb.url)
            .bind(cb.subscription_url.as_deref())
            .bind(CallbackState::Pending.as_str())
            .bind(codec::at_millis(job.created_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn callbacks_of_inner(
        &self,
        jobs: &[JobId],
    ) -> Result<HashMap<JobId, CallbackRecord>, ControlError> {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.0).collect();
        let rows = sqlx::query(
            "SELECT job_id, url, subscription_url, state, attempts, next_attempt_at, delivered_at \
             FROM mtx.callbacks WHERE job_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let job_id = JobId(r.try_get("job_id")?);
            out.insert(
                job_id,
                CallbackRecord {
                    job_id,
                    url: r.try_get("url")?,
                    subscription_url: r.try_get("subscription_url")?,
                    state: codec::callback_state(r.try_get("state")?)?,
                    attempts: codec::attempt(i64::from(r.try_get::<i32, _>("attempts")?))?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                    history: Vec::new(),
                },
            );
        }
        if out.is_empty() {
            return Ok(out);
        }
        let attempts = sqlx::query(
            "SELECT job_id, attempt, at, http_status, error FROM mtx.callback_attempts \
             WHERE job_id = ANY($1) ORDER BY job_id, attempt",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        for r in &attempts {
            let job_id = JobId(r.try_get("job_id")?);
            if let Some(record) = out.get_mut(&job_id) {
                record.history.push(CallbackAttempt {
                    number: codec::attempt(i64::from(r.try_get::<i32, _>("attempt")?))?,
                    at: r.try_get("at")?,
                    http_status: codec::http_status(
                        r.try_get::<Option<i32>, _>("http_status")?.map(i64::from),
                    )?,
                    error: r.try_get("error")?,
                });
            }
        }
        Ok(out)
    }

    async fn claim_due_callbacks_inner(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError> {
        let now = codec::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(1));
        // SKIP LOCKED: concurrent deliverers claim disjoint sets instead of waiting on each other.
        let rows = sqlx::query(concat!(
            "WITH due AS (SELECT c.job_id FROM mtx.callbacks c JOIN mtx.jobs j ON j.id = c.job_id \
             WHERE c.state = $1 AND c.next_attempt_at <= $2 AND j.status NOT IN ",
            unfinished_sql!(),
            " ORDER BY c.next_attempt_at LIMIT $3 FOR UPDATE OF c SKIP LOCKED) \
             UPDATE mtx.callbacks c SET attempts = c.attempts + 1, next_attempt_at = $4 \
             FROM due, mtx.jobs j WHERE c.job_id = due.job_id AND j.id = c.job_id \
             RETURNING c.job_id, c.url, c.subscription_url, c.attempts, j.op, j.status, j.error, \
             j.modified_at"
        ))
        .bind(CallbackState::Pending.as_str())
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut due = rows
            .iter()
            .map(|r| {
                Ok(DueCallback {
                    job_id: JobId(r.try_get("job_id")?),
                    op: codec::op(r.try_get("op")?)?,
                    url: r.try_get("url")?,
                    subscription_url: r.try_get("subscription_url")?,
                    job_status: codec::status(r.try_get("status")?)?,
                    job_error: r.try_get("error")?,
                    ended_at: r.try_get("modified_at")?,
                    attempt: codec::attempt(i64::from(r.try_get::<i32, _>("attempts")?))?,
                })
            })
            .collect::<Result<Vec<_>, ControlError>>()?;
        due.sort_by_key(|d| d.ended_at);
        Ok(due)
    }

    async fn record_callback_attempt_inner(
        &self,
        job: &JobId,
        attempt: &CallbackAttempt,
        next: NextStep,
    ) -> Result<bool, ControlError> {
        let mut tx = begin(&self.pool).await?;
        let number = i32::try_from(attempt.number).map_err(|_| {
            ControlError::Corrupt(format!("callback attempt {} too large", attempt.number))
        })?;
        sqlx::query(
            "INSERT INTO mtx.callback_attempts (job_id, attempt, at, http_status, error) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(job.0)
        .bind(number)
        .bind(codec::at_millis(attempt.at))
        .bind(attempt.http_status.map(i32::from))
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let (state, next_at, delivered_at) = codec::after_attempt(next, attempt.at);
        let changed = sqlx::query(
            "UPDATE mtx.callbacks SET state = $3, next_attempt_at = COALESCE($4, next_attempt_at), \
             delivered_at = $5 WHERE job_id = $1 AND attempts = $2 AND state = $6",
        )
        .bind(job.0)
        .bind(number)
        .bind(state.as_str())
        .bind(next_at)
        .bind(delivered_at)
        .bind(CallbackState::Pending.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn upsert_tenant_inner(
        &self,
        id: &TenantId,
        body: &serde_json::Value,
        location: &StorageLocation,
    ) -> Result<TenantRecord, ControlError> {
        let mut tx = begin(&self.pool).await?;
        let now = codec::now();
        // Insert first: it either creates the tenant, or (ON CONFLICT) waits for any concurrent
        // insert to commit, so the row is there to lock and merge into below.
        let created = sqlx::query(concat!(
            "INSERT INTO mtx.tenants (id, metadata, location, model, created_at, modified_at) \
             VALUES ($1, $2::json, $3::json, NULL, $4, $4) \
             ON CONFLICT (id) DO NOTHING RETURNING ",
            tenant_columns!()
        ))
        .bind(id.as_str())
        .bind(codec::json_text(&metadata::merged(None, body))?)
        .bind(codec::location_text(location)?)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let row = match created {
            Some(row) => row,
            None => {
                let stored: String = sqlx::query_scalar(
                    "SELECT metadata::text FROM mtx.tenants WHERE id = $1 FOR UPDATE",
                )
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    ControlError::Unavailable(format!(
                        "tenant {id} was deleted while it was being updated; try again"
                    ))
                })?;
                let stored = codec::json("metadata", &stored)?;
                let merged = metadata::merged(Some(&stored), body);
                sqlx::query(concat!(
                    "UPDATE mtx.tenants SET metadata = $2::json, modified_at = $3 WHERE id = $1 \
                     RETURNING ",
                    tenant_columns!()
                ))
                .bind(id.as_str())
                .bind(codec::json_text(&merged)?)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        tenant_from_row(&row)
    }

    async fn start_task_inner(
        &self,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError> {
        // One statement: the task, the job (only its first start matches, and so locks, the job
        // row) and the tenant's record, which the task needs next.
        let row = sqlx::query(concat!(
            "WITH started AS (UPDATE mtx.tasks SET status = $2, worker = $3, attempt = $4, \
             started_at = $5, modified_at = $5, finished_at = NULL \
             WHERE id = $1 AND status IN ",
            unfinished_sql!(),
            " RETURNING ",
            task_columns!(),
            "), job AS (UPDATE mtx.jobs SET status = $2, modified_at = $5 \
             WHERE id = (SELECT job_id FROM started) AND status = $6) \
             SELECT started.*, tenant.id AS tenant_id, tenant.metadata::text AS tenant_metadata, \
             tenant.location::text AS tenant_location, tenant.model AS tenant_model, \
             tenant.created_at AS tenant_created_at, tenant.modified_at AS tenant_modified_at \
             FROM started LEFT JOIN mtx.tenants tenant ON tenant.id = started.tenant"
        ))
        .bind(id.0)
        .bind(Status::Running.as_str())
        .bind(worker)
        .bind(i64::from(attempt))
        .bind(codec::now())
        .bind(Status::Queued.as_str())
        .fetch_optional(&self.bookkeeping)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tenant = match row.try_get::<Option<String>, _>("tenant_id")? {
            None => None,
            Some(_) => Some(tenant_from_columns(&row, "tenant_")?),
        };
        Ok(Some(StartedTask {
            task: task_from_row(&row)?,
            tenant,
        }))
    }

    async fn finish_tasks_inner(
        &self,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError> {
        let now = codec::now();
        let ids: Vec<Uuid> = finished.iter().map(|f| f.id.0).collect();
        let attempts: Vec<i64> = finished.iter().map(|f| i64::from(f.attempt)).collect();
        let statuses: Vec<&str> = finished
            .iter()
            .map(|f| f.outcome.status().as_str())
            .collect();
        let errors: Vec<Option<&str>> = finished.iter().map(|f| f.outcome.error()).collect();
        let finished_at: Vec<DateTime<Utc>> = finished
            .iter()
            .map(|f| codec::at_millis(f.finished_at))
            .collect();
        let models: Vec<Option<&str>> = finished
            .iter()
            .map(|f| f.tenant_model.as_ref().map(ModelHash::as_str))
            .collect();
        // One statement for the whole batch: the tasks, and the tenants' versions of those
        // whose attempt still owned them.
        let recorded: Vec<(Uuid, Uuid)> = sqlx::query_as(concat!(
            "WITH outcome AS (SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], \
             $4::text[], $5::text[], $7::timestamptz[]) \
             AS o(id, attempt, status, error, model, finished_at)), \
             done AS (UPDATE mtx.tasks t SET status = o.status, error = o.error, \
             finished_at = o.finished_at, modified_at = $6 FROM outcome o \
             WHERE t.id = o.id AND t.attempt = o.attempt AND t.status IN ",
            unfinished_sql!(),
            " RETURNING t.id, t.job_id, t.tenant, o.model), \
             tenant AS (UPDATE mtx.tenants SET model = done.model FROM done \
             WHERE mtx.tenants.id = done.tenant AND done.model IS NOT NULL) \
             SELECT id, job_id FROM done"
        ))
        .bind(&ids)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&errors)
        .bind(&models)
        .bind(now)
        .bind(&finished_at)
        .fetch_all(&self.bookkeeping)
        .await?;
        let recorded: HashMap<Uuid, Uuid> = recorded.into_iter().collect();
        // Not recorded now: either stale (another attempt owns the task, or it is terminal) or
        // recorded by this very attempt before, when a retry follows a failed job check. The
        // latter still owes the job check, so a job is never left running with all tasks done.
        let missing: Vec<usize> = (0..finished.len())
            .filter(|&i| !recorded.contains_key(&ids[i]))
            .collect();
        let own: HashMap<Uuid, Uuid> = if missing.is_empty() {
            HashMap::new()
        } else {
            fn pick<T: Copy>(values: &[T], at: &[usize]) -> Vec<T> {
                at.iter().map(|&i| values[i]).collect()
            }
            sqlx::query_as::<_, (Uuid, Uuid)>(
                "SELECT t.id, t.job_id FROM mtx.tasks t \
                 JOIN unnest($1::uuid[], $2::bigint[], $3::text[]) AS o(id, attempt, status) \
                 ON t.id = o.id AND t.attempt = o.attempt AND t.status = o.status",
            )
            .bind(pick(&ids, &missing))
            .bind(pick(&attempts, &missing))
            .bind(pick(&statuses, &missing))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect()
        };
        let mut jobs: Vec<Uuid> = recorded.values().chain(own.values()).copied().collect();
        jobs.sort_unstable();
        jobs.dedup();
        let mut ended = HashMap::new();
        for job in jobs {
            if let FinishOutcome::JobEnded { status, error } =
                self.end_job_if_done(job, now).await?
            {
                ended.insert(job, (status, error));
            }
        }
        Ok(ids
            .iter()
            .map(|id| {
                let mut ending = |job: &Uuid| {
                    ended
                        .remove(job)
                        .map(|(status, error)| FinishOutcome::JobEnded { status, error })
                };
                if let Some(job) = recorded.get(id) {
                    ending(job).unwrap_or(FinishOutcome::Recorded)
                } else if let Some(job) = own.get(id) {
                    ending(job).unwrap_or(FinishOutcome::Stale)
                } else {
                    FinishOutcome::Stale
                }
            })
            .collect())
    }

    /// Ends the job if none of its tasks is unfinished. Runs after the caller's task update has
    /// committed, so of concurrently finishing tasks the last to commit sees all of them done.
    async fn end_job_if_done(
        &self,
        job: Uuid,
        now: DateTime<Utc>,
    ) -> Result<FinishOutcome, ControlError> {
        let unfinished: bool = sqlx::query_scalar(concat!(
            "SELECT EXISTS (SELECT 1 FROM mtx.tasks WHERE job_id = $1 AND status IN ",
            unfinished_sql!(),
            ")"
        ))
        .bind(job)
        .fetch_one(&self.pool)
        .await?;
        if unfinished {
            return Ok(FinishOutcome::Recorded);
        }
        let rows = sqlx::query(
            "SELECT tenant, status, error FROM mtx.tasks WHERE job_id = $1 ORDER BY tenant, id",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        let tasks = rows
            .iter()
            .map(|r| {
                Ok((
                    codec::tenant(r.try_get("tenant")?)?,
                    codec::status(r.try_get("status")?)?,
                    r.try_get::<Option<String>, _>("error")?,
                ))
            })
            .collect::<Result<Vec<_>, ControlError>>()?;
        let (status, error) = roll_up(&tasks);
        // Several completions may get here; the guard lets exactly one end the job.
        let ended = sqlx::query(concat!(
            "UPDATE mtx.jobs SET status = $2, error = $3, modified_at = $4 \
             WHERE id = $1 AND status IN ",
            unfinished_sql!()
        ))
        .bind(job)
        .bind(status.as_str())
        .bind(error.as_deref())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(if ended == 1 {
            FinishOutcome::JobEnded { status, error }
        } else {
            FinishOutcome::Recorded
        })
    }

    async fn cancel_job_inner(&self, id: &JobId) -> Result<Option<CancelOutcome>, ControlError> {
        let mut tx = begin(&self.pool).await?;
        // Serializes cancels of one job; task transitions lock only their own task rows.
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM mtx.jobs WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(status) = status else {
            return Ok(None);
        };
        let status = codec::status(&status)?;
        if status.is_terminal() {
            return Ok(Some(CancelOutcome {
                cancelled: Vec::new(),
                running: Vec::new(),
                status,
            }));
        }
        let now = codec::now();
        let cancelled: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE mtx.tasks SET status = $2, finished_at = $3, modified_at = $3 \
             WHERE job_id = $1 AND status = $4 RETURNING id",
        )
        .bind(id.0)
        .bind(Status::Cancelled.as_str())
        .bind(now)
        .bind(Status::Queued.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let running: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM mtx.tasks WHERE job_id = $1 AND status = $2")
                .bind(id.0)
                .bind(Status::Running.as_str())
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        // After the commit, like every completion: see `end_job_if_done`.
        let status = match self.end_job_if_done(id.0, now).await? {
            FinishOutcome::JobEnded { status, .. } => status,
            _ => status,
        };
        Ok(Some(CancelOutcome {
            cancelled: cancelled.into_iter().map(TaskId).collect(),
            running: running.into_iter().map(TaskId).collect(),
            status,
        }))
    }

    async fn tasks_of(&self, jobs: &[Uuid]) -> Result<HashMap<Uuid, Vec<Task>>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM mtx.tasks WHERE job_id = ANY($1) ORDER BY job_id, tenant, id"
        ))
        .bind(jobs)
        .fetch_all(&self.pool)
        .await?;
        let mut by_job: HashMap<Uuid, Vec<Task>> = HashMap::new();
        for row in &rows {
            let task = task_from_row(row)?;
            by_job.entry(task.job_id.0).or_default().push(task);
        }
        Ok(by_job)
    }
}

/// A job's tasks as one array per column, for a single `INSERT … SELECT FROM UNNEST(…)`: one
/// round trip and a fixed number of bind parameters, however many tasks the job has.
struct TaskColumns {
    id: Vec<Uuid>,
    tenant: Vec<String>,
    op: Vec<&'static str>,
    args: Vec<String>,
    status: Vec<&'static str>,
    error: Vec<Option<String>>,
    database: Vec<String>,
    model: Vec<Option<String>>,
    attempt: Vec<i32>,
    worker: Vec<Option<String>>,
    created_at: Vec<DateTime<Utc>>,
    modified_at: Vec<DateTime<Utc>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    finished_at: Vec<Option<DateTime<Utc>>>,
}

impl TaskColumns {
    fn of(tasks: &[Task]) -> Result<Self, ControlError> {
        let mut c = Self {
            id: Vec::with_capacity(tasks.len()),
            tenant: Vec::with_capacity(tasks.len()),
            op: Vec::with_capacity(tasks.len()),
            args: Vec::with_capacity(tasks.len()),
            status: Vec::with_capacity(tasks.len()),
            error: Vec::with_capacity(tasks.len()),
            database: Vec::with_capacity(tasks.len()),
            model: Vec::with_capacity(tasks.len()),
            attempt: Vec::with_capacity(tasks.len()),
            worker: Vec::with_capacity(tasks.len()),
            created_at: Vec::with_capacity(tasks.len()),
            modified_at: Vec::with_capacity(tasks.len()),
            started_at: Vec::with_capacity(tasks.len()),
            finished_at: Vec::with_capacity(tasks.len()),
        };
        for t in tasks {
            c.id.push(t.id.0);
            c.tenant.push(t.tenant.as_str().to_owned());
            c.op.push(t.op().as_str());
            c.args.push(codec::json_text(&t.args)?);
            c.status.push(t.status.as_str());
            c.error.push(t.error.clone());
            c.database.push(t.database.as_str().to_owned());
            c.model
                .push(t.model.as_ref().map(|m| m.as_str().to_owned()));
            c.attempt.push(i32::try_from(t.attempt).map_err(|_| {
                ControlError::Corrupt(format!("task {}: attempt {} too large", t.id, t.attempt))
            })?);
            c.worker.push(t.worker.clone());
            c.created_at.push(codec::at_millis(t.created_at));
            c.modified_at.push(codec::at_millis(t.modified_at));
            c.started_at.push(t.started_at.map(codec::at_millis));
            c.finished_at.push(t.finished_at.map(codec::at_millis));
        }
        Ok(c)
    }

    fn insert(
        self,
        job: Uuid,
    ) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
        sqlx::query(
            "INSERT INTO mtx.tasks (id, job_id, tenant, op, args, status, error, database_id, \
             model, attempt, worker, created_at, modified_at, started_at, finished_at) \
             SELECT t.id, $1, t.tenant, t.op, t.args::json, t.status, t.error, t.database_id, \
             t.model, t.attempt, t.worker, t.created_at, t.modified_at, t.started_at, \
             t.finished_at \
             FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::int4[], $11::text[], $12::timestamptz[], \
             $13::timestamptz[], $14::timestamptz[], $15::timestamptz[]) \
             AS t(id, tenant, op, args, status, error, database_id, model, attempt, worker, \
             created_at, modified_at, started_at, finished_at)",
        )
        .bind(job)
        .bind(self.id)
        .bind(self.tenant)
        .bind(self.op)
        .bind(self.args)
        .bind(self.status)
        .bind(self.error)
        .bind(self.database)
        .bind(self.model)
        .bind(self.attempt)
        .bind(self.worker)
        .bind(self.created_at)
        .bind(self.modified_at)
        .bind(self.started_at)
        .bind(self.finished_at)
    }
}

fn tenant_from_row(row: &PgRow) -> Result<TenantRecord, ControlError> {
    tenant_from_columns(row, "")
}

/// A tenant from the [`tenant_columns!`] of a row, each named with `prefix` (a tenant joined
/// to another table's row).
fn tenant_from_columns(row: &PgRow, prefix: &str) -> Result<TenantRecord, ControlError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(TenantRecord {
        id: codec::tenant(row.try_get(column("id").as_str())?)?,
        metadata: codec::json("metadata", row.try_get(column("metadata").as_str())?)?,
        created_at: row.try_get(column("created_at").as_str())?,
        modified_at: row.try_get(column("modified_at").as_str())?,
        location: codec::location(row.try_get(column("location").as_str())?)?,
        model: codec::model(row.try_get(column("model").as_str())?)?,
    })
}

fn job_from_row(row: &PgRow) -> Result<Job, ControlError> {
    Ok(Job {
        id: JobId(row.try_get("id")?),
        args: codec::args(row.try_get("op")?, row.try_get("args")?)?,
        status: codec::status(row.try_get("status")?)?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

fn task_from_row(row: &PgRow) -> Result<Task, ControlError> {
    Ok(Task {
        id: TaskId(row.try_get("id")?),
        job_id: JobId(row.try_get("job_id")?),
        tenant: codec::tenant(row.try_get("tenant")?)?,
        args: codec::args(row.try_get("op")?, row.try_get("args")?)?,
        status: codec::status(row.try_get("status")?)?,
        error: row.try_get("error")?,
        database: codec::database(row.try_get("database_id")?)?,
        model: codec::model(row.try_get("model")?)?,
        attempt: codec::attempt(i64::from(row.try_get::<i32, _>("attempt")?))?,
        worker: row.try_get("worker")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl ControlStore for PostgresControlStore {
    async fn put_model(&self, hash: &ModelHash, csn_json: &str) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO mtx.model_versions (hash, csn, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash.as_str())
        .bind(csn_json)
        .bind(codec::now())
        .execute(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn get_model(&self, hash: &ModelHash) -> Result<Option<String>, ControlError> {
        sqlx::query_scalar("SELECT csn FROM mtx.model_versions WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| codec::classify(e.into()))
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM mtx.tenants WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM mtx.tenants ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn upsert_tenant(
        &self,
        id: &TenantId,
        metadata: &serde_json::Value,
        location: &StorageLocation,
    ) -> Result<TenantRecord, ControlError> {
        self.upsert_tenant_inner(id, metadata, location)
            .await
            .map_err(codec::classify)
    }

    /// A no-op for an unknown tenant: an upgrade that ends after the tenant was unsubscribed has
    /// nothing left to record.
    async fn set_tenant_model(&self, id: &TenantId, model: &ModelHash) -> Result<(), ControlError> {
        sqlx::query("UPDATE mtx.tenants SET model = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(model.as_str())
            .execute(&self.bookkeeping)
            .await
            .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, ControlError> {
        let deleted = sqlx::query("DELETE FROM mtx.tenants WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| codec::classify(e.into()))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn tenants_per_database(&self) -> Result<HashMap<DatabaseId, u64>, ControlError> {
        let rows = sqlx::query(
            "SELECT location->>'database' AS database, count(*) AS tenants \
             FROM mtx.tenants GROUP BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        rows.iter()
            .map(|r| {
                let database = codec::database(r.try_get("database")?)?;
                let count: i64 = r.try_get("tenants")?;
                Ok((database, u64::try_from(count).unwrap_or_default()))
            })
            .collect()
    }

    async fn insert_job_with_callback(
        &self,
        job: &Job,
        tasks: &[Task],
        queue_limit: usize,
        callback: Option<&NewCallback>,
    ) -> Result<(), ControlError> {
        self.insert_job_inner(job, tasks, queue_limit, callback)
            .await
            .map_err(codec::classify)
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobWithTasks>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM mtx.jobs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let mut tasks = self.tasks_of(&[id.0]).await.map_err(codec::classify)?;
        let tasks = tasks.remove(&id.0).unwrap_or_default();
        Ok(Some(JobWithTasks { job, tasks }))
    }

    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobWithTasks>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM mtx.jobs ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        let jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.id.0).collect();
        let mut tasks = self.tasks_of(&ids).await.map_err(codec::classify)?;
        Ok(jobs
            .into_iter()
            .map(|job| JobWithTasks {
                tasks: tasks.remove(&job.id.0).unwrap_or_default(),
                job,
            })
            .collect())
    }

    async fn get_task(&self, id: &TaskId) -> Result<Option<Task>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM mtx.tasks WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn start_task(
        &self,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError> {
        self.start_task_inner(id, worker, attempt)
            .await
            .map_err(codec::classify)
    }

    async fn finish_tasks(
        &self,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        self.finish_tasks_inner(finished)
            .await
            .map_err(codec::classify)
    }

    /// `error: None` (a hand-back) keeps the error of an earlier attempt. A task that is not
    /// RUNNING under `attempt` is left alone.
    async fn requeue_task(
        &self,
        id: &TaskId,
        attempt: u32,
        error: Option<&str>,
    ) -> Result<(), ControlError> {
        let query = sqlx::query(
            "UPDATE mtx.tasks SET status = $3, error = COALESCE($4, error), modified_at = $5 \
             WHERE id = $1 AND attempt = $2 AND status = $6",
        )
        .bind(id.0)
        .bind(i64::from(attempt))
        .bind(Status::Queued.as_str())
        .bind(error)
        .bind(codec::now())
        .bind(Status::Running.as_str());
        query
            .execute(&self.bookkeeping)
            .await
            .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn heartbeat_task(&self, id: &TaskId, attempt: u32) -> Result<bool, ControlError> {
        let touched = sqlx::query(
            "UPDATE mtx.tasks SET modified_at = $3 \
             WHERE id = $1 AND attempt = $2 AND status = $4",
        )
        .bind(id.0)
        .bind(i64::from(attempt))
        .bind(codec::now())
        .bind(Status::Running.as_str())
        .execute(&self.bookkeeping)
        .await
        .map_err(|e| codec::classify(e.into()))?
        .rows_affected();
        Ok(touched > 0)
    }

    async fn cancel_job(&self, id: &JobId) -> Result<Option<CancelOutcome>, ControlError> {
        self.cancel_job_inner(id).await.map_err(codec::classify)
    }

    async fn unfinished_tasks(&self) -> Result<Vec<Task>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM mtx.tasks WHERE status IN ",
            unfinished_sql!(),
            " ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn delete_jobs_before(&self, before: DateTime<Utc>) -> Result<u64, ControlError> {
        // Tasks go with their job (ON DELETE CASCADE).
        let deleted = sqlx::query(concat!(
            "DELETE FROM mtx.jobs WHERE modified_at < $1 AND status NOT IN ",
            unfinished_sql!()
        ))
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?
        .rows_affected();
        Ok(deleted)
    }

    async fn callbacks_of(
        &self,
        jobs: &[JobId],
    ) -> Result<HashMap<JobId, CallbackRecord>, ControlError> {
        self.callbacks_of_inner(jobs).await.map_err(codec::classify)
    }

    async fn claim_due_callbacks(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError> {
        self.claim_due_callbacks_inner(limit, lease)
            .await
            .map_err(codec::classify)
    }

    async fn record_callback_attempt(
        &self,
        job: &JobId,
        attempt: &CallbackAttempt,
        next: NextStep,
    ) -> Result<bool, ControlError> {
        self.record_callback_attempt_inner(job, attempt, next)
            .await
            .map_err(codec::classify)
    }

    async fn release_callback_claim(&self, job: &JobId, attempt: u32) -> Result<(), ControlError> {
        sqlx::query(
            "UPDATE mtx.callbacks SET attempts = attempts - 1, next_attempt_at = $3 \
             WHERE job_id = $1 AND attempts = $2 AND state = $4",
        )
        .bind(job.0)
        .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
        .bind(codec::now())
        .bind(CallbackState::Pending.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }
}
