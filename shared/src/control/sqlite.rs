//! The control plane in the embedded mode: one SQLite file, `mtx-control.sqlite`, in the data
//! directory.
//!
//! Every write that reads before it writes runs in a `BEGIN IMMEDIATE` transaction, which takes
//! SQLite's write lock up front: that makes the queue-size check atomic with the insert and
//! serializes task completions, also against another process opening the same file, and it
//! avoids the lock-upgrade deadlock a deferred transaction can run into. WAL mode lets readers go
//! on meanwhile. The schema is created and upgraded in code: a list of migrations, numbered by
//! SQLite's `user_version`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::vocab::{
    CallbackAttempt, CallbackRecord, CallbackState, DatabaseId, DueCallback, Job, JobId,
    JobWithTasks, ModelHash, NewCallback, NextStep, Status, Task, TaskArgs, TaskId, TenantId,
    roll_up,
};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use super::codec::{self, unfinished_sql};
use super::{
    CancelOutcome, ControlError, ControlStore, FinishOutcome, FinishedTask, StartedTask,
    TenantRecord, metadata,
};
use crate::tenant::StorageLocation;

/// The control-plane file in the data directory.
pub const CONTROL_FILE: &str = "mtx-control.sqlite";

/// How long a statement waits for another connection's write lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only connections: WAL lets them read while the writer writes.
const MAX_READERS: u32 = 4;

/// The schema, one entry per version: entry `n` takes `user_version` from `n` to `n + 1`.
/// Append only; never edit an entry that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE model_versions (
    hash       TEXT PRIMARY KEY,
    csn        TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    metadata    TEXT NOT NULL,
    location    TEXT NOT NULL,
    model       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL
) STRICT;

CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_modified ON jobs (modified_at);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    tenant      TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('subscribe', 'unsubscribe', 'upgrade')),
    args        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('QUEUED', 'RUNNING', 'FINISHED', 'FAILED', 'TIMEOUT', 'CANCELLED')),
    error       TEXT,
    database_id TEXT NOT NULL,
    model       TEXT,
    attempt     INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker      TEXT,
    created_at  TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
) STRICT;

CREATE INDEX tasks_job_tenant ON tasks (job_id, tenant);
CREATE INDEX tasks_job_unfinished ON tasks (job_id) WHERE status IN ('QUEUED', 'RUNNING');
CREATE INDEX tasks_unfinished ON tasks (created_at, id) WHERE status IN ('QUEUED', 'RUNNING');
"#,
    r#"
CREATE TABLE callbacks (
    job_id           TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    subscription_url TEXT,
    state            TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'EXPIRED')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL
) STRICT;

CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE state = 'PENDING';

CREATE TABLE callback_attempts (
    job_id      TEXT NOT NULL REFERENCES callbacks (job_id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    PRIMARY KEY (job_id, attempt)
) STRICT;
"#,
];

/// The columns of a task, in the order [`task_from_row`] reads them.
macro_rules! task_columns {
    () => {
        "id, job_id, tenant, op, args, status, error, database_id, model, attempt, worker, \
         created_at, modified_at, started_at, finished_at"
    };
}

/// The columns of a job, in the order [`job_from_row`] reads them.
macro_rules! job_columns {
    () => {
        "id, op, args, status, error, created_at, modified_at"
    };
}

/// The columns of a tenant, in the order [`tenant_from_row`] reads them.
macro_rules! tenant_columns {
    () => {
        "id, metadata, location, model, created_at, modified_at"
    };
}

/// The control-plane store of the embedded mode.
#[derive(Debug, Clone)]
pub struct SqliteControlStore {
    /// The one connection that writes.
    writer: SqlitePool,
    /// Read-only connections.
    reader: SqlitePool,
    path: PathBuf,
}

