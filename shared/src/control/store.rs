//! The one control-plane store, generic over its [`Dialect`]: every operation whose statements
//! both databases share, the transactions around them, and row decoding.
//!
//! Errors are classified once, where a `sqlx` call is `?`-ed (`From<sqlx::Error>` in `codec`), so
//! every method returns typed [`ControlError`]s.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::codec;
use super::dialect::{Connection, Dialect, Row};
use super::{
    CancelOutcome, ControlError, ControlStore, FinishOutcome, FinishedTask, StartedTask,
    TenantRecord, metadata,
};
use crate::tenant::StorageLocation;
use crate::vocab::{
    CallbackAttempt, CallbackRecord, CallbackState, DatabaseId, DueCallback, Job, JobId,
    JobWithTasks, ModelHash, NewCallback, NextStep, Status, Task, TaskId, TenantId, roll_up,
};

/// The control-plane store on dialect `D` (see [`super::postgres::PostgresControlStore`] and
/// [`super::sqlite::SqliteControlStore`] for how each is opened).
#[derive(Debug, Clone)]
pub struct SqlControlStore<D: Dialect> {
    pub(super) dialect: D,
}

impl<D: Dialect> SqlControlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    i64: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    Option<i64>: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    Option<D::Time>: for<'q> Encode<'q, D::Db> + Type<D::Db>,
{
    /// Ends the job if none of its tasks is unfinished, rolling up the tasks' states into the
    /// job's status and error ([`FinishOutcome::JobEnded`]; otherwise
    /// [`FinishOutcome::Recorded`]). Runs after the caller's task update committed, or inside
    /// its write transaction where the dialect serializes writers
    /// ([`Dialect::ENDS_JOBS_IN_WRITE_TRANSACTION`]): either way, of concurrently finishing
    /// tasks the last sees all of them done, and the status guard lets exactly one end the job.
    pub(super) async fn end_job_if_done(
        conn: &mut Connection<D>,
        job: Uuid,
        now: DateTime<Utc>,
    ) -> Result<FinishOutcome, ControlError> {
        let row = sqlx::query(D::SQL.any_unfinished_task)
            .bind(D::id(job))
            .fetch_one(&mut *conn)
            .await?;
        if D::read_flag(&row, "unfinished")? {
            return Ok(FinishOutcome::Recorded);
        }
        let rows = sqlx::query(D::SQL.task_outcomes_of_job)
            .bind(D::id(job))
            .fetch_all(&mut *conn)
            .await?;
        let tasks = rows
            .iter()
            .map(|r| {
                Ok((
                    codec::tenant(&D::read_text(r, "tenant")?)?,
                    codec::status(&D::read_text(r, "status")?)?,
                    D::read_text_opt(r, "error")?,
                ))
            })
            .collect::<Result<Vec<_>, ControlError>>()?;
        let (status, error) = roll_up(&tasks);
        let ended = sqlx::query(D::SQL.end_job)
            .bind(D::id(job))
            .bind(status.as_str())
            .bind(error.as_deref())
            .bind(D::at(now))
            .execute(&mut *conn)
            .await?;
        Ok(if D::rows_affected(&ended) == 1 {
            FinishOutcome::JobEnded { status, error }
        } else {
            FinishOutcome::Recorded
        })
    }

    /// [`Self::end_job_if_done`] on a connection of its own, after the caller's commit.
    pub(super) async fn end_job_if_done_after_commit(
        &self,
        job: Uuid,
        now: DateTime<Utc>,
    ) -> Result<FinishOutcome, ControlError> {
        let mut conn = self.dialect.writer().acquire().await?;
        Self::end_job_if_done(&mut conn, job, now).await
    }

    async fn tasks_of(&self, jobs: &[Uuid]) -> Result<HashMap<Uuid, Vec<Task>>, ControlError> {
        let rows = sqlx::query(D::SQL.tasks_of_jobs)
            .bind(D::id_set(jobs)?)
            .fetch_all(self.dialect.reader())
            .await?;
        let mut by_job: HashMap<Uuid, Vec<Task>> = HashMap::new();
        for row in &rows {
            let task = task_from_row::<D>(row)?;
            by_job.entry(task.job_id.0).or_default().push(task);
        }
        Ok(by_job)
    }

