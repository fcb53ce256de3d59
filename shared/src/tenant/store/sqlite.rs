//! Tenant storage in the embedded mode: one SQLite file per tenant,
//! `<data_dir>/<stem>-<tenant>.sqlite`, the layout a CAP Node.js app in multitenant development
//! mode reads.
//!
//! There can be thousands of tenants, so no connection is kept open: each operation opens its
//! own and closes it. A change runs in one `BEGIN IMMEDIATE` transaction (SQLite's write lock,
//! which also excludes other processes) while an in-process per-tenant lock keeps two tasks of
//! this process from even trying at once. SQLite DDL is transactional, so a failed change leaves
//! the file as it was. Any trouble with one file (unreadable, corrupt) fails only that tenant's
//! operation, with an error naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, SqliteConnection};
use tokio::sync::OwnedMutexGuard;

use super::{
    MARKER_TABLE, SchemaChange, StorageLocation, TenantStore, TenantStoreError, recorded_model,
};
use crate::drift::{DatabaseColumn, DatabaseSchema, DatabaseTable, DatabaseUnique, DatabaseView};
use crate::sql::{Dialect, quote_ident};
use crate::vocab::{DatabaseId, ModelHash, TenantId};

/// The one database id of the embedded mode: the data directory.
pub const EMBEDDED_DATABASE: &str = "embedded";

/// The file stem CAP uses for tenant databases in development (`db-<tenant>.sqlite`).
pub const DEFAULT_STEM: &str = "db";

/// How long an operation waits for another process's write lock on the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Tenant storage as SQLite files in one directory.
#[derive(Debug)]
pub struct SqliteTenantStore {
    data_dir: PathBuf,
    stem: String,
    database: DatabaseId,
    locks: TenantLocks,
}

impl SqliteTenantStore {
    /// A store for tenant files `<data_dir>/<stem>-<tenant>.sqlite`. Nothing is touched on disk
    /// until the first change; the directory is created then.
    pub fn new(data_dir: PathBuf, stem: String) -> Self {
        Self {
            data_dir,
            stem,
            database: embedded_database(),
            locks: TenantLocks::default(),
        }
    }

    /// The file a tenant's storage lives in.
    pub fn file_for(&self, tenant: &TenantId) -> PathBuf {
        self.data_dir
            .join(format!("{}-{}.sqlite", self.stem, tenant.as_str()))
    }

    fn resolve<'a>(
        &self,
        tenant: &TenantId,
        location: &'a StorageLocation,
    ) -> Result<&'a Path, TenantStoreError> {
        match location {
            StorageLocation::Sqlite { database, path } if *database == self.database => Ok(path),
            StorageLocation::Sqlite { database, .. } => {
                Err(TenantStoreError::UnknownDatabase(database.clone()))
            }
            StorageLocation::Postgres { database, schema } => Err(TenantStoreError::Unavailable {
                tenant: tenant.clone(),
                message: format!(
                    "{database}/{schema} is a PostgreSQL schema, but this is a SQLite store"
                ),
            }),
        }
    }

    async fn apply_locked(
        tenant: &TenantId,
        path: &Path,
        change: &SchemaChange,
    ) -> Result<(), TenantStoreError> {
        let unavailable = |e: sqlx::Error| unavailable(tenant, path, &e);
        let mut conn = open(path, true).await.map_err(unavailable)?;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             seq INTEGER PRIMARY KEY, \
             version TEXT NOT NULL, \
             previous TEXT, \
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
            quote_ident(MARKER_TABLE)
        )))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let actual: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT version FROM {} ORDER BY seq DESC LIMIT 1",
            quote_ident(MARKER_TABLE)
        )))
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        let actual = recorded_model(tenant, Some(path), actual)?;
        if actual != change.from {
            return Err(TenantStoreError::VersionConflict {
                tenant: tenant.clone(),
                expected: change.from.clone(),
                actual,
            });
        }
        for statement in &change.statements {
            sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
                .execute(&mut *tx)
                .await
                .map_err(|e| TenantStoreError::Statement {
                    statement: statement.clone(),
                    sqlstate: match &e {
                        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
                        _ => None,
                    },
                    message: e.to_string(),
                })?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (version, previous) VALUES (?1, ?2)",
            quote_ident(MARKER_TABLE)
        )))
        .bind(change.to.as_str())
        .bind(change.from.as_ref().map(ModelHash::as_str))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        conn.close().await.map_err(unavailable)?;
        Ok(())
    }
}

