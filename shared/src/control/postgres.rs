//! The control plane on PostgreSQL: schema `mtx` (migrations in `migrations/postgres/`), shared by
//! every API and worker process. What this dialect adds to [`SqlControlStore`]: its pools, how
//! values are bound and read, and the operations it does in one statement.
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
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgPoolOptions, PgQueryResult, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::codec::{self, unfinished_sql};
use super::dialect::{Dialect, Statements, shared_statements, task_columns};
use super::store::{SqlControlStore, task_from_row, tenant_from_columns};
use super::{ControlError, FinishOutcome, FinishedTask, StartedTask};
use crate::vocab::{CallbackState, DueCallback, JobId, ModelHash, Status, Task, TaskId};

/// The advisory lock that serializes `insert_job` across processes, so that counting unfinished
/// jobs and inserting a new one is atomic. Any fixed value works as long as nothing else in the
/// database uses it; this is "mtx.jobs" in ASCII.
const INSERT_JOB_LOCK: i64 = 0x6d74_782e_6a6f_6273;

/// The control-plane store on PostgreSQL.
pub type PostgresControlStore = SqlControlStore<PostgresDialect>;

/// PostgreSQL's pools and statements for [`SqlControlStore`].
#[derive(Debug, Clone)]
pub struct PostgresDialect {
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
            .await?;
        Self::from_pool(pool).await
    }

    /// Wraps an existing pool (and a bookkeeping pool of the same size to the same database,
    /// connected on demand) and brings schema `mtx` up to date.
    pub async fn from_pool(pool: PgPool) -> Result<Self, ControlError> {
        let mut migrator = sqlx::migrate!("../migrations/postgres");
        // Keep the migrator's bookkeeping inside `mtx` too, so the control plane owns exactly one
        // schema of the database it shares with tenant schemas.
        migrator.create_schema("mtx");
        migrator.dangerous_set_table_name("mtx._sqlx_migrations");
        migrator.run(&pool).await?;
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
        Ok(Self {
            dialect: PostgresDialect { pool, bookkeeping },
        })
    }

    /// The pool, for callers that share it (health checks).
    pub fn pool(&self) -> &PgPool {
        &self.dialect.pool
    }
}

#[async_trait]
impl Dialect for PostgresDialect {
    type Db = Postgres;
    type Id = Uuid;
    type Time = DateTime<Utc>;
    type IdSet = Vec<Uuid>;

    const SQL: &'static Statements = &shared_statements!(
        schema: "mtx.",
        json: "::json",
        text: "::text",
        ids_in: "= ANY($1)",
        for_update: " FOR UPDATE",
    );
    const ENDS_JOBS_IN_WRITE_TRANSACTION: bool = false;

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn bookkeeping(&self) -> &PgPool {
        &self.bookkeeping
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        begin(&self.pool).await
    }

    async fn lock_job_queue(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INSERT_JOB_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    fn id(id: Uuid) -> Uuid {
        id
    }

    fn at(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    fn id_set(ids: &[Uuid]) -> Result<Vec<Uuid>, ControlError> {
        Ok(ids.to_vec())
    }

    fn read_id(row: &PgRow, column: &str) -> Result<Uuid, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_at(row: &PgRow, column: &str) -> Result<DateTime<Utc>, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_at_opt(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, ControlError> {
        Ok(row.try_get(column)?)
    }

    /// `integer` columns (attempts, HTTP statuses) and `bigint` aggregates (counts) alike.
    fn read_int(row: &PgRow, column: &str) -> Result<i64, ControlError> {
        Self::read_int_opt(row, column)?
            .ok_or_else(|| ControlError::Corrupt(format!("{column} is NULL")))
    }

    fn read_int_opt(row: &PgRow, column: &str) -> Result<Option<i64>, ControlError> {
        match row.try_get::<Option<i32>, _>(column) {
            Ok(value) => Ok(value.map(i64::from)),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(row.try_get::<Option<i64>, _>(column)?),
            Err(e) => Err(e.into()),
        }
    }

    fn read_text(row: &PgRow, column: &str) -> Result<String, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_text_opt(row: &PgRow, column: &str) -> Result<Option<String>, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_flag(row: &PgRow, column: &str) -> Result<bool, ControlError> {
        Ok(row.try_get(column)?)
    }

    async fn insert_tasks(
        conn: &mut PgConnection,
        job: Uuid,
        tasks: &[Task],
    ) -> Result<(), ControlError> {
        TaskColumns::of(tasks)?.insert(job).execute(conn).await?;
        Ok(())
    }

    async fn start_task(
        store: &PostgresControlStore,
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
            task_columns!("::text"),
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
        .fetch_optional(&store.dialect.bookkeeping)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tenant = match row.try_get::<Option<String>, _>("tenant_id")? {
            None => None,
            Some(_) => Some(tenant_from_columns::<Self>(&row, "tenant_")?),
        };
        Ok(Some(StartedTask {
            task: task_from_row::<Self>(&row)?,
            tenant,
        }))
    }

    async fn finish_tasks(
        store: &PostgresControlStore,
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
             tenant AS (UPDATE mtx.tenants SET model = done.model, modified_at = $6 FROM done \
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
        .fetch_all(&store.dialect.bookkeeping)
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
            .fetch_all(&store.dialect.pool)
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
                store.end_job_if_done_after_commit(job, now).await?
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

    async fn claim_due_callbacks(
        store: &PostgresControlStore,
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
        .fetch_all(&store.dialect.pool)
        .await?;
        let due = rows
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
        Ok(due)
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

    fn insert(self, job: Uuid) -> sqlx::query::Query<'static, Postgres, PgArguments> {
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
