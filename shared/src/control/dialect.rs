//! What differs between the control plane's two databases, and nothing else.
//!
//! The statements both understand are written once, in [`shared_statements!`], and rendered for
//! each dialect at compile time: the schema prefix, the casts PostgreSQL wants for its `json`
//! columns, how a set of ids is matched, and the row lock a transaction takes. Placeholders are
//! `$n` in both (sqlx binds SQLite's `$n` by number too). A [`Dialect`] adds its connection pools,
//! how values are bound and read (PostgreSQL has `uuid` and `timestamptz`, SQLite keeps text), and
//! the few operations whose statements really differ (batch inserts, one-statement task starts
//! and completions, claiming callbacks with `SKIP LOCKED`).

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Pool, Transaction, Type};
use uuid::Uuid;

use super::store::SqlControlStore;
use super::{ControlError, FinishOutcome, FinishedTask, StartedTask};
use crate::vocab::{DueCallback, Task, TaskId};

/// A database connection of dialect `D`.
pub(super) type Connection<D> = <<D as Dialect>::Db as Database>::Connection;
/// A result row of dialect `D`.
pub(super) type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// One database the control plane runs on. Implemented by
/// [`super::postgres::PostgresDialect`] and [`super::sqlite::SqliteDialect`].
#[async_trait]
pub trait Dialect: Clone + Debug + Send + Sync + Sized + 'static {
    type Db: Database;
    /// How a UUID is bound (`uuid` on PostgreSQL, hyphenated text on SQLite).
    type Id: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Send;
    /// How a timestamp is bound (`timestamptz`, or ISO-8601 text that sorts as it should).
    type Time: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Clone + Send;
    /// How a set of ids is bound, for the `ids_in` condition of the shared statements.
    type IdSet: for<'q> Encode<'q, Self::Db> + Type<Self::Db> + Send + Sync;

    /// The shared statements in this dialect.
    const SQL: &'static Statements;
    /// Whether a job whose last task just ended is ended inside the same write transaction
    /// (SQLite: its single writer serializes completions) rather than after its commit
    /// (PostgreSQL: only after the commit does the last committer see every task done).
    const ENDS_JOBS_IN_WRITE_TRANSACTION: bool;

    /// Connections for reads.
    fn reader(&self) -> &Pool<Self::Db>;
    /// Connections for writes that must be durable when they return.
    fn writer(&self) -> &Pool<Self::Db>;
    /// Connections for task bookkeeping, which a crash may lose (each record is re-derivable).
    fn bookkeeping(&self) -> &Pool<Self::Db>;
    /// Starts a write transaction that serializes with the other writers as the dialect needs,
    /// and that its caller may abandon at any await.
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
    /// Makes counting unfinished jobs and inserting one atomic across processes, for the rest
    /// of the transaction.
    async fn lock_job_queue(conn: &mut Connection<Self>) -> Result<(), sqlx::Error>;

    /// How many rows a statement changed.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    fn id(id: Uuid) -> Self::Id;
    fn at(t: DateTime<Utc>) -> Self::Time;
    fn id_set(ids: &[Uuid]) -> Result<Self::IdSet, ControlError>;

    fn read_id(row: &Row<Self>, column: &str) -> Result<Uuid, ControlError>;
    fn read_at(row: &Row<Self>, column: &str) -> Result<DateTime<Utc>, ControlError>;
    fn read_at_opt(row: &Row<Self>, column: &str) -> Result<Option<DateTime<Utc>>, ControlError>;
    fn read_int(row: &Row<Self>, column: &str) -> Result<i64, ControlError>;
    fn read_int_opt(row: &Row<Self>, column: &str) -> Result<Option<i64>, ControlError>;
    fn read_text(row: &Row<Self>, column: &str) -> Result<String, ControlError>;
    fn read_text_opt(row: &Row<Self>, column: &str) -> Result<Option<String>, ControlError>;
    fn read_flag(row: &Row<Self>, column: &str) -> Result<bool, ControlError>;

    /// Inserts a job's tasks in one statement, however many there are.
    async fn insert_tasks(
        conn: &mut Connection<Self>,
        job: Uuid,
        tasks: &[Task],
    ) -> Result<(), ControlError>;
    /// [`super::ControlStore::start_task`].
    async fn start_task(
        store: &SqlControlStore<Self>,
        id: &TaskId,
        worker: &str,
        attempt: u32,
    ) -> Result<Option<StartedTask>, ControlError>;
    /// [`super::ControlStore::finish_tasks`], for a non-empty batch.
    async fn finish_tasks(
        store: &SqlControlStore<Self>,
        finished: &[FinishedTask],
    ) -> Result<Vec<FinishOutcome>, ControlError>;
    /// [`super::ControlStore::claim_due_callbacks`], oldest job end first.
    async fn claim_due_callbacks(
        store: &SqlControlStore<Self>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueCallback>, ControlError>;
}

