//! Tenant storage on PostgreSQL: one schema per tenant, on one of several databases.
//!
//! Every change runs in one transaction that first takes a transaction-scoped advisory lock
//! derived from the tenant id. The scheduler already runs at most one task per tenant; the lock
//! is the fencing backstop for when it is wrong (a stalled worker whose lease was handed on): the
//! second transaction waits until the first has committed or rolled back, and then finds the
//! marker moved on and refuses with [`TenantStoreError::VersionConflict`]. PostgreSQL DDL is
//! transactional, so a failed change leaves nothing behind.
//!
//! Every identifier, the store's own included, goes through [`quote_ident`] and is
//! schema-qualified; the connection's `search_path` is never relied on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Postgres, Transaction};

use super::{
    MARKER_TABLE, SchemaChange, StorageLocation, TenantStore, TenantStoreError, recorded_model,
};
use crate::drift::{DatabaseColumn, DatabaseSchema, DatabaseUnique, DatabaseView};
use crate::sql::{Dialect, quote_ident};
use crate::tenant::schema_name_for;
use crate::vocab::{DatabaseId, ModelHash, TenantId};

/// Time limits for the statements of one tenant change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTimeouts {
    /// How long a statement waits for a table lock (e.g. held by the application's own traffic)
    /// before the change fails and can be retried, instead of queueing every query behind it.
    pub lock_timeout: Duration,
    /// How long one statement may run; also bounds the wait for the tenant's advisory lock.
    pub statement_timeout: Duration,
}

impl Default for PgTimeouts {
    /// The configuration's defaults (`MTX_PG_LOCK_TIMEOUT_MS`, `MTX_PG_STATEMENT_TIMEOUT_MS`).
    fn default() -> Self {
        let config = crate::config::PgTimeoutsConfig::default();
        Self {
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
        }
    }
}

/// Tenant storage on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresTenantStore {
    /// In configuration order; a handful of entries, so a linear lookup is the cheapest.
    databases: Vec<(DatabaseId, Arc<TenantDatabase>)>,
    timeouts: PgTimeouts,
}

/// How long a connection stays among a database's [`TenantDatabase::warm`] ones unused before it
/// goes back to the pool (which closes idle connections in its own time).
const WARM_FOR: Duration = Duration::from_secs(60);
/// Uses of a connection after which it is closed rather than kept. A PostgreSQL backend caches
/// the catalog entries of every relation it touches and keeps them for its life, and every
/// tenant schema has its own relations: a backend that has served a thousand tenants spends a
/// third more CPU on the same DDL than a fresh one (measured with `bench/evolve.sh` after
/// subscribing the thousand tenants: 1.2–1.5× the psql baseline with the subscribing
/// connections, 1.0–1.2× with new ones). Opening a connection costs a few milliseconds, a
/// hundred changes about a second.
pub const USES_PER_CONNECTION: u32 = 100;

/// A connection taken for one use of a tenant database.
#[derive(Debug)]
struct Leased {
    conn: PoolConnection<Postgres>,
    /// Uses so far, counted since the connection last came out of the pool.
    uses: u32,
    /// Whether the current use ended cleanly ([`TenantDatabase::keep`]).
    ended: bool,
}

impl Drop for Leased {
    /// A use that did not end cleanly (it failed, or its caller gave up at an await: a timeout,
    /// a lost lease, a shutdown) may have left the connection inside a transaction, open or
    /// aborted, that sqlx does not know about: a script's own `BEGIN`, or a `BEGIN` whose
    /// reply was never read (sqlx 0.9, transact-rs/sqlx#4393). The pool would hand it out as
    /// healthy, and every later use would run inside that transaction; so it is closed.
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}

impl std::ops::Deref for Leased {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// One tenant database: its pool, and the connections kept out of it between uses.
#[derive(Debug)]
struct TenantDatabase {
    pool: PgPool,
    /// Connections that ended their last use cleanly, the most recently used last; every use
    /// takes from here first. sqlx's pool hands out its idle connections first in, first out,
    /// and pings each one it gets back. During a large upgrade both cost: the ping is a round
    /// trip more per change, and first-in-first-out spreads the changes over every connection
    /// the pool ever opened, so that each runs on a backend that has yet to catch up with the
    /// catalog invalidations of all changes made on the others since its last use. Taken from
    /// here, the changes run on as many connections as run at once, like a fixed set of psql
    /// sessions.
    warm: Mutex<Vec<(Leased, Instant)>>,
}

impl TenantDatabase {
    fn new(pool: PgPool) -> Self {
        Self {
            pool,
            warm: Mutex::new(Vec::new()),
        }
    }

