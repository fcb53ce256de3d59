//! The control plane in the embedded mode: one SQLite file, `mtx-control.sqlite`, in the data
//! directory. What this dialect adds to [`SqlControlStore`]: its connections, how values are
//! bound and read (ids and timestamps are text), and the operations it does statement by
//! statement inside one write transaction.
//!
//! Every write that reads before it writes runs in a `BEGIN IMMEDIATE` transaction, which takes
//! SQLite's write lock up front: that makes the queue-size check atomic with the insert and
//! serializes task completions, also against another process opening the same file, and it
//! avoids the lock-upgrade deadlock a deferred transaction can run into. WAL mode lets readers go
//! on meanwhile. The schema comes from `migrations/sqlite/`, run by `sqlx::migrate!`; a file of
//! the builds before it, which numbered their schema with `PRAGMA user_version` alone, is adopted
//! as it is (see `migrate`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};
use uuid::Uuid;

use super::codec::{self, unfinished_sql};
use super::dialect::{Dialect, Statements, shared_statements, task_columns};
use super::store::{SqlControlStore, task_from_row, tenant_from_row};
use super::{ControlError, FinishOutcome, FinishedTask, StartedTask};
use crate::vocab::{CallbackState, DueCallback, JobId, ModelHash, Status, Task, TaskArgs, TaskId};

/// The control-plane file in the data directory.
pub const CONTROL_FILE: &str = "mtx-control.sqlite";

/// How long a statement waits for another connection's write lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only connections: WAL lets them read while the writer writes.
const MAX_READERS: u32 = 4;

/// The control-plane store of the embedded mode.
pub type SqliteControlStore = SqlControlStore<SqliteDialect>;

/// SQLite's connections and statements for [`SqlControlStore`].
#[derive(Debug, Clone)]
pub struct SqliteDialect {
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
            dialect: SqliteDialect {
                writer,
                reader,
                path,
            },
        })
    }

    /// The control-plane file.
    pub fn path(&self) -> &Path {
        &self.dialect.path
    }
}