impl SqliteControlStore {
    /// Opens (creating it and `data_dir` if missing) `mtx-control.sqlite` in `data_dir`, in WAL
    /// mode, and brings its schema up to date. Refuses a file whose schema is newer than this
    /// build knows.
    pub async fn open(data_dir: &Path) -> Result<Self, ControlError> {
        tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
            ControlError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(CONTROL_FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable in WAL mode except for the last transactions before a power loss.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let unavailable = |e: sqlx::Error| {
            ControlError::Unavailable(format!("cannot open {}: {e}", path.display()))
        };
        // SQLite has one writer at a time: a single writer connection queues writes in process
        // (instead of many connections spinning on the busy timeout), and readers never wait
        // behind writers for a pooled connection (WAL lets them read while a write runs).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(MAX_READERS)
            .connect_with(options.read_only(true))
            .await
            .map_err(unavailable)?;
        Ok(Self {
            writer,
            reader,
            path,
        })
    }

    /// The control-plane file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, ControlError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
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
        let rows = task_rows_json(tasks)?;
        let mut tx = self.write_tx().await?;
        let unfinished: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM jobs WHERE status IN ",
            unfinished_sql!()
        ))
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(unfinished).unwrap_or(usize::MAX) >= queue_limit {
            return Err(ControlError::QueueFull);
        }
        sqlx::query(
            "INSERT INTO jobs (id, op, args, status, error, created_at, modified_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(job.id.to_string())
        .bind(job.op().as_str())
        .bind(codec::json_text(&job.args)?)
        .bind(job.status.as_str())
        .bind(job.error.as_deref())
        .bind(ts_text(job.created_at))
        .bind(ts_text(job.modified_at))
        .execute(&mut *tx)
        .await?;
        // All tasks in one statement: the rows travel as one JSON array parameter, which keeps
        // the statement far from SQLite's bind-parameter limit however many tasks there are.
        // Each row is converted to JSONB once, so reading its fields does not parse it again;
        // `->` gives the arguments back as JSON text with their keys in the order sent.
        sqlx::query(
            "INSERT INTO tasks (id, job_id, tenant, op, args, status, error, database_id, model, \
             attempt, worker, created_at, modified_at, started_at, finished_at) \
             SELECT t->>'id', ?1, t->>'tenant', t->>'op', t->'args', t->>'status', \
             t->>'error', t->>'database', t->>'model', t->>'attempt', t->>'worker', \
             t->>'created_at', t->>'modified_at', t->>'started_at', t->>'finished_at' \
             FROM (SELECT jsonb(value) AS t FROM json_each(?2))",
        )
        .bind(job.id.to_string())
        .bind(rows)
        .execute(&mut *tx)
        .await?;
        if let Some(cb) = callback {
            sqlx::query(
                "INSERT INTO callbacks (job_id, url, subscription_url, state, attempts, \
                 next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
            )
            .bind(job.id.to_string())
            .bind(&cb.url)
            .bind(cb.subscription_url.as_deref())
            .bind(CallbackState::Pending.as_str())
            .bind(ts_text(job.created_at))
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
        let ids = codec::json_text(&json!(
            jobs.iter().map(ToString::to_string).collect::<Vec<_>>()
        ))?;
        let rows = sqlx::query(
            "SELECT job_id, url, subscription_url, state, attempts, next_attempt_at, delivered_at \
             FROM callbacks WHERE job_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(&ids)
        .fetch_all(&self.reader)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let job_id = JobId(uuid("job_id", r.try_get("job_id")?)?);
            out.insert(
                job_id,
                CallbackRecord {
                    job_id,
                    url: r.try_get("url")?,
                    subscription_url: r.try_get("subscription_url")?,
                    state: codec::callback_state(r.try_get("state")?)?,
                    attempts: codec::attempt(r.try_get("attempts")?)?,
                    next_attempt_at: ts("next_attempt_at", r.try_get("next_attempt_at")?)?,
                    delivered_at: ts_opt("delivered_at", r.try_get("delivered_at")?)?,
                    history: Vec::new(),
                },
            );
        }
        if out.is_empty() {
            return Ok(out);
        }
        let attempts = sqlx::query(
            "SELECT job_id, attempt, at, http_status, error FROM callback_attempts \
             WHERE job_id IN (SELECT value FROM json_each(?1)) ORDER BY job_id, attempt",
        )
        .bind(&ids)
        .fetch_all(&self.reader)
        .await?;
        for r in &attempts {
            let job_id = JobId(uuid("job_id", r.try_get("job_id")?)?);
            if let Some(record) = out.get_mut(&job_id) {
                record.history.push(CallbackAttempt {
                    number: codec::attempt(r.try_get("attempt")?)?,
                    at: ts("at", r.try_get("at")?)?,
                    http_status: codec::http_status(r.try_get("http_status")?)?,
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
        // The IMMEDIATE transaction holds the write lock from the select to the update, so two
        // processes cannot claim the same callback.
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(concat!(
            "SELECT c.job_id, c.url, c.subscription_url, c.attempts, j.op, j.status, j.error, \
             j.modified_at FROM callbacks c JOIN jobs j ON j.id = c.job_id \
             WHERE c.state = ?1 AND c.next_attempt_at <= ?2 AND j.status NOT IN ",
            unfinished_sql!(),
            " ORDER BY c.next_attempt_at LIMIT ?3"
        ))
        .bind(CallbackState::Pending.as_str())
        .bind(ts_text(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in &rows {
            let job_id: String = r.try_get("job_id")?;
            let attempt = codec::attempt(r.try_get::<i64, _>("attempts")? + 1)?;
            sqlx::query(
                "UPDATE callbacks SET attempts = ?2, next_attempt_at = ?3 WHERE job_id = ?1",
            )
            .bind(&job_id)
            .bind(i64::from(attempt))
            .bind(ts_text(until))
            .execute(&mut *tx)
            .await?;
            due.push(DueCallback {
                job_id: JobId(uuid("job_id", &job_id)?),
                op: codec::op(r.try_get("op")?)?,
                url: r.try_get("url")?,
                subscription_url: r.try_get("subscription_url")?,
                job_status: codec::status(r.try_get("status")?)?,
                job_error: r.try_get("error")?,
                ended_at: ts("modified_at", r.try_get("modified_at")?)?,
                attempt,
            });
        }
        tx.commit().await?;
        due.sort_by_key(|d| d.ended_at);
        Ok(due)
    }

    async fn record_callback_attempt_inner(
        &self,
        job: &JobId,
        attempt: &CallbackAttempt,
        next: NextStep,
    ) -> Result<bool, ControlError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO callback_attempts (job_id, attempt, at, http_status, error) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(job.to_string())
        .bind(i64::from(attempt.number))
        .bind(ts_text(attempt.at))
        .bind(attempt.http_status.map(i64::from))
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let (state, next_at, delivered_at) = codec::after_attempt(next, attempt.at);
        let changed = sqlx::query(
            "UPDATE callbacks SET state = ?3, next_attempt_at = COALESCE(?4, next_attempt_at), \
             delivered_at = ?5 WHERE job_id = ?1 AND attempts = ?2 AND state = ?6",
        )
        .bind(job.to_string())
        .bind(i64::from(attempt.number))
        .bind(state.as_str())
        .bind(next_at.map(ts_text))
        .bind(delivered_at.map(ts_text))
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
        let mut tx = self.write_tx().await?;
        let now = ts_text(codec::now());
        let stored: Option<String> =
            sqlx::query_scalar("SELECT metadata FROM tenants WHERE id = ?1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let row =
            match stored {
                None => sqlx::query(concat!(
                    "INSERT INTO tenants (id, metadata, location, model, created_at, modified_at) \
                     VALUES (?1, ?2, ?3, NULL, ?4, ?4) RETURNING ",
                    tenant_columns!()
                ))
                .bind(id.as_str())
                .bind(codec::json_text(&metadata::merged(None, body))?)
                .bind(codec::location_text(location)?)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?,
                Some(stored) => {
                    let stored = codec::json("metadata", &stored)?;
                    let merged = metadata::merged(Some(&stored), body);
                    sqlx::query(concat!(
                    "UPDATE tenants SET metadata = ?2, modified_at = ?3 WHERE id = ?1 RETURNING ",
                    tenant_columns!()
                ))
                .bind(id.as_str())
                .bind(codec::json_text(&merged)?)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?
                }
            };
        let record = tenant_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    async fn start_task_inner(
        &self,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError> {
        let mut tx = self.write_tx().await?;
        let now = ts_text(codec::now());
        let row = sqlx::query(concat!(
            "UPDATE tasks SET status = ?2, worker = ?3, attempt = ?4, started_at = ?5, \
             modified_at = ?5, finished_at = NULL WHERE id = ?1 AND status IN ",
            unfinished_sql!(),
            " RETURNING ",
            task_columns!()
        ))
        .bind(id.to_string())
        .bind(Status::Running.as_str())
        .bind(worker)
        .bind(i64::from(attempt))
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let task = task_from_row(&row)?;
        sqlx::query("UPDATE jobs SET status = ?2, modified_at = ?3 WHERE id = ?1 AND status = ?4")
            .bind(task.job_id.to_string())
            .bind(Status::Running.as_str())
            .bind(&now)
            .bind(Status::Queued.as_str())
            .execute(&mut *tx)
            .await?;
        let tenant = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id = ?1"
        ))
        .bind(task.tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let tenant = tenant.as_ref().map(tenant_from_row).transpose()?;
        tx.commit().await?;
        Ok(Some(StartedTask { task, tenant }))
    }

    async fn finish_tasks_inner(
        &self,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError> {
        // The IMMEDIATE transaction holds the database's write lock: completions are serialized
        // (per job, and beyond), so exactly one of them sees the last task finish. The whole
        // batch is one transaction, so one fsync.
        let mut tx = self.write_tx().await?;
        let now = ts_text(codec::now());
        let mut outcomes = Vec::with_capacity(finished.len());
        for f in finished {
            let done: Option<(String, String)> = sqlx::query_as(concat!(
                "UPDATE tasks SET status = ?3, error = ?4, finished_at = ?6, modified_at = ?5 \
                 WHERE id = ?1 AND attempt = ?2 AND status IN ",
                unfinished_sql!(),
                " RETURNING job_id, tenant"
            ))
            .bind(f.id.to_string())
            .bind(i64::from(f.attempt))
            .bind(f.outcome.status().as_str())
            .bind(f.outcome.error())
            .bind(&now)
            .bind(ts_text(codec::at_millis(f.finished_at)))
            .fetch_optional(&mut *tx)
            .await?;
            let Some((job, tenant)) = done else {
                outcomes.push(FinishOutcome::Stale);
                continue;
            };
            if let Some(model) = &f.tenant_model {
                sqlx::query("UPDATE tenants SET model = ?2 WHERE id = ?1")
                    .bind(&tenant)
                    .bind(model.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            outcomes.push(match Self::end_job_if_done(&mut tx, &job, &now).await? {
                Some((status, error)) => FinishOutcome::JobEnded { status, error },
                None => FinishOutcome::Recorded,
            });
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Ends the job when none of its tasks is unfinished: rolls up the tasks' states into the
    /// job's status and error. `None` while tasks remain. Runs inside the caller's write
    /// transaction, which serializes it with every other write.
    async fn end_job_if_done(
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        job: &str,
        now: &str,
    ) -> Result<Option<(Status, Option<String>)>, ControlError> {
        let unfinished: bool = sqlx::query_scalar(concat!(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE job_id = ?1 AND status IN ",
            unfinished_sql!(),
            ")"
        ))
        .bind(job)
        .fetch_one(&mut **tx)
        .await?;
        if unfinished {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT tenant, status, error FROM tasks WHERE job_id = ?1 ORDER BY tenant, id",
        )
        .bind(job)
        .fetch_all(&mut **tx)
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
        sqlx::query("UPDATE jobs SET status = ?2, error = ?3, modified_at = ?4 WHERE id = ?1")
            .bind(job)
            .bind(status.as_str())
            .bind(error.as_deref())
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(Some((status, error)))
    }

    async fn cancel_job_inner(&self, id: &JobId) -> Result<Option<CancelOutcome>, ControlError> {
        let mut tx = self.write_tx().await?;
        let job = id.to_string();
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?1")
            .bind(&job)
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
        let now = ts_text(codec::now());
        let cancelled: Vec<String> = sqlx::query_scalar(
            "UPDATE tasks SET status = ?2, finished_at = ?3, modified_at = ?3 \
             WHERE job_id = ?1 AND status = ?4 RETURNING id",
        )
        .bind(&job)
        .bind(Status::Cancelled.as_str())
        .bind(&now)
        .bind(Status::Queued.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let running: Vec<String> =
            sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = ?1 AND status = ?2")
                .bind(&job)
                .bind(Status::Running.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let status = match Self::end_job_if_done(&mut tx, &job, &now).await? {
            Some((ended, _)) => ended,
            None => status,
        };
        tx.commit().await?;
        let ids = |raw: Vec<String>| {
            raw.iter()
                .map(|r| uuid("tasks.id", r).map(TaskId))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Some(CancelOutcome {
            cancelled: ids(cancelled)?,
            running: ids(running)?,
            status,
        }))
    }

    async fn tasks_of(&self, jobs: &[JobId]) -> Result<HashMap<JobId, Vec<Task>>, ControlError> {
        let ids: Vec<String> = jobs.iter().map(ToString::to_string).collect();
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE job_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY job_id, tenant, id"
        ))
        .bind(codec::json_text(&json!(ids))?)
        .fetch_all(&self.reader)
        .await?;
        let mut by_job: HashMap<JobId, Vec<Task>> = HashMap::new();
        for row in &rows {
            let task = task_from_row(row)?;
            by_job.entry(task.job_id).or_default().push(task);
        }
        Ok(by_job)
    }

    async fn get_job_inner(&self, id: &JobId) -> Result<Option<JobWithTasks>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let job = job_from_row(&row)?;
        let tasks = self.tasks_of(&[*id]).await?.remove(id).unwrap_or_default();
        Ok(Some(JobWithTasks { job, tasks }))
    }

    async fn list_jobs_inner(&self, limit: usize) -> Result<Vec<JobWithTasks>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?1"
        ))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        let jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
        let mut tasks = self.tasks_of(&ids).await?;
        Ok(jobs
            .into_iter()
            .map(|job| JobWithTasks {
                tasks: tasks.remove(&job.id).unwrap_or_default(),
                job,
            })
            .collect())
    }
}

/// Brings the schema up to `MIGRATIONS.len()`, in one transaction.
async fn migrate(pool: &SqlitePool) -> Result<(), ControlError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(ControlError::Corrupt(format!(
            "the control database has schema version {current}, newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for step in &MIGRATIONS[current..] {
        sqlx::raw_sql(*step).execute(&mut *tx).await?;
    }
    // PRAGMA takes no bind parameters; the value is our own constant.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "PRAGMA user_version = {}",
        MIGRATIONS.len()
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// ISO-8601 with milliseconds and `Z`, the form cds-mtxs reports; it also sorts as text.
fn ts_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ts(column: &str, raw: &str) -> Result<DateTime<Utc>, ControlError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ControlError::Corrupt(format!("{column} '{raw}': {e}")))
}

fn ts_opt(column: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ControlError> {
    raw.map(|r| ts(column, r)).transpose()
}

fn uuid(column: &str, raw: &str) -> Result<Uuid, ControlError> {
    Uuid::parse_str(raw).map_err(|e| ControlError::Corrupt(format!("{column} '{raw}': {e}")))
}

/// One task as `insert_job` reads it with `json_each`.
#[derive(Serialize)]
struct TaskRow<'a> {
    id: String,
    tenant: &'a str,
    op: &'static str,
    args: &'a TaskArgs,
    status: &'static str,
    error: Option<&'a str>,
    database: &'a str,
    model: Option<&'a str>,
    attempt: u32,
    worker: Option<&'a str>,
    created_at: String,
    modified_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// The tasks as one JSON array (serialized straight from borrowed fields: 10,000 tasks must not
/// cost 10,000 intermediate JSON trees).
fn task_rows_json(tasks: &[Task]) -> Result<String, ControlError> {
    let rows = tasks
        .iter()
        .map(|t| {
            Ok(TaskRow {
                id: t.id.to_string(),
                tenant: t.tenant.as_str(),
                op: t.op().as_str(),
                args: &t.args,
                status: t.status.as_str(),
                error: t.error.as_deref(),
                database: t.database.as_str(),
                model: t.model.as_ref().map(ModelHash::as_str),
                attempt: t.attempt,
                worker: t.worker.as_deref(),
                created_at: ts_text(t.created_at),
                modified_at: ts_text(t.modified_at),
                started_at: t.started_at.map(ts_text),
                finished_at: t.finished_at.map(ts_text),
            })
        })
        .collect::<Result<Vec<_>, ControlError>>()?;
    serde_json::to_string(&rows).map_err(|e| ControlError::Corrupt(format!("tasks: {e}")))
}

fn tenant_from_row(row: &SqliteRow) -> Result<TenantRecord, ControlError> {
    Ok(TenantRecord {
        id: codec::tenant(row.try_get("id")?)?,
        metadata: codec::json("metadata", row.try_get("metadata")?)?,
        created_at: ts("created_at", row.try_get("created_at")?)?,
        modified_at: ts("modified_at", row.try_get("modified_at")?)?,
        location: codec::location(row.try_get("location")?)?,
        model: codec::model(row.try_get("model")?)?,
    })
}

fn job_from_row(row: &SqliteRow) -> Result<Job, ControlError> {
    Ok(Job {
        id: JobId(uuid("id", row.try_get("id")?)?),
        args: codec::args(row.try_get("op")?, row.try_get("args")?)?,
        status: codec::status(row.try_get("status")?)?,
        error: row.try_get("error")?,
        created_at: ts("created_at", row.try_get("created_at")?)?,
        modified_at: ts("modified_at", row.try_get("modified_at")?)?,
    })
}

fn task_from_row(row: &SqliteRow) -> Result<Task, ControlError> {
    Ok(Task {
        id: TaskId(uuid("id", row.try_get("id")?)?),
        job_id: JobId(uuid("job_id", row.try_get("job_id")?)?),
        tenant: codec::tenant(row.try_get("tenant")?)?,
        args: codec::args(row.try_get("op")?, row.try_get("args")?)?,
        status: codec::status(row.try_get("status")?)?,
        error: row.try_get("error")?,
        database: codec::database(row.try_get("database_id")?)?,
        model: codec::model(row.try_get("model")?)?,
        attempt: codec::attempt(row.try_get("attempt")?)?,
        worker: row.try_get("worker")?,
        created_at: ts("created_at", row.try_get("created_at")?)?,
        modified_at: ts("modified_at", row.try_get("modified_at")?)?,
        started_at: ts_opt("started_at", row.try_get("started_at")?)?,
        finished_at: ts_opt("finished_at", row.try_get("finished_at")?)?,
    })
}

#[async_trait]
impl ControlStore for SqliteControlStore {
    async fn put_model(&self, hash: &ModelHash, csn_json: &str) -> Result<(), ControlError> {
        sqlx::query(
            "INSERT INTO model_versions (hash, csn, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash.as_str())
        .bind(csn_json)
        .bind(ts_text(codec::now()))
        .execute(&self.writer)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn get_model(&self, hash: &ModelHash) -> Result<Option<String>, ControlError> {
        sqlx::query_scalar("SELECT csn FROM model_versions WHERE hash = ?1")
            .bind(hash.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| codec::classify(e.into()))
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<TenantRecord>, ControlError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants ORDER BY id"
        ))
        .fetch_all(&self.reader)
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
        sqlx::query("UPDATE tenants SET model = ?2 WHERE id = ?1")
            .bind(id.as_str())
            .bind(model.as_str())
            .execute(&self.writer)
            .await
            .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, ControlError> {
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = ?1")
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(|e| codec::classify(e.into()))?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn tenants_per_database(&self) -> Result<HashMap<DatabaseId, u64>, ControlError> {
        let rows = sqlx::query(
            "SELECT location->>'database' AS database, count(*) AS tenants \
             FROM tenants GROUP BY 1",
        )
        .fetch_all(&self.reader)
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
        self.get_job_inner(id).await.map_err(codec::classify)
    }

    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobWithTasks>, ControlError> {
        self.list_jobs_inner(limit).await.map_err(codec::classify)
    }

    async fn get_task(&self, id: &TaskId) -> Result<Option<Task>, ControlError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
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
        sqlx::query(
            "UPDATE tasks SET status = ?3, error = COALESCE(?4, error), modified_at = ?5 \
             WHERE id = ?1 AND attempt = ?2 AND status = ?6",
        )
        .bind(id.to_string())
        .bind(i64::from(attempt))
        .bind(Status::Queued.as_str())
        .bind(error)
        .bind(ts_text(codec::now()))
        .bind(Status::Running.as_str())
        .execute(&self.writer)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }

    async fn heartbeat_task(&self, id: &TaskId, attempt: u32) -> Result<bool, ControlError> {
        let touched = sqlx::query(
            "UPDATE tasks SET modified_at = ?3 WHERE id = ?1 AND attempt = ?2 AND status = ?4",
        )
        .bind(id.to_string())
        .bind(i64::from(attempt))
        .bind(ts_text(codec::now()))
        .bind(Status::Running.as_str())
        .execute(&self.writer)
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
            " FROM tasks WHERE status IN ",
            unfinished_sql!(),
            " ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn delete_jobs_before(&self, before: DateTime<Utc>) -> Result<u64, ControlError> {
        // Tasks go with their job (ON DELETE CASCADE; foreign keys are on for every connection).
        let deleted = sqlx::query(concat!(
            "DELETE FROM jobs WHERE modified_at < ?1 AND status NOT IN ",
            unfinished_sql!()
        ))
        .bind(ts_text(codec::at_millis(before)))
        .execute(&self.writer)
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
            "UPDATE callbacks SET attempts = attempts - 1, next_attempt_at = ?3 \
             WHERE job_id = ?1 AND attempts = ?2 AND state = ?4",
        )
        .bind(job.to_string())
        .bind(i64::from(attempt))
        .bind(ts_text(codec::now()))
        .bind(CallbackState::Pending.as_str())
        .execute(&self.writer)
        .await
        .map_err(|e| codec::classify(e.into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_are_iso_with_milliseconds_and_z_and_round_trip() {
        let t = Utc
            .timestamp_opt(1_795_000_073, 489_000_000)
            .single()
            .expect("valid timestamp");
        let text = ts_text(t);
        assert_eq!(text, "2026-11-18T11:07:53.489Z");
        assert_eq!(ts("t", &text).ok(), Some(t));
    }
}