    /// The most recently used warm connection, or one from the pool.
    async fn acquire(&self) -> Result<Leased, sqlx::Error> {
        let (conn, expired) = {
            let mut warm = self.warm.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let fresh_from = warm
                .iter()
                .position(|(_, used)| now.duration_since(*used) < WARM_FOR)
                .unwrap_or(warm.len());
            let expired: Vec<_> = warm.drain(..fresh_from).collect();
            (warm.pop(), expired)
        };
        // Dropped outside the lock: a dropped connection returns to the pool.
        drop(expired);
        let mut leased = match conn {
            Some((leased, _)) => leased,
            None => Leased {
                conn: self.pool.acquire().await?,
                uses: 0,
                ended: true,
            },
        };
        leased.uses += 1;
        leased.ended = false;
        Ok(leased)
    }

    /// Keeps a connection whose last use ended cleanly (no transaction open, nothing unread)
    /// for the next use. Only while the pool could still open another: when it is at its
    /// limit, someone may be waiting for it, and the connection goes back to the pool. After
    /// [`USES_PER_CONNECTION`] uses it is closed.
    fn keep(&self, mut leased: Leased) {
        leased.ended = true;
        if leased.uses >= USES_PER_CONNECTION {
            leased.conn.close_on_drop();
            return;
        }
        if self.pool.size() >= self.pool.options().get_max_connections() {
            return; // dropped: back to the pool
        }
        self.warm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((leased, Instant::now()));
    }
}

impl PostgresTenantStore {
    /// Connects a pool of at most `max_connections_per_db` to each database. Fails if a database
    /// cannot be reached, naming it.
    pub async fn connect(
        databases: &[(DatabaseId, String)],
        max_connections_per_db: u32,
    ) -> Result<Self, TenantStoreError> {
        let mut pools = Vec::with_capacity(databases.len());
        for (id, url) in databases {
            // No liveness ping before each use: it would add a round trip to every change, and a
            // connection that died meanwhile fails the change as unavailable, which is retried.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections_per_db)
                .test_before_acquire(false)
                .connect(url)
                .await
                .map_err(|source| TenantStoreError::Connect {
                    database: id.clone(),
                    source,
                })?;
            pools.push((id.clone(), pool));
        }
        Ok(Self::from_pools(pools))
    }

    /// Uses existing pools, one per database.
    pub fn from_pools(databases: Vec<(DatabaseId, PgPool)>) -> Self {
        Self {
            databases: databases
                .into_iter()
                .map(|(id, pool)| (id, Arc::new(TenantDatabase::new(pool))))
                .collect(),
            timeouts: PgTimeouts::default(),
        }
    }

    /// Replaces the default time limits.
    pub fn with_timeouts(mut self, timeouts: PgTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    fn database(&self, database: &DatabaseId) -> Result<&TenantDatabase, TenantStoreError> {
        self.databases
            .iter()
            .find(|(id, _)| id == database)
            .map(|(_, db)| db.as_ref())
            .ok_or_else(|| TenantStoreError::UnknownDatabase(database.clone()))
    }

    /// The database and schema a location names.
    fn resolve<'a>(
        &self,
        tenant: &TenantId,
        location: &'a StorageLocation,
    ) -> Result<(&TenantDatabase, &'a str), TenantStoreError> {
        match location {
            StorageLocation::Postgres { database, schema } => {
                Ok((self.database(database)?, schema))
            }
            StorageLocation::Sqlite { path, .. } => Err(TenantStoreError::Unavailable {
                tenant: tenant.clone(),
                message: format!(
                    "{} is a SQLite file, but this is a PostgreSQL store",
                    path.display()
                ),
            }),
        }
    }

    /// The statements that open every change of the tenant: time limits, then the tenant's
    /// advisory lock. The lock timeout is set only after the advisory lock is held, so waiting
    /// for a running change of the same tenant is bounded by the statement timeout rather than
    /// the (short) lock timeout. Every value in it is a number we produce.
    fn preamble(&self, tenant: &TenantId) -> String {
        format!(
            "SET LOCAL statement_timeout = '{}'; \
             SELECT pg_advisory_xact_lock({}); \
             SET LOCAL lock_timeout = '{}'",
            millis(self.timeouts.statement_timeout),
            advisory_key(tenant),
            millis(self.timeouts.lock_timeout)
        )
    }