/// Reads the catalog of an open tenant file (see [`TenantStore::introspect`]).
async fn introspect_file(conn: &mut SqliteConnection) -> Result<DatabaseSchema, sqlx::Error> {
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?1 ORDER BY name",
    )
    .bind(MARKER_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut result = DatabaseSchema::default();
    for (kind, name) in objects {
        // (name, declared type, notnull, position in the primary key, 0 when not in it)
        let columns: Result<Vec<(String, String, bool, i64)>, _> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await;
        if kind == "view" {
            // A view SQLite cannot prepare here (it calls a function CAP's driver registers)
            // is known by name only.
            let columns = columns.ok().map(|c| c.into_iter().map(|c| c.0).collect());
            result.views.insert(name, DatabaseView { columns });
            continue;
        }
        let columns = columns?;
        let mut key: Vec<(i64, String)> = columns
            .iter()
            .filter(|c| c.3 > 0)
            .map(|c| (c.3, c.0.clone()))
            .collect();
        key.sort();
        // SQLite enforces each UNIQUE constraint with an index of origin 'u'; the constraint's
        // own name is not kept.
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM pragma_index_list(?1) WHERE origin = 'u' ORDER BY name",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await?;
        let mut unique = Vec::with_capacity(indexes.len());
        for (index,) in indexes {
            let columns: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut *conn)
                    .await?;
            unique.push(DatabaseUnique {
                name: index,
                columns: columns.into_iter().map(|(c,)| c).collect(),
            });
        }
        let table = DatabaseTable {
            columns: columns
                .into_iter()
                .map(|(name, ty, not_null, _)| DatabaseColumn { name, ty, not_null })
                .collect(),
            primary_key: key.into_iter().map(|(_, name)| name).collect(),
            unique,
        };
        result.tables.insert(name, table);
    }
    Ok(result)
}

fn embedded_database() -> DatabaseId {
    DatabaseId::parse(EMBEDDED_DATABASE)
        .unwrap_or_else(|_| unreachable!("'{EMBEDDED_DATABASE}' is a valid database id"))
}

/// Opens one connection to a tenant file. WAL is set only when the file may be created (a
/// change); a read leaves the file's journal mode alone.
async fn open(path: &Path, for_change: bool) -> Result<SqliteConnection, sqlx::Error> {
    let mut options = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT);
    if for_change {
        options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
    }
    options.connect().await
}

fn unavailable(tenant: &TenantId, path: &Path, e: &sqlx::Error) -> TenantStoreError {
    TenantStoreError::Unavailable {
        tenant: tenant.clone(),
        message: format!("{}: {e}", path.display()),
    }
}

/// The file and the companions SQLite may keep beside it.
fn files_of(path: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        path.to_path_buf(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
    ]
}