/// The statements both dialects run, one field per statement (see [`shared_statements!`]).
#[derive(Debug)]
pub struct Statements {
    pub put_model: &'static str,
    pub get_model: &'static str,
    pub get_tenant: &'static str,
    pub list_tenants: &'static str,
    pub insert_tenant_if_new: &'static str,
    pub lock_tenant_metadata: &'static str,
    pub update_tenant_metadata: &'static str,
    pub set_tenant_model: &'static str,
    /// The version a finished task leaves its tenant at; moves `modified_at`, as cds-mtxs
    /// records every upgrade (`set_tenant_model`, an operator's adoption, does not).
    pub record_tenant_model: &'static str,
    pub delete_tenant: &'static str,
    pub tenants_per_database: &'static str,
    pub count_unfinished_jobs: &'static str,
    pub insert_job: &'static str,
    pub insert_callback: &'static str,
    pub get_job: &'static str,
    pub list_jobs: &'static str,
    pub tasks_of_jobs: &'static str,
    pub get_task: &'static str,
    pub mark_job_running: &'static str,
    pub requeue_task: &'static str,
    pub heartbeat_task: &'static str,
    pub unfinished_tasks: &'static str,
    pub delete_jobs_before: &'static str,
    pub any_unfinished_task: &'static str,
    pub task_outcomes_of_job: &'static str,
    pub end_job: &'static str,
    pub lock_job_status: &'static str,
    pub cancel_queued_tasks: &'static str,
    pub running_tasks_of_job: &'static str,
    pub callbacks_of_jobs: &'static str,
    pub callback_attempts_of_jobs: &'static str,
    pub insert_callback_attempt: &'static str,
    pub update_callback_after_attempt: &'static str,
    pub release_callback_claim: &'static str,
}

/// The columns of a task, in the order [`super::store`]'s decoder reads them (`$text` turns a
/// `json` column into text where the dialect needs it).
macro_rules! task_columns {
    ($text:literal) => {
        concat!(
            "id, job_id, tenant, op, args",
            $text,
            " AS args, status, error, database_id, model, attempt, worker, created_at, \
             modified_at, started_at, finished_at"
        )
    };
}
pub(super) use task_columns;

/// The columns of a tenant, in the order [`super::store`]'s decoder reads them.
macro_rules! tenant_columns {
    ($text:literal) => {
        concat!(
            "id, metadata",
            $text,
            " AS metadata, location",
            $text,
            " AS location, model, created_at, modified_at"
        )
    };
}
pub(super) use tenant_columns;

