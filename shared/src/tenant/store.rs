//! Tenant storage: where a tenant's tables live and how DDL reaches them.
//!
//! Two implementations of one trait: [`postgres::PostgresTenantStore`] (one schema per tenant,
//! possibly on several databases) and [`sqlite::SqliteTenantStore`] (one file per tenant,
//! `<stem>-<tenant>.sqlite`, the layout a CAP app in multitenant development mode reads).

pub mod postgres;
pub mod sqlite;

use std::fmt::Debug;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::drift::DatabaseSchema;
use crate::sql::Dialect;
use crate::vocab::{DatabaseId, ModelHash, TenantId};

/// Where one tenant's storage is, as recorded in the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StorageLocation {
    /// A schema in a PostgreSQL database.
    Postgres {
        database: DatabaseId,
        schema: String,
    },
    /// A SQLite file.
    Sqlite { database: DatabaseId, path: PathBuf },
}

impl StorageLocation {
    pub fn database(&self) -> &DatabaseId {
        match self {
            StorageLocation::Postgres { database, .. }
            | StorageLocation::Sqlite { database, .. } => database,
        }
    }

    /// The name the SQL renderer qualifies identifiers with (`None` for SQLite, where each
    /// tenant is a database of its own).
    pub fn sql_schema(&self) -> Option<&str> {
        match self {
            StorageLocation::Postgres { schema, .. } => Some(schema),
            StorageLocation::Sqlite { .. } => None,
        }
    }

    /// What the jobs API shows as a task's `database`.
    pub fn display(&self) -> String {
        match self {
            StorageLocation::Postgres { database, schema } => format!("{database}/{schema}"),
            StorageLocation::Sqlite { path, .. } => path.display().to_string(),
        }
    }
}

/// A change to one tenant's schema, applied atomically: every statement and the version marker,
/// or nothing.
#[derive(Debug, Clone)]
pub struct SchemaChange {
    /// Rendered DDL/DML for the store's dialect, in execution order, schema-qualified.
    pub statements: Vec<String>,
    /// The version the tenant is expected to be at (`None` for a fresh tenant). The store refuses
    /// the change if the tenant's recorded marker says otherwise, so two racing upgrades cannot
    /// both apply.
    pub from: Option<ModelHash>,
    /// The version the tenant is at afterwards.
    pub to: ModelHash,
}

/// Errors of tenant storage.
#[derive(Debug, thiserror::Error)]
pub enum TenantStoreError {
    #[error("database '{0}' is not configured")]
    UnknownDatabase(DatabaseId),
    /// A configured database could not be reached when the store was set up.
    #[error("cannot connect to database '{database}': {source}")]
    Connect {
        database: DatabaseId,
        source: sqlx::Error,
    },
    #[error("tenant {tenant} is at version {actual:?}, expected {expected:?}")]
    VersionConflict {
        tenant: TenantId,
        expected: Option<ModelHash>,
        actual: Option<ModelHash>,
    },
    #[error("statement failed: {message}{}\n  in: {statement}", sqlstate_suffix(.sqlstate.as_deref()))]
    Statement {
        statement: String,
        message: String,
        /// The database's error code (PostgreSQL SQLSTATE, SQLite extended result code), when
        /// the database gave one.
        sqlstate: Option<String>,
    },
    #[error("storage of tenant {tenant} is unavailable: {message}")]
    Unavailable { tenant: TenantId, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// The table inside each tenant's storage that records which model versions were applied.
pub const MARKER_TABLE: &str = "mtx_deployments";

/// The model version a tenant's marker table records, checked; `place` (the file, for SQLite)
/// leads the message of a version that does not parse.
fn recorded_model(
    tenant: &TenantId,
    place: Option<&std::path::Path>,
    version: Option<String>,
) -> Result<Option<ModelHash>, TenantStoreError> {
    version
        .map(|v| {
            ModelHash::parse(&v).map_err(|e| {
                let problem = format!("its {MARKER_TABLE} table holds an invalid version: {e}");
                TenantStoreError::Unavailable {
                    tenant: tenant.clone(),
                    message: match place {
                        Some(path) => format!("{}: {problem}", path.display()),
                        None => problem,
                    },
                }
            })
        })
        .transpose()
}

fn sqlstate_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default()
}

/// PostgreSQL's `lock_not_available`: `lock_timeout` ran out.
pub const SQLSTATE_LOCK_TIMEOUT: &str = "55P03";
/// PostgreSQL's `query_canceled`: `statement_timeout` ran out.
pub const SQLSTATE_STATEMENT_TIMEOUT: &str = "57014";

impl TenantStoreError {
    /// The tenant's objects were busy: a time limit ran out while waiting for a lock or running
    /// a statement (PostgreSQL SQLSTATE 55P03 or 57014). Nothing was applied; a later attempt,
    /// when the application's traffic has moved on, may succeed.
    pub fn is_timeout(&self) -> bool {
        let is_timeout =
            |code: &str| matches!(code, SQLSTATE_LOCK_TIMEOUT | SQLSTATE_STATEMENT_TIMEOUT);
        match self {
            TenantStoreError::Statement { sqlstate, .. } => {
                sqlstate.as_deref().is_some_and(is_timeout)
            }
            TenantStoreError::Sql(sqlx::Error::Database(e)) => {
                e.code().is_some_and(|c| is_timeout(&c))
            }
            _ => false,
        }
    }
}

/// Tenant storage of one kind (PostgreSQL or SQLite).
#[async_trait]
pub trait TenantStore: Send + Sync + Debug {
    /// The SQL dialect this store executes.
    fn dialect(&self) -> Dialect;

    /// The databases this store can place tenants on.
    fn databases(&self) -> Vec<DatabaseId>;

    /// Where a tenant placed on `database` keeps its storage (deterministic; recorded in the
    /// control plane by the caller).
    fn locate(
        &self,
        tenant: &TenantId,
        database: &DatabaseId,
    ) -> Result<StorageLocation, TenantStoreError>;

    /// The version marker recorded inside the tenant's own storage, `None` when the tenant has no
    /// storage or no marker yet.
    async fn deployed_version(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<Option<ModelHash>, TenantStoreError>;

    /// Creates the storage if it is missing and applies `change` in one transaction, holding the
    /// tenant's lock (a PostgreSQL advisory lock; a file lock for SQLite) for its duration.
    async fn apply(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        change: &SchemaChange,
    ) -> Result<(), TenantStoreError>;

    /// What the tenant's storage actually holds: tables (columns with types and nullability,
    /// primary key) and views, read from the catalog (schema-qualified on PostgreSQL, `pragma`s
    /// on SQLite) in one consistent read, without the tenant's lock. The store's own marker
    /// table is left out. A tenant without storage has an empty schema.
    async fn introspect(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<DatabaseSchema, TenantStoreError>;

    /// Removes the tenant's storage entirely (schema with everything in it, or the file with its
    /// `-wal`/`-shm` companions). Removing storage that does not exist succeeds.
    async fn drop_storage(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
    ) -> Result<(), TenantStoreError>;
}