    /// Runs a statement that changes rows on one of `pool`'s connections, returning how many it
    /// changed.
    async fn change(
        pool: &sqlx::Pool<D::Db>,
        query: sqlx::query::Query<'_, D::Db, <D::Db as Database>::Arguments>,
    ) -> Result<u64, ControlError> {
        Ok(D::rows_affected(&query.execute(pool).await?))
    }
}

#[async_trait]
impl<D: Dialect> ControlStore for SqlControlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    i64: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    Option<i64>: for<'q> Encode<'q, D::Db> + Type<D::Db>,
    Option<D::Time>: for<'q> Encode<'q, D::Db> + Type<D::Db>,
{
    async fn put_model(&self, hash: &ModelHash, csn_json: &str) -> Result<(), ControlError> {
        let query = sqlx::query(D::SQL.put_model)
            .bind(hash.as_str())
            .bind(csn_json)
            .bind(D::at(codec::now()));
        Self::change(self.dialect.writer(), query).await?;
        Ok(())
    }

    async fn get_model(&self, hash: &ModelHash) -> Result<Option<String>, ControlError> {
        let row = sqlx::query(D::SQL.get_model)
            .bind(hash.as_str())
            .fetch_optional(self.dialect.reader())
            .await?;
        row.map(|r| D::read_text(&r, "csn")).transpose()
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, ControlError> {
        let row = sqlx::query(D::SQL.get_tenant)
            .bind(id.as_str())
            .fetch_optional(self.dialect.reader())
            .await?;
        row.as_ref().map(tenant_from_row::<D>).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, ControlError> {
        let rows = sqlx::query(D::SQL.list_tenants)
            .fetch_all(self.dialect.reader())
            .await?;
        rows.iter().map(tenant_from_row::<D>).collect()
    }

    async fn upsert_tenant(
        &self,
        id: &TenantId,
        body: &serde_json::Value,
        location: &StorageLocation,
    ) -> Result<TenantRecord, ControlError> {
        let mut tx = self.dialect.begin_write().await?;
        let now = D::at(codec::now());
        // Insert first: it either creates the tenant, or (ON CONFLICT) waits for any concurrent
        // insert to commit, so the row is there to lock and merge into below.
        let created = sqlx::query(D::SQL.insert_tenant_if_new)
            .bind(id.as_str())
            .bind(codec::json_text(&metadata::merged(None, body))?.as_str())
            .bind(codec::location_text(location)?.as_str())
            .bind(now.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let row = match created {
            Some(row) => row,
            None => {
                let stored = sqlx::query(D::SQL.lock_tenant_metadata)
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| {
                        ControlError::Unavailable(format!(
                            "tenant {id} was deleted while it was being updated; try again"
                        ))
                    })?;
                let stored = codec::json("metadata", &D::read_text(&stored, "metadata")?)?;
                let merged = metadata::merged(Some(&stored), body);
                sqlx::query(D::SQL.update_tenant_metadata)
                    .bind(id.as_str())
                    .bind(codec::json_text(&merged)?.as_str())
                    .bind(now.clone())
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let record = tenant_from_row::<D>(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    /// A no-op for an unknown tenant: an upgrade that ends after the tenant was unsubscribed has
    /// nothing left to record.
    async fn set_tenant_model(&self, id: &TenantId, model: &ModelHash) -> Result<(), ControlError> {
        let query = sqlx::query(D::SQL.set_tenant_model)
            .bind(id.as_str())
            .bind(model.as_str());
        Self::change(self.dialect.bookkeeping(), query).await?;
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, ControlError> {
        let query = sqlx::query(D::SQL.delete_tenant).bind(id.as_str());
        Ok(Self::change(self.dialect.writer(), query).await? > 0)
    }

    async fn tenants_per_database(&self) -> Result<HashMap<DatabaseId, u64>, ControlError> {
        let rows = sqlx::query(D::SQL.tenants_per_database)
            .fetch_all(self.dialect.reader())
            .await?;
        rows.iter()
            .map(|r| {
                let database = codec::database(&D::read_text(r, "database")?)?;
                let count = D::read_int(r, "tenants")?;
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
        if let Some(stray) = tasks.iter().find(|t| t.job_id != job.id) {
            return Err(ControlError::Corrupt(format!(
                "task {} belongs to job {}, not to job {}",
                stray.id, stray.job_id, job.id
            )));
        }
        let mut tx = self.dialect.begin_write().await?;
        D::lock_job_queue(&mut tx).await?;
        let counted = sqlx::query(D::SQL.count_unfinished_jobs)
            .fetch_one(&mut *tx)
            .await?;
        let unfinished = D::read_int(&counted, "unfinished")?;
        if usize::try_from(unfinished).unwrap_or(usize::MAX) >= queue_limit {
            // Dropping the transaction rolls it back (and releases any lock it took).
            return Err(ControlError::QueueFull);
        }
        sqlx::query(D::SQL.insert_job)
            .bind(D::id(job.id.0))
            .bind(job.op().as_str())
            .bind(codec::json_text(&job.args)?.as_str())
            .bind(job.status.as_str())
            .bind(job.error.as_deref())
            .bind(D::at(codec::at_millis(job.created_at)))
            .bind(D::at(codec::at_millis(job.modified_at)))
            .execute(&mut *tx)
            .await?;
        if !tasks.is_empty() {
            D::insert_tasks(&mut tx, job.id.0, tasks).await?;
        }
        if let Some(cb) = callback {
            sqlx::query(D::SQL.insert_callback)
                .bind(D::id(job.id.0))
                .bind(cb.url.as_str())
                .bind(cb.subscription_url.as_deref())
                .bind(CallbackState::Pending.as_str())
                .bind(D::at(codec::at_millis(job.created_at)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_job(&self, id: &JobId) -> Result<Option<JobWithTasks>, ControlError> {
        let row = {
            sqlx::query(D::SQL.get_job)
                .bind(D::id(id.0))
                .fetch_optional(self.dialect.reader())
                .await?
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_from_row::<D>(&row)?;
        let tasks = self.tasks_of(&[id.0]).await?.remove(&id.0);
        Ok(Some(JobWithTasks {
            job,
            tasks: tasks.unwrap_or_default(),
        }))
    }

    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobWithTasks>, ControlError> {
        let rows = {
            sqlx::query(D::SQL.list_jobs)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(self.dialect.reader())
                .await?
        };
        let jobs = rows
            .iter()
            .map(job_from_row::<D>)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.id.0).collect();
        let mut tasks = self.tasks_of(&ids).await?;
        Ok(jobs
            .into_iter()
            .map(|job| JobWithTasks {
                tasks: tasks.remove(&job.id.0).unwrap_or_default(),
                job,
            })
            .collect())
    }

    async fn get_task(&self, id: &TaskId) -> Result<Option<Task>, ControlError> {
        let row = sqlx::query(D::SQL.get_task)
            .bind(D::id(id.0))
            .fetch_optional(self.dialect.reader())
            .await?;
        row.as_ref().map(task_from_row::<D>).transpose()
    }

    async fn start_task(
        &self,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError> {
        D::start_task(self, id, worker, attempt).await
    }

    async fn finish_tasks(
        &self,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        D::finish_tasks(self, finished).await
    }

    /// `error: None` (a hand-back) keeps the error of an earlier attempt. A task that is not
    /// RUNNING under `attempt` is left alone.
    async fn requeue_task(
        &self,
        id: &TaskId,
        attempt: u32,
        error: Option<&str>,
    ) -> Result<(), ControlError> {
        let query = sqlx::query(D::SQL.requeue_task)
            .bind(D::id(id.0))
            .bind(i64::from(attempt))
            .bind(Status::Queued.as_str())
            .bind(error)
            .bind(D::at(codec::now()))
            .bind(Status::Running.as_str());
        Self::change(self.dialect.bookkeeping(), query).await?;
        Ok(())
    }

    async fn heartbeat_task(&self, id: &TaskId, attempt: u32) -> Result<bool, ControlError> {
        let query = sqlx::query(D::SQL.heartbeat_task)
            .bind(D::id(id.0))
            .bind(i64::from(attempt))
            .bind(D::at(codec::now()))
            .bind(Status::Running.as_str());
        Ok(Self::change(self.dialect.bookkeeping(), query).await? > 0)
    }

    async fn cancel_job(&self, id: &JobId) -> Result<Option<CancelOutcome>, ControlError> {
        let mut tx = self.dialect.begin_write().await?;
        // Serializes cancels of one job; task transitions lock only their own task rows.
        let row = sqlx::query(D::SQL.lock_job_status)
            .bind(D::id(id.0))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let status = codec::status(&D::read_text(&row, "status")?)?;
        if status.is_terminal() {
            return Ok(Some(CancelOutcome {
                cancelled: Vec::new(),
                running: Vec::new(),
                status,
            }));
        }
        let now = codec::now();
        let cancelled = sqlx::query(D::SQL.cancel_queued_tasks)
            .bind(D::id(id.0))
            .bind(Status::Cancelled.as_str())
            .bind(D::at(now))
            .bind(Status::Queued.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let running = sqlx::query(D::SQL.running_tasks_of_job)
            .bind(D::id(id.0))
            .bind(Status::Running.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let ended = if D::ENDS_JOBS_IN_WRITE_TRANSACTION {
            let ended = Self::end_job_if_done(&mut tx, id.0, now).await?;
            tx.commit().await?;
            ended
        } else {
            tx.commit().await?;
            self.end_job_if_done_after_commit(id.0, now).await?
        };
        let status = match ended {
            FinishOutcome::JobEnded { status, .. } => status,
            _ => status,
        };
        let ids = |rows: Vec<Row<D>>| {
            rows.iter()
                .map(|r| D::read_id(r, "id").map(TaskId))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Some(CancelOutcome {
            cancelled: ids(cancelled)?,
            running: ids(running)?,
            status,
        }))
    }

    async fn unfinished_tasks(&self) -> Result<Vec<Task>, ControlError> {
        let rows = sqlx::query(D::SQL.unfinished_tasks)
            .fetch_all(self.dialect.reader())
            .await?;
        rows.iter().map(task_from_row::<D>).collect()
    }

    async fn delete_jobs_before(&self, before: DateTime<Utc>) -> Result<u64, ControlError> {
        // Tasks and callbacks go with their job (ON DELETE CASCADE; SQLite enforces foreign keys
        // on every connection).
        let query = sqlx::query(D::SQL.delete_jobs_before).bind(D::at(before));
        Self::change(self.dialect.writer(), query).await
    }

    async fn callbacks_of(
        &self,
        jobs: &[JobId],
    ) -> Result<HashMap<JobId, CallbackRecord>, ControlError> {
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.0).collect();
        let rows = sqlx::query(D::SQL.callbacks_of_jobs)
            .bind(D::id_set(&ids)?)
            .fetch_all(self.dialect.reader())
            .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let job_id = JobId(D::read_id(r, "job_id")?);
            out.insert(
                job_id,
                CallbackRecord {
                    job_id,
                    url: D::read_text(r, "url")?,
                    subscription_url: D::read_text_opt(r, "subscription_url")?,
                    state: codec::callback_state(&D::read_text(r, "state")?)?,
                    attempts: codec::attempt(D::read_int(r, "attempts")?)?,
                    next_attempt_at: D::read_at(r, "next_attempt_at")?,
                    delivered_at: D::read_at_opt(r, "delivered_at")?,
                    history: Vec::new(),
                },
            );
        }
        if out.is_empty() {
            return Ok(out);
        }
        let attempts = sqlx::query(D::SQL.callback_attempts_of_jobs)
            .bind(D::id_set(&ids)?)
            .fetch_all(self.dialect.reader())
            .await?;
        for r in &attempts {
            let job_id = JobId(D::read_id(r, "job_id")?);
            if let Some(record) = out.get_mut(&job_id) {
                record.history.push(CallbackAttempt {
                    number: codec::attempt(D::read_int(r, "attempt")?)?,
                    at: D::read_at(r, "at")?,
                    http_status: codec::http_status(D::read_int_opt(r, "http_status")?)?,
                    error: D::read_text_opt(r, "error")?,
                });
            }
        }
        Ok(out)
    }

    async fn claim_due_callbacks(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError> {
        let mut due = D::claim_due_callbacks(self, limit, lease).await?;
        due.sort_by_key(|d| d.ended_at);
        Ok(due)
    }

    async fn record_callback_attempt(
        &self,
        job: &JobId,
        attempt: &CallbackAttempt,
        next: NextStep,
    ) -> Result<bool, ControlError> {
        let mut tx = self.dialect.begin_write().await?;
        sqlx::query(D::SQL.insert_callback_attempt)
            .bind(D::id(job.0))
            .bind(i64::from(attempt.number))
            .bind(D::at(codec::at_millis(attempt.at)))
            .bind(attempt.http_status.map(i64::from))
            .bind(attempt.error.as_deref())
            .execute(&mut *tx)
            .await?;
        let (state, next_at, delivered_at) = codec::after_attempt(next, attempt.at);
        let changed = sqlx::query(D::SQL.update_callback_after_attempt)
            .bind(D::id(job.0))
            .bind(i64::from(attempt.number))
            .bind(state.as_str())
            .bind(next_at.map(D::at))
            .bind(delivered_at.map(D::at))
            .bind(CallbackState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(D::rows_affected(&changed) > 0)
    }

    async fn release_callback_claim(&self, job: &JobId, attempt: u32) -> Result<(), ControlError> {
        let query = sqlx::query(D::SQL.release_callback_claim)
            .bind(D::id(job.0))
            .bind(i64::from(attempt))
            .bind(D::at(codec::now()))
            .bind(CallbackState::Pending.as_str());
        Self::change(self.dialect.writer(), query).await?;
        Ok(())
    }
}

pub(super) fn tenant_from_row<D: Dialect>(row: &Row<D>) -> Result<TenantRecord, ControlError> {
    tenant_from_columns::<D>(row, "")
}

/// A tenant from the tenant columns of a row, each named with `prefix` (a tenant joined to
/// another table's row).
pub(super) fn tenant_from_columns<D: Dialect>(
    row: &Row<D>,
    prefix: &str,
) -> Result<TenantRecord, ControlError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(TenantRecord {
        id: codec::tenant(&D::read_text(row, &column("id"))?)?,
        metadata: codec::json("metadata", &D::read_text(row, &column("metadata"))?)?,
        created_at: D::read_at(row, &column("created_at"))?,
        modified_at: D::read_at(row, &column("modified_at"))?,
        location: codec::location(&D::read_text(row, &column("location"))?)?,
        model: codec::model(D::read_text_opt(row, &column("model"))?.as_deref())?,
    })
}

fn job_from_row<D: Dialect>(row: &Row<D>) -> Result<Job, ControlError> {
    Ok(Job {
        id: JobId(D::read_id(row, "id")?),
        args: codec::args(&D::read_text(row, "op")?, &D::read_text(row, "args")?)?,
        status: codec::status(&D::read_text(row, "status")?)?,
        error: D::read_text_opt(row, "error")?,
        created_at: D::read_at(row, "created_at")?,
        modified_at: D::read_at(row, "modified_at")?,
    })
}

pub(super) fn task_from_row<D: Dialect>(row: &Row<D>) -> Result<Task, ControlError> {
    Ok(Task {
        id: TaskId(D::read_id(row, "id")?),
        job_id: JobId(D::read_id(row, "job_id")?),
        tenant: codec::tenant(&D::read_text(row, "tenant")?)?,
        args: codec::args(&D::read_text(row, "op")?, &D::read_text(row, "args")?)?,
        status: codec::status(&D::read_text(row, "status")?)?,
        error: D::read_text_opt(row, "error")?,
        database: codec::database(&D::read_text(row, "database_id")?)?,
        model: codec::model(D::read_text_opt(row, "model")?.as_deref())?,
        attempt: codec::attempt(D::read_int(row, "attempt")?)?,
        worker: D::read_text_opt(row, "worker")?,
        created_at: D::read_at(row, "created_at")?,
        modified_at: D::read_at(row, "modified_at")?,
        started_at: D::read_at_opt(row, "started_at")?,
        finished_at: D::read_at_opt(row, "finished_at")?,
    })
}