/// The shared statements for one dialect: `schema` prefixes every table, `json` follows a
/// parameter stored in a JSON column, `text` follows a JSON column read as text, `ids_in`
/// matches a column against the id set bound as `$1`, and `for_update` ends a `SELECT` whose rows
/// the transaction keeps locked.
macro_rules! shared_statements {
    (
        schema: $s:literal,
        json: $json:literal,
        text: $text:literal,
        ids_in: $ids_in:literal,
        for_update: $for_update:literal $(,)?
    ) => {
        $crate::control::dialect::Statements {
            put_model: concat!(
                "INSERT INTO ",
                $s,
                "model_versions (hash, csn, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (hash) DO NOTHING"
            ),
            get_model: concat!("SELECT csn FROM ", $s, "model_versions WHERE hash = $1"),
            get_tenant: concat!(
                "SELECT ",
                $crate::control::dialect::tenant_columns!($text),
                " FROM ",
                $s,
                "tenants WHERE id = $1"
            ),
            list_tenants: concat!(
                "SELECT ",
                $crate::control::dialect::tenant_columns!($text),
                " FROM ",
                $s,
                "tenants ORDER BY id"
            ),
            insert_tenant_if_new: concat!(
                "INSERT INTO ",
                $s,
                "tenants (id, metadata, location, model, created_at, \
                 modified_at) VALUES ($1, $2",
                $json,
                ", $3",
                $json,
                ", NULL, $4, $4) \
                 ON CONFLICT (id) DO NOTHING RETURNING ",
                $crate::control::dialect::tenant_columns!($text)
            ),
            lock_tenant_metadata: concat!(
                "SELECT metadata",
                $text,
                " AS metadata FROM ",
                $s,
                "tenants WHERE id = $1",
                $for_update
            ),
            update_tenant_metadata: concat!(
                "UPDATE ",
                $s,
                "tenants SET metadata = $2",
                $json,
                ", modified_at = $3 \
                 WHERE id = $1 RETURNING ",
                $crate::control::dialect::tenant_columns!($text)
            ),
            set_tenant_model: concat!("UPDATE ", $s, "tenants SET model = $2 WHERE id = $1"),
            record_tenant_model: concat!(
                "UPDATE ",
                $s,
                "tenants SET model = $2, modified_at = $3 WHERE id = $1"
            ),
            delete_tenant: concat!("DELETE FROM ", $s, "tenants WHERE id = $1"),
            tenants_per_database: concat!(
                "SELECT location->>'database' AS database, count(*) AS tenants FROM ",
                $s,
                "tenants GROUP BY 1"
            ),
            count_unfinished_jobs: concat!(
                "SELECT count(*) AS unfinished FROM ",
                $s,
                "jobs WHERE status IN ",
                $crate::control::codec::unfinished_sql!()
            ),
            insert_job: concat!(
                "INSERT INTO ",
                $s,
                "jobs (id, op, args, status, error, created_at, modified_at) \
                 VALUES ($1, $2, $3",
                $json,
                ", $4, $5, $6, $7)"
            ),
            insert_callback: concat!(
                "INSERT INTO ",
                $s,
                "callbacks (job_id, url, subscription_url, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 0, $5, $5)"
            ),
            get_job: concat!(
                "SELECT id, op, args",
                $text,
                " AS args, status, error, created_at, modified_at \
                 FROM ",
                $s,
                "jobs WHERE id = $1"
            ),
            list_jobs: concat!(
                "SELECT id, op, args",
                $text,
                " AS args, status, error, created_at, modified_at \
                 FROM ",
                $s,
                "jobs ORDER BY created_at DESC, id DESC LIMIT $1"
            ),
            tasks_of_jobs: concat!(
                "SELECT ",
                $crate::control::dialect::task_columns!($text),
                " FROM ",
                $s,
                "tasks WHERE job_id ",
                $ids_in,
                " ORDER BY job_id, tenant, id"
            ),
            get_task: concat!(
                "SELECT ",
                $crate::control::dialect::task_columns!($text),
                " FROM ",
                $s,
                "tasks WHERE id = $1"
            ),
            mark_job_running: concat!(
                "UPDATE ",
                $s,
                "jobs SET status = $2, modified_at = $3 WHERE id = $1 AND status = $4"
            ),
            requeue_task: concat!(
                "UPDATE ",
                $s,
                "tasks SET status = $3, error = COALESCE($4, error), \
                 modified_at = $5 WHERE id = $1 AND attempt = $2 AND status = $6"
            ),
            heartbeat_task: concat!(
                "UPDATE ",
                $s,
                "tasks SET modified_at = $3 \
                 WHERE id = $1 AND attempt = $2 AND status = $4"
            ),
            unfinished_tasks: concat!(
                "SELECT ",
                $crate::control::dialect::task_columns!($text),
                " FROM ",
                $s,
                "tasks WHERE status IN ",
                $crate::control::codec::unfinished_sql!(),
                " ORDER BY created_at, id"
            ),
            delete_jobs_before: concat!(
                "DELETE FROM ",
                $s,
                "jobs WHERE modified_at < $1 AND status NOT IN ",
                $crate::control::codec::unfinished_sql!()
            ),
            any_unfinished_task: concat!(
                "SELECT EXISTS (SELECT 1 FROM ",
                $s,
                "tasks WHERE job_id = $1 AND status IN ",
                $crate::control::codec::unfinished_sql!(),
                ") AS unfinished"
            ),
            task_outcomes_of_job: concat!(
                "SELECT tenant, status, error FROM ",
                $s,
                "tasks WHERE job_id = $1 \
                 ORDER BY tenant, id"
            ),
            end_job: concat!(
                "UPDATE ",
                $s,
                "jobs SET status = $2, error = $3, modified_at = $4 \
                 WHERE id = $1 AND status IN ",
                $crate::control::codec::unfinished_sql!()
            ),
            lock_job_status: concat!("SELECT status FROM ", $s, "jobs WHERE id = $1", $for_update),
            cancel_queued_tasks: concat!(
                "UPDATE ",
                $s,
                "tasks SET status = $2, finished_at = $3, modified_at = $3 \
                 WHERE job_id = $1 AND status = $4 RETURNING id"
            ),
            running_tasks_of_job: concat!(
                "SELECT id FROM ",
                $s,
                "tasks WHERE job_id = $1 AND status = $2"
            ),
            callbacks_of_jobs: concat!(
                "SELECT job_id, url, subscription_url, state, attempts, next_attempt_at, \
                 delivered_at FROM ",
                $s,
                "callbacks WHERE job_id ",
                $ids_in
            ),
            callback_attempts_of_jobs: concat!(
                "SELECT job_id, attempt, at, http_status, error FROM ",
                $s,
                "callback_attempts \
                 WHERE job_id ",
                $ids_in,
                " ORDER BY job_id, attempt"
            ),
            insert_callback_attempt: concat!(
                "INSERT INTO ",
                $s,
                "callback_attempts (job_id, attempt, at, http_status, error) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, attempt) DO NOTHING"
            ),
            update_callback_after_attempt: concat!(
                "UPDATE ",
                $s,
                "callbacks SET state = $3, \
                 next_attempt_at = COALESCE($4, next_attempt_at), delivered_at = $5 \
                 WHERE job_id = $1 AND attempts = $2 AND state = $6"
            ),
            release_callback_claim: concat!(
                "UPDATE ",
                $s,
                "callbacks SET attempts = attempts - 1, next_attempt_at = $3 \
                 WHERE job_id = $1 AND attempts = $2 AND state = $4"
            ),
        }
    };
}
pub(super) use shared_statements;