/// Removes a tenant's file and its companions; missing files are fine.
async fn remove_files(path: &Path) -> Result<(), std::io::Error> {
    for file in files_of(path) {
        match tokio::fs::remove_file(&file).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One async mutex per tenant that is currently in use. An entry lives only while somebody holds
/// or waits for it, so the map stays as small as the number of tenants being worked on.
#[derive(Debug, Default)]
struct TenantLocks {
    held: Arc<Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl TenantLocks {
    async fn lock(&self, tenant: &TenantId) -> TenantGuard {
        let mutex = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(held.entry(tenant.clone()).or_default())
        };
        let guard = mutex.lock_owned().await;
        TenantGuard {
            held: Arc::clone(&self.held),
            tenant: tenant.clone(),
            guard: Some(guard),
        }
    }
}

/// Holds a tenant's lock; dropping it releases the lock and forgets the entry if nobody else
/// wants it.
struct TenantGuard {
    held: Arc<Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>>,
    tenant: TenantId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for TenantGuard {
    fn drop(&mut self) {
        // Release first, so the count below sees only the map's reference and other waiters.
        self.guard.take();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held
            .get(&self.tenant)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            held.remove(&self.tenant);
        }
    }
}

#[async_trait]
impl TenantStore for SqliteTenantStore {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn databases(&self) -> Vec<DatabaseId> {
        vec![self.database.clone()]
    }

    fn locate(
        &self,
        tenant: &TenantId,
        database: &DatabaseId,
    ) -> Result<StorageLocation, TenantStoreError> {
        if *database != self.database {
            return Err(TenantStoreError::UnknownDatabase(database.clone()));
        }
        Ok(StorageLocation::Sqlite {
            database: database.clone(),
            path: self.file_for(tenant),
        })
    }

    async fn deployed_version(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<Option<ModelHash>, TenantStoreError> {
        let path = self.resolve(tenant, location)?;
        if !tokio::fs::try_exists(path).await? {
            return Ok(None);
        }
        let unavailable = |e: sqlx::Error| unavailable(tenant, path, &e);
        // No tenant lock: WAL readers see the last committed state, never half a change.
        let mut conn = open(path, false).await.map_err(unavailable)?;
        let has_marker: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
        )
        .bind(MARKER_TABLE)
        .fetch_one(&mut conn)
        .await
        .map_err(unavailable)?;
        let version = if has_marker {
            sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT version FROM {} ORDER BY seq DESC LIMIT 1",
                quote_ident(MARKER_TABLE)
            )))
            .fetch_optional(&mut conn)
            .await
            .map_err(unavailable)?
        } else {
            None
        };
        conn.close().await.map_err(unavailable)?;
        recorded_model(tenant, Some(path), version)
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        change: &SchemaChange,
    ) -> Result<(), TenantStoreError> {
        let path = self.resolve(tenant, location)?;
        let _locked = self.locks.lock(tenant).await;
        let existed = tokio::fs::try_exists(path).await?;
        if !existed && let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let result = Self::apply_locked(tenant, path, change).await;
        if result.is_err() && !existed {
            // A first change that failed leaves no empty file behind: the tenant has no storage,
            // as before. The change's error is what matters, so a failed cleanup is only logged.
            if let Err(e) = remove_files(path).await {
                tracing::warn!(tenant.id = %tenant, path = %path.display(), error = %e,
                    "could not remove the file of a failed first change");
            }
        }
        result
    }

    async fn introspect(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<DatabaseSchema, TenantStoreError> {
        let path = self.resolve(tenant, location)?;
        if !tokio::fs::try_exists(path).await? {
            return Ok(DatabaseSchema::default());
        }
        let unavailable = |e: sqlx::Error| unavailable(tenant, path, &e);
        let mut conn = open(path, false).await.map_err(unavailable)?;
        // A read transaction: one snapshot of the catalog across all the pragmas.
        let mut tx = conn.begin().await.map_err(unavailable)?;
        let schema = introspect_file(&mut tx).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        conn.close().await.map_err(unavailable)?;
        Ok(schema)
    }

    async fn drop_storage(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<(), TenantStoreError> {
        let path = self.resolve(tenant, location)?;
        let _locked = self.locks.lock(tenant).await;
        remove_files(path).await?;
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
    fn tenant_files_follow_the_cap_layout() {
        let store = SqliteTenantStore::new(PathBuf::from("data"), DEFAULT_STEM.to_owned());
        assert_eq!(
            store.file_for(&tenant("t1")),
            Path::new("data").join("db-t1.sqlite")
        );
    }

    #[test]
    fn companions_are_named_after_the_file() {
        let names: Vec<PathBuf> = files_of(Path::new("d/db-t1.sqlite")).into();
        assert_eq!(
            names,
            [
                "d/db-t1.sqlite",
                "d/db-t1.sqlite-wal",
                "d/db-t1.sqlite-shm",
                "d/db-t1.sqlite-journal"
            ]
            .map(PathBuf::from)
        );
    }

    #[tokio::test]
    async fn a_tenant_lock_excludes_and_is_forgotten_when_released() {
        let locks = TenantLocks::default();
        let first = locks.lock(&tenant("a")).await;
        let other = locks.lock(&tenant("b")).await;
        let a = tenant("a");
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock(&a));
        assert!(waiting.await.is_err(), "a second holder got tenant a");
        drop(first);
        drop(other);
        assert!(
            locks
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty(),
            "released locks were kept"
        );
        let _again = locks.lock(&tenant("a")).await;
    }
}