    /// Starts a transaction of the tenant with its [`Self::preamble`].
    async fn begin<'c>(
        &self,
        conn: &'c mut PgConnection,
        tenant: &TenantId,
    ) -> Result<Transaction<'c, Postgres>, TenantStoreError> {
        let fail = |e| storage_error(tenant, e);
        let mut tx = conn.begin().await.map_err(fail)?;
        sqlx::raw_sql(AssertSqlSafe(self.preamble(tenant)))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        Ok(tx)
    }

    /// Names the statement a failed batch stumbled on: re-runs the change statement by
    /// statement in a transaction that is always rolled back. Timeouts are reported as they are
    /// (re-running would only wait again).
    async fn failed_statement(
        &self,
        db: &TenantDatabase,
        tenant: &TenantId,
        schema: &str,
        change: &SchemaChange,
        batch_error: sqlx::Error,
    ) -> TenantStoreError {
        let batch_failure = |e: &sqlx::Error| TenantStoreError::Statement {
            statement: format!("(the change's {} statements)", change.statements.len()),
            sqlstate: sqlstate(e),
            message: e.to_string(),
        };
        let whole = batch_failure(&batch_error);
        if whole.is_timeout() {
            return whole;
        }
        let Ok(mut conn) = db.acquire().await else {
            return whole;
        };
        let Ok(mut tx) = self.begin(&mut conn, tenant).await else {
            return whole;
        };
        if change.from.is_none() && self.create_storage(&mut tx, tenant, schema).await.is_err() {
            return whole;
        }
        for statement in &change.statements {
            if let Err(e) = sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await
            {
                return TenantStoreError::Statement {
                    statement: statement.clone(),
                    sqlstate: sqlstate(&e),
                    message: e.to_string(),
                };
            }
        }
        whole
    }

    /// Creates the tenant's schema and marker table if they are missing (a first change; an
    /// upgrade from a recorded version finds both there).
    async fn create_storage(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        tenant: &TenantId,
        schema: &str,
    ) -> Result<(), TenantStoreError> {
        sqlx::raw_sql(AssertSqlSafe(create_storage_sql(schema)))
            .execute(&mut **tx)
            .await
            .map_err(|e| storage_error(tenant, e))?;
        Ok(())
    }
}

/// The advisory lock key of a tenant: the first 8 bytes of SHA-256 over a namespaced id, stable
/// across processes, builds and PostgreSQL versions (unlike `hashtext`).
fn advisory_key(tenant: &TenantId) -> i64 {
    let digest = Sha256::digest(format!("mtx.tenant:{tenant}").as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// A duration as a PostgreSQL setting value.
fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// What the marker check's refusal says before the version the marker records.
const MARKER_MOVED: &str = "mtx marker records: ";

/// The change after the preamble, up to its commit: (for a first change) the schema and marker
/// table, the new marker row, which is written only if the latest one records the version the
/// change starts from, and the statements. The hashes are 64 validated hex digits and the
/// schema a validated name, so they can stand as literals.
///
/// Check and marker row are one statement, put first: the check must precede the DDL (a change
/// planned from the wrong version would fail on it with a misleading error), and since the
/// whole script is one transaction the row may as well be written there. Plain SQL cannot
/// raise an error, so the check makes one: on a mismatch it casts a text naming the recorded
/// version to an integer, which fails with that text in the message. A PL/pgSQL `DO` block
/// would say it more plainly, but it is compiled anew on every call: 0.5 ms of database CPU
/// per tenant, as much as a third of a small upgrade's own DDL (measured with
/// `pg_stat_statements` on `bench/evolve.sh`).
fn change_script(schema: &str, change: &SchemaChange) -> String {
    let marker = marker_table(schema);
    let expected = change
        .from
        .as_ref()
        .map_or_else(|| "NULL".to_owned(), |h| format!("'{}'", h.as_str()));
    let mut script = String::new();
    if change.from.is_none() {
        script.push_str(&create_storage_sql(schema));
        script.push_str(";\n");
    }
    script.push_str(&format!(
        "INSERT INTO {marker} (seq, version, previous) OVERRIDING SYSTEM VALUE \
         SELECT coalesce(latest.seq, 0) + 1, '{}', \
         CASE WHEN latest.version IS NOT DISTINCT FROM {expected} THEN {expected} \
         ELSE ('{MARKER_MOVED}' || coalesce(latest.version, ''))::integer::text END \
         FROM (VALUES (1)) AS one \
         LEFT JOIN (SELECT seq, version FROM {marker} ORDER BY seq DESC LIMIT 1) AS latest ON true;\n",
        change.to.as_str()
    ));
    for statement in &change.statements {
        script.push_str(statement);
        script.push_str(";\n");
    }
    script.push_str("COMMIT");
    script
}

/// The marker check's refusal of a change: the tenant's storage is not at the version the
/// change starts from.
struct MarkerRefusal {
    /// The version the marker records; `None` when the marker table or the whole schema is gone.
    recorded: Option<String>,
}

/// `e` as the marker check's refusal, if it is one.
fn refused_marker(e: &sqlx::Error) -> Option<MarkerRefusal> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let message = db.message();
    match db.code().as_deref() {
        // invalid_text_representation: the check's own refusal.
        Some("22P02") => {
            let (_, rest) = message.split_once(MARKER_MOVED)?;
            let recorded: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            Some(MarkerRefusal {
                recorded: (!recorded.is_empty()).then_some(recorded),
            })
        }
        // The check is the script's first statement to read the schema, and the first to name
        // the marker table.
        Some("42P01") if message.contains(MARKER_TABLE) => Some(MarkerRefusal { recorded: None }),
        Some("3F000") => Some(MarkerRefusal { recorded: None }),
        _ => None,
    }
}

/// The schema and the marker table. Markers are numbered by the change that writes them, under
/// the tenant's lock, rather than by a sequence, and the table has no index: a sequence or an
/// index is one more relation per tenant to open, lock and write to the WAL in every change, and
/// the table holds one short row per deployment. Tables made with the former identity column or
/// primary key take the same insert (`OVERRIDING SYSTEM VALUE`).
fn create_storage_sql(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {}; \
         CREATE TABLE IF NOT EXISTS {} (\
         seq bigint NOT NULL, \
         version text NOT NULL, \
         previous text, \
         applied_at timestamptz NOT NULL DEFAULT now())",
        quote_ident(schema),
        marker_table(schema)
    )
}