/// Brings the schema up to date with `migrations/sqlite/`, in one `BEGIN IMMEDIATE`
/// transaction (each migration a savepoint in it), so two processes opening a new file cannot
/// both apply a migration. `PRAGMA user_version` keeps naming the latest migration applied, as
/// it did before the migrations were files: a file whose version is newer than this build knows
/// is refused, and a file of the earlier builds (a version but no `_sqlx_migrations`) holds
/// exactly migrations `1..=version`, which are recorded as applied without running them again.
async fn migrate(pool: &SqlitePool) -> Result<(), ControlError> {
    let migrator = sqlx::migrate!("../migrations/sqlite");
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    if version > latest {
        return Err(ControlError::Corrupt(format!(
            "the control database has schema version {version}, newer than this build knows \
             ({latest})"
        )));
    }
    let tracked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
         AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !tracked && version > 0 {
        migrator.run_direct(Some(version), &mut *tx, true).await?;
    }
    // `run_direct` rather than `run`: over a transaction's connection, `run`'s future is not
    // provably `Send` (sqlx's "`Acquire` is not general enough"), and callers spawn it.
    migrator.run_direct(None, &mut *tx, false).await?;
    // PRAGMA takes no bind parameters; the value is our own.
    sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA user_version = {latest}")))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Id = String;
    type Time = String;
    /// A JSON array of ids, matched with `json_each`.
    type IdSet = String;

    const SQL: &'static Statements = &shared_statements!(
        schema: "main.",
        json: "",
        text: "",
        ids_in: "IN (SELECT value FROM json_each($1))",
        for_update: "",
    );
    const ENDS_JOBS_IN_WRITE_TRANSACTION: bool = true;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn bookkeeping(&self) -> &SqlitePool {
        &self.writer
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// The IMMEDIATE transaction holds the database's write lock already.
    async fn lock_job_queue(_conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn id(id: Uuid) -> String {
        id.to_string()
    }

    fn at(t: DateTime<Utc>) -> String {
        ts_text(t)
    }

    fn id_set(ids: &[Uuid]) -> Result<String, ControlError> {
        codec::json_text(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
    }

    fn read_id(row: &SqliteRow, column: &str) -> Result<Uuid, ControlError> {
        uuid(column, row.try_get(column)?)
    }

    fn read_at(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, ControlError> {
        ts(column, row.try_get(column)?)
    }

    fn read_at_opt(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, ControlError> {
        row.try_get::<Option<&str>, _>(column)?
            .map(|raw| ts(column, raw))
            .transpose()
    }

    fn read_int(row: &SqliteRow, column: &str) -> Result<i64, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_int_opt(row: &SqliteRow, column: &str) -> Result<Option<i64>, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_text(row: &SqliteRow, column: &str) -> Result<String, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_text_opt(row: &SqliteRow, column: &str) -> Result<Option<String>, ControlError> {
        Ok(row.try_get(column)?)
    }

    fn read_flag(row: &SqliteRow, column: &str) -> Result<bool, ControlError> {
        Ok(row.try_get(column)?)
    }

    async fn insert_tasks(
        conn: &mut SqliteConnection,
        job: Uuid,
        tasks: &[Task],
    ) -> Result<(), ControlError> {
        // All tasks in one statement: the rows travel as one JSON array parameter, which keeps
        // the statement far from SQLite's bind-parameter limit however many tasks there are.
        // Each row is converted to JSONB once, so reading its fields does not parse it again;
        // `->` gives the arguments back as JSON text with their keys in the order sent.
        sqlx::query(
            "INSERT INTO main.tasks (id, job_id, tenant, op, args, status, error, database_id, \
             model, attempt, worker, created_at, modified_at, started_at, finished_at) \
             SELECT t->>'id', $1, t->>'tenant', t->>'op', t->'args', t->>'status', \
             t->>'error', t->>'database', t->>'model', t->>'attempt', t->>'worker', \
             t->>'created_at', t->>'modified_at', t->>'started_at', t->>'finished_at' \
             FROM (SELECT jsonb(value) AS t FROM json_each($2))",
        )
        .bind(job.to_string())
        .bind(task_rows_json(tasks)?)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn start_task(
        store: &SqliteControlStore,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError> {
        let mut tx = store.dialect.begin_write().await?;
        let now = ts_text(codec::now());
        let row = sqlx::query(concat!(
            "UPDATE main.tasks SET status = $2, worker = $3, attempt = $4, started_at = $5, \
             modified_at = $5, finished_at = NULL WHERE id = $1 AND status IN ",
            unfinished_sql!(),
            " RETURNING ",
            task_columns!("")
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
        let task = task_from_row::<Self>(&row)?;
        sqlx::query(Self::SQL.mark_job_running)
            .bind(task.job_id.to_string())
            .bind(Status::Running.as_str())
            .bind(&now)
            .bind(Status::Queued.as_str())
            .execute(&mut *tx)
            .await?;
        let tenant = sqlx::query(Self::SQL.get_tenant)
            .bind(task.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let tenant = tenant.as_ref().map(tenant_from_row::<Self>).transpose()?;
        tx.commit().await?;
        Ok(Some(StartedTask { task, tenant }))
    }

    async fn finish_tasks(
        store: &SqliteControlStore,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError> {
        // The IMMEDIATE transaction holds the database's write lock: completions are serialized
        // (per job, and beyond), so exactly one of them sees the last task finish. The whole
        // batch is one transaction, so one fsync.
        let mut tx = store.dialect.begin_write().await?;
        let now = codec::now();
        let mut outcomes = Vec::with_capacity(finished.len());
        for f in finished {
            let done: Option<(String, String)> = sqlx::query_as(concat!(
                "UPDATE main.tasks SET status = $3, error = $4, finished_at = $6, \
                 modified_at = $5 WHERE id = $1 AND attempt = $2 AND status IN ",
                unfinished_sql!(),
                " RETURNING job_id, tenant"
            ))
            .bind(f.id.to_string())
            .bind(i64::from(f.attempt))
            .bind(f.outcome.status().as_str())
            .bind(f.outcome.error())
            .bind(ts_text(now))
            .bind(ts_text(codec::at_millis(f.finished_at)))
            .fetch_optional(&mut *tx)
            .await?;
            let Some((job, tenant)) = done else {
                outcomes.push(FinishOutcome::Stale);
                continue;
            };
            if let Some(model) = &f.tenant_model {
                sqlx::query(Self::SQL.record_tenant_model)
                    .bind(&tenant)
                    .bind(model.as_str())
                    .bind(ts_text(now))
                    .execute(&mut *tx)
                    .await?;
            }
            let job = uuid("tasks.job_id", &job)?;
            outcomes.push(SqliteControlStore::end_job_if_done(&mut tx, job, now).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn claim_due_callbacks(
        store: &SqliteControlStore,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError> {
        let now = codec::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(1));
        // The IMMEDIATE transaction holds the write lock from the select to the update, so two
        // processes cannot claim the same callback.
        let mut tx = store.dialect.begin_write().await?;
        let rows = sqlx::query(concat!(
            "SELECT c.job_id, c.url, c.subscription_url, c.attempts, j.op, j.status, j.error, \
             j.modified_at FROM main.callbacks c JOIN main.jobs j ON j.id = c.job_id \
             WHERE c.state = $1 AND c.next_attempt_at <= $2 AND j.status NOT IN ",
            unfinished_sql!(),
            " ORDER BY c.next_attempt_at LIMIT $3"
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
                "UPDATE main.callbacks SET attempts = $2, next_attempt_at = $3 WHERE job_id = $1",
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
        Ok(due)
    }
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