/// The version the tenant's latest marker records (no row: nothing deployed).
fn latest_marker_sql(schema: &str) -> String {
    format!(
        "SELECT version FROM {} ORDER BY seq DESC LIMIT 1",
        marker_table(schema)
    )
}

/// `"schema"."mtx_deployments"`.
fn marker_table(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(MARKER_TABLE))
}

/// A lost connection or exhausted pool makes the tenant's storage unavailable (retryable);
/// other errors are reported as they are.
fn storage_error(tenant: &TenantId, e: sqlx::Error) -> TenantStoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => TenantStoreError::Unavailable {
            tenant: tenant.clone(),
            message: e.to_string(),
        },
        other => TenantStoreError::Sql(other),
    }
}

/// The schema or the table does not exist (SQLSTATE 3F000, 42P01).
fn is_missing_relation(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("3F000" | "42P01"))
}

/// The SQLSTATE of a database error.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Every column of every table and view in the schema, with `format_type`'s spelling of its
/// type; tables without columns appear once with NULLs.
const INTROSPECT_COLUMNS: &str = "\
    SELECT c.relname::text, c.relkind::text, a.attname::text, \
           format_type(a.atttypid, a.atttypmod), a.attnotnull \
    FROM pg_catalog.pg_class c \
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_catalog.pg_attribute a \
           ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relname <> $2 \
    ORDER BY c.relname, a.attnum";

/// The primary-key columns of every table in the schema, in key order.
/// Primary-key (`p`) and unique (`u`) constraints with their columns in constraint order.
const INTROSPECT_KEYS: &str = "\
    SELECT c.relname::text, k.contype::text, k.conname::text, a.attname::text \
    FROM pg_catalog.pg_constraint k \
    JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS key(attnum, position) \
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = key.attnum \
    WHERE n.nspname = $1 AND k.contype IN ('p', 'u') \
    ORDER BY c.relname, k.contype, k.conname, key.position";

type ColumnRow = (String, String, Option<String>, Option<String>, Option<bool>);

#[async_trait]
impl TenantStore for PostgresTenantStore {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn databases(&self) -> Vec<DatabaseId> {
        self.databases.iter().map(|(id, _)| id.clone()).collect()
    }

    fn locate(
        &self,
        tenant: &TenantId,
        database: &DatabaseId,
    ) -> Result<StorageLocation, TenantStoreError> {
        self.database(database)?;
        Ok(StorageLocation::Postgres {
            database: database.clone(),
            schema: schema_name_for(tenant),
        })
    }

    async fn deployed_version(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<Option<ModelHash>, TenantStoreError> {
        let (db, schema) = self.resolve(tenant, location)?;
        let fail = |e| storage_error(tenant, e);
        let mut conn = db.acquire().await.map_err(fail)?;
        // One round trip: a missing schema or marker table means nothing is deployed.
        let version: Option<String> =
            match sqlx::query_scalar(AssertSqlSafe(latest_marker_sql(schema)))
                .fetch_optional(&mut *conn)
                .await
            {
                Ok(version) => version,
                Err(e) if is_missing_relation(&e) => None,
                Err(e) => return Err(fail(e)),
            };
        db.keep(conn);
        recorded_model(tenant, None, version)
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        change: &SchemaChange,
    ) -> Result<(), TenantStoreError> {
        let (db, schema) = self.resolve(tenant, location)?;
        let fail = |e| storage_error(tenant, e);
        // The whole change, its transaction, marker check and marker included, is one script
        // (simple query protocol): one round trip however many statements it has.
        let script = format!(
            "BEGIN; {}; {}",
            self.preamble(tenant),
            change_script(schema, change)
        );
        let mut conn = db.acquire().await.map_err(fail)?;
        let Err(e) = sqlx::raw_sql(AssertSqlSafe(script))
            .execute(&mut *conn)
            .await
        else {
            db.keep(conn);
            return Ok(());
        };
        // A failed statement leaves the script's transaction open and aborted: end it before the
        // connection is used again. One that cannot even do that is closed as it is dropped
        // (see `Leased`), before the failed statement is looked for on another.
        if sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_ok() {
            db.keep(conn);
        } else {
            drop(conn);
        }
        if let Some(MarkerRefusal { recorded }) = refused_marker(&e) {
            return Err(TenantStoreError::VersionConflict {
                tenant: tenant.clone(),
                expected: change.from.clone(),
                actual: recorded_model(tenant, None, recorded)?,
            });
        }
        Err(self.failed_statement(db, tenant, schema, change, e).await)
    }

    async fn introspect(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<DatabaseSchema, TenantStoreError> {
        let (db, schema) = self.resolve(tenant, location)?;
        let fail = |e| storage_error(tenant, e);
        let mut conn = db.acquire().await.map_err(fail)?;
        // One snapshot for both catalog reads, so a change committing in between cannot show
        // half of itself.
        let mut tx = conn.begin().await.map_err(fail)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let columns: Vec<ColumnRow> = sqlx::query_as(INTROSPECT_COLUMNS)
            .bind(schema)
            .bind(MARKER_TABLE)
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        let keys: Vec<(String, String, String, String)> = sqlx::query_as(INTROSPECT_KEYS)
            .bind(schema)
            .fetch_all(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        db.keep(conn);

        let mut result = DatabaseSchema::default();
        for (relation, kind, column, ty, not_null) in columns {
            if kind == "v" || kind == "m" {
                let view = result
                    .views
                    .entry(relation)
                    .or_insert_with(|| DatabaseView {
                        columns: Some(Vec::new()),
                    });
                if let (Some(columns), Some(column)) = (view.columns.as_mut(), column) {
                    columns.push(column);
                }
                continue;
            }
            let table = result.tables.entry(relation).or_default();
            if let (Some(name), Some(ty)) = (column, ty) {
                table.columns.push(DatabaseColumn {
                    name,
                    ty,
                    not_null: not_null.unwrap_or(false),
                });
            }
        }
        for (relation, kind, constraint, column) in keys {
            let Some(table) = result.tables.get_mut(&relation) else {
                continue;
            };
            if kind == "p" {
                table.primary_key.push(column);
                continue;
            }
            match table.unique.last_mut() {
                Some(unique) if unique.name == constraint => unique.columns.push(column),
                _ => table.unique.push(DatabaseUnique {
                    name: constraint,
                    columns: vec![column],
                }),
            }
        }
        Ok(result)
    }

    async fn drop_storage(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<(), TenantStoreError> {
        let (db, schema) = self.resolve(tenant, location)?;
        let fail = |e| storage_error(tenant, e);
        let mut conn = db.acquire().await.map_err(fail)?;
        let mut tx = self.begin(&mut conn, tenant).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(schema)
        )))
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        db.keep(conn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).expect("valid tenant id")
    }

    #[test]
    fn advisory_keys_are_stable_and_distinct() {
        assert_eq!(advisory_key(&tenant("t1")), advisory_key(&tenant("t1")));
        assert_ne!(advisory_key(&tenant("t1")), advisory_key(&tenant("T1")));
    }

    #[test]
    fn marker_table_is_quoted_and_qualified() {
        assert_eq!(
            marker_table("Acme \"Corp\""),
            "\"Acme \"\"Corp\"\"\".\"mtx_deployments\""
        );
    }

    #[test]
    fn timeouts_render_as_milliseconds() {
        assert_eq!(millis(Duration::from_secs(5)), "5000ms");
    }
}
