//! Both tenant stores pass one set of checks ([`checks`]): PostgreSQL against a fresh database,
//! SQLite against a fresh directory. A [`Probe`] looks into the tenant's storage behind the
//! store's back, so the checks see what really is on disk. Then checks that only concern one
//! implementation (PostgreSQL time limits, corrupt SQLite files).

mod support;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, SqliteConnection};

use mtx_shared::sql::quote_ident;
use mtx_shared::tenant::store::postgres::{PgTimeouts, PostgresTenantStore, USES_PER_CONNECTION};
use mtx_shared::tenant::store::sqlite::{DEFAULT_STEM, SqliteTenantStore};
use mtx_shared::tenant::store::{SchemaChange, StorageLocation, TenantStore, TenantStoreError};
use mtx_shared::vocab::{DatabaseId, ModelHash, TenantId};
use support::TempDir;

type Store = Arc<dyn TenantStore>;

/// Reads a tenant's storage directly.
#[derive(Debug, Clone)]
enum Probe {
    Postgres(PgPool),
    Sqlite,
}

impl Probe {
    async fn storage_exists(&self, location: &StorageLocation) -> bool {
        match (self, location) {
            (Probe::Postgres(pool), StorageLocation::Postgres { schema, .. }) => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(schema)
                    .fetch_one(pool)
                    .await
                    .expect("query pg_namespace")
            }
            (Probe::Sqlite, StorageLocation::Sqlite { path, .. }) => path.exists(),
            _ => panic!("probe and location disagree: {location:?}"),
        }
    }

    /// The columns of `table`, in order; empty if the table does not exist.
    async fn columns(&self, location: &StorageLocation, table: &str) -> Vec<String> {
        match (self, location) {
            (Probe::Postgres(pool), StorageLocation::Postgres { schema, .. }) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                )
                .bind(schema)
                .bind(table)
                .fetch_all(pool)
                .await
                .expect("query information_schema")
            }
            (Probe::Sqlite, StorageLocation::Sqlite { path, .. }) => {
                let mut conn = open_sqlite(path).await;
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(&mut conn)
                    .await
                    .expect("query pragma_table_info")
            }
            _ => panic!("probe and location disagree: {location:?}"),
        }
    }

    async fn count(&self, location: &StorageLocation, table: &str) -> i64 {
        let sql = AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            qualified(location, table)
        ));
        match self {
            Probe::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Probe::Sqlite => {
                let StorageLocation::Sqlite { path, .. } = location else {
                    panic!("probe and location disagree: {location:?}");
                };
                sqlx::query_scalar(sql)
                    .fetch_one(&mut open_sqlite(path).await)
                    .await
            }
        }
        .expect("count rows")
    }

    /// A location whose own name needs quoting: a PostgreSQL schema with upper case, a space and
    /// a double quote. (A SQLite file name comes from the validated tenant id, so it cannot.)
    fn odd_location(&self, store: &Store, tenant: &TenantId) -> StorageLocation {
        let database = store.databases().remove(0);
        match self {
            Probe::Postgres(_) => StorageLocation::Postgres {
                database,
                schema: "Tenant \"Odd\" Schema".to_owned(),
            },
            Probe::Sqlite => store.locate(tenant, &database).expect("locate"),
        }
    }
}

async fn open_sqlite(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .expect("open the tenant file")
}

/// A table name, schema-qualified where the location has a schema, every part quoted.
fn qualified(location: &StorageLocation, table: &str) -> String {
    match location.sql_schema() {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    }
}

async fn on_postgres<F, Fut>(check: F)
where
    F: FnOnce(Store, Probe) -> Fut,
    Fut: Future<Output = ()>,
{
    support::with_database(|url| async move {
        let store = PostgresTenantStore::connect(&[(database("db1"), url.clone())], 5)
            .await
            .expect("connect the tenant database");
        let probe = PgPool::connect(&url).await.expect("connect the probe");
        check(Arc::new(store), Probe::Postgres(probe.clone())).await;
        probe.close().await;
    })
    .await;
}

async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(Store, Probe) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    // A directory that does not exist yet: the store creates it on the first change.
    let store = SqliteTenantStore::new(dir.path().join("data"), DEFAULT_STEM.to_owned());
    check(Arc::new(store), Probe::Sqlite).await;
}

/// One test per check and implementation, so a failure names both.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::on_postgres(super::checks::$check).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    super::on_sqlite(super::checks::$check).await;
                }
            )*
        }
    };
}

conformance!(
    tenants_are_located_on_known_databases_only,
    apply_creates_the_storage_and_records_the_version,
    changes_chain_from_version_to_version,
    a_failing_statement_leaves_the_tenant_at_its_old_version,
    a_version_conflict_is_refused_and_applies_nothing,
    drop_removes_everything_of_that_tenant_only,
    concurrent_applies_on_one_tenant_serialize,
    identifiers_with_upper_case_and_quotes_are_quoted,
);

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid test tenant id")
}

fn database(id: &str) -> DatabaseId {
    DatabaseId::parse(id).expect("valid test database id")
}

fn version(name: &str) -> ModelHash {
    ModelHash::of(name)
}

fn locate(store: &Store, tenant: &TenantId) -> StorageLocation {
    let database = store.databases().remove(0);
    store.locate(tenant, &database).expect("locate")
}

/// v1 of a tiny model: a table with two rows.
fn create_books(location: &StorageLocation) -> SchemaChange {
    let books = qualified(location, "Books");
    SchemaChange {
        statements: vec![
            format!(
                "CREATE TABLE {books} (\"ID\" INTEGER NOT NULL PRIMARY KEY, \"title\" VARCHAR(100))"
            ),
            format!(
                "INSERT INTO {books} (\"ID\", \"title\") VALUES (1, 'Wuthering Heights'), (2, 'Jane Eyre')"
            ),
        ],
        from: None,
        to: version("v1"),
    }
}

mod checks {
    use super::*;

    pub(crate) async fn tenants_are_located_on_known_databases_only(store: Store, _probe: Probe) {
        let databases = store.databases();
        assert_eq!(databases.len(), 1, "{databases:?}");
        let t1 = tenant("t1");

        let location = store.locate(&t1, &databases[0]).expect("locate");
        assert_eq!(location.database(), &databases[0]);
        assert_eq!(
            store.locate(&t1, &databases[0]).expect("locate"),
            location,
            "placement is deterministic"
        );
        assert_ne!(location, locate(&store, &tenant("t2")));
        assert!(matches!(
            store.locate(&t1, &database("elsewhere")),
            Err(TenantStoreError::UnknownDatabase(_))
        ));
    }

    pub(crate) async fn apply_creates_the_storage_and_records_the_version(
        store: Store,
        probe: Probe,
    ) {
        let t1 = tenant("t1");
        let location = locate(&store, &t1);
        assert!(!probe.storage_exists(&location).await);
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            None,
            "a tenant without storage has no version"
        );

        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");

        assert!(probe.storage_exists(&location).await);
        assert_eq!(probe.columns(&location, "Books").await, ["ID", "title"]);
        assert_eq!(probe.count(&location, "Books").await, 2);
        assert_eq!(probe.count(&location, "mtx_deployments").await, 1);
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            Some(version("v1"))
        );
    }

    pub(crate) async fn changes_chain_from_version_to_version(store: Store, probe: Probe) {
        let t1 = tenant("t1");
        let location = locate(&store, &t1);
        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");

        let v2 = SchemaChange {
            statements: vec![format!(
                "ALTER TABLE {} ADD COLUMN \"stock\" INTEGER",
                qualified(&location, "Books")
            )],
            from: Some(version("v1")),
            to: version("v2"),
        };
        store.apply(&t1, &location, &v2).await.expect("apply v2");
        let empty = SchemaChange {
            statements: vec![],
            from: Some(version("v2")),
            to: version("v3"),
        };
        store
            .apply(&t1, &location, &empty)
            .await
            .expect("a change without statements still moves the version");

        assert_eq!(
            probe.columns(&location, "Books").await,
            ["ID", "title", "stock"]
        );
        assert_eq!(probe.count(&location, "mtx_deployments").await, 3);
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            Some(version("v3"))
        );
    }

    pub(crate) async fn a_failing_statement_leaves_the_tenant_at_its_old_version(
        store: Store,
        probe: Probe,
    ) {
        let t1 = tenant("t1");
        let location = locate(&store, &t1);
        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");
        let books = qualified(&location, "Books");
        let broken = SchemaChange {
            statements: vec![
                format!("ALTER TABLE {books} ADD COLUMN \"stock\" INTEGER"),
                format!("INSERT INTO {books} (\"ID\", \"title\") VALUES (3, 'Middlemarch')"),
                format!(
                    "CREATE TABLE {} (\"ID\" INTEGER)",
                    qualified(&location, "Authors")
                ),
                "THIS IS NOT SQL".to_owned(),
                format!("DELETE FROM {books}"),
            ],
            from: Some(version("v1")),
            to: version("v2"),
        };

        let failed = store.apply(&t1, &location, &broken).await;

        match failed {
            Err(TenantStoreError::Statement { statement, .. }) => {
                assert_eq!(
                    statement, "THIS IS NOT SQL",
                    "the error names the statement"
                );
            }
            other => panic!("expected a statement error, got {other:?}"),
        }
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            Some(version("v1"))
        );
        assert_eq!(probe.columns(&location, "Books").await, ["ID", "title"]);
        assert_eq!(
            probe.count(&location, "Books").await,
            2,
            "rows must be as before"
        );
        assert!(
            probe.columns(&location, "Authors").await.is_empty(),
            "the new table must be gone"
        );
        assert_eq!(probe.count(&location, "mtx_deployments").await, 1);
    }

    pub(crate) async fn a_version_conflict_is_refused_and_applies_nothing(
        store: Store,
        probe: Probe,
    ) {
        let t1 = tenant("t1");
        let location = locate(&store, &t1);
        let mut upgrade = create_books(&location);
        upgrade.from = Some(version("v0"));

        let refused = store.apply(&t1, &location, &upgrade).await;

        assert!(
            matches!(
                &refused,
                Err(TenantStoreError::VersionConflict { expected: Some(e), actual: None, .. })
                    if *e == version("v0")
            ),
            "{refused:?}"
        );
        assert!(
            !probe.storage_exists(&location).await,
            "a refused first change must not leave storage behind"
        );

        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");
        let again = SchemaChange {
            statements: vec![format!(
                "CREATE TABLE {} (\"ID\" INTEGER)",
                qualified(&location, "Authors")
            )],
            from: None,
            to: version("v2"),
        };
        let refused = store.apply(&t1, &location, &again).await;
        assert!(
            matches!(
                &refused,
                Err(TenantStoreError::VersionConflict { expected: None, actual: Some(a), .. })
                    if *a == version("v1")
            ),
            "{refused:?}"
        );
        assert!(probe.columns(&location, "Authors").await.is_empty());

        let from_elsewhere = SchemaChange {
            from: Some(version("v0")),
            ..again
        };
        let refused = store.apply(&t1, &location, &from_elsewhere).await;
        assert!(
            matches!(
                &refused,
                Err(TenantStoreError::VersionConflict { expected: Some(e), actual: Some(a), .. })
                    if *e == version("v0") && *a == version("v1")
            ),
            "{refused:?}"
        );
        assert!(probe.columns(&location, "Authors").await.is_empty());
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            Some(version("v1"))
        );
    }

    pub(crate) async fn drop_removes_everything_of_that_tenant_only(store: Store, probe: Probe) {
        let (a, b) = (tenant("a"), tenant("b"));
        let (loc_a, loc_b) = (locate(&store, &a), locate(&store, &b));
        for (t, loc) in [(&a, &loc_a), (&b, &loc_b)] {
            store
                .apply(t, loc, &create_books(loc))
                .await
                .expect("apply");
        }

        store.drop_storage(&a, &loc_a).await.expect("drop a");

        assert!(!probe.storage_exists(&loc_a).await);
        assert_eq!(
            store.deployed_version(&a, &loc_a).await.expect("read"),
            None
        );
        assert!(probe.storage_exists(&loc_b).await);
        assert_eq!(probe.count(&loc_b, "Books").await, 2);
        assert_eq!(
            store.deployed_version(&b, &loc_b).await.expect("read"),
            Some(version("v1"))
        );
        store
            .drop_storage(&a, &loc_a)
            .await
            .expect("dropping missing storage succeeds");
        store
            .apply(&a, &loc_a, &create_books(&loc_a))
            .await
            .expect("a dropped tenant starts afresh");
    }

    pub(crate) async fn concurrent_applies_on_one_tenant_serialize(store: Store, probe: Probe) {
        let t1 = tenant("t1");
        let location = locate(&store, &t1);
        let racers: Vec<_> = (0..6)
            .map(|i| {
                let store = Arc::clone(&store);
                let (t1, location) = (t1.clone(), location.clone());
                tokio::spawn(async move {
                    let mut change = create_books(&location);
                    change.to = version(&format!("racer-{i}"));
                    let result = store.apply(&t1, &location, &change).await;
                    (change.to, result)
                })
            })
            .collect();

        let mut winners = Vec::new();
        let mut refused = 0;
        for racer in racers {
            match racer.await.expect("apply panicked") {
                (to, Ok(())) => winners.push(to),
                (
                    _,
                    Err(TenantStoreError::VersionConflict {
                        actual: Some(_), ..
                    }),
                ) => {
                    refused += 1;
                }
                (_, Err(other)) => panic!("a racer saw a half-applied change: {other}"),
            }
        }

        assert_eq!(winners.len(), 1, "exactly one change may apply");
        assert_eq!(refused, 5);
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            winners.pop()
        );
        assert_eq!(probe.count(&location, "Books").await, 2);
    }

    pub(crate) async fn identifiers_with_upper_case_and_quotes_are_quoted(
        store: Store,
        probe: Probe,
    ) {
        let t1 = tenant("Acme.Corp_1");
        let location = probe.odd_location(&store, &t1);
        let table = "Odd \"Table\" Name";
        let change = SchemaChange {
            statements: vec![
                format!(
                    "CREATE TABLE {} (\"ID\" INTEGER PRIMARY KEY, \"Mixed \"\"Col\"\"\" TEXT)",
                    qualified(&location, table)
                ),
                format!(
                    "INSERT INTO {} (\"ID\", \"Mixed \"\"Col\"\"\") VALUES (1, 'x')",
                    qualified(&location, table)
                ),
            ],
            from: None,
            to: version("v1"),
        };

        store.apply(&t1, &location, &change).await.expect("apply");

        assert!(probe.storage_exists(&location).await);
        assert_eq!(
            probe.columns(&location, table).await,
            ["ID", "Mixed \"Col\""]
        );
        assert_eq!(probe.count(&location, table).await, 1);
        assert_eq!(
            store.deployed_version(&t1, &location).await.expect("read"),
            Some(version("v1"))
        );
        store.drop_storage(&t1, &location).await.expect("drop");
        assert!(!probe.storage_exists(&location).await);
    }
}

/// The configured statement timeout ends a statement that runs too long, and the lock timeout
/// a statement that waits too long for a table another session holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_time_limits_apply_to_changes() {
    support::with_database(|url| async move {
        let pool = PgPool::connect(&url).await.expect("connect");
        let store = PostgresTenantStore::from_pools(vec![(database("db1"), pool.clone())])
            .with_timeouts(PgTimeouts {
                lock_timeout: Duration::from_millis(200),
                statement_timeout: Duration::from_millis(500),
            });
        let t1 = tenant("t1");
        let location = store.locate(&t1, &database("db1")).expect("locate");
        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");

        let slow = SchemaChange {
            statements: vec!["SELECT pg_sleep(5)".to_owned()],
            from: Some(version("v1")),
            to: version("v2"),
        };
        let failed = store.apply(&t1, &location, &slow).await;
        assert!(
            matches!(&failed, Err(TenantStoreError::Statement { message, .. }) if message.contains("statement timeout")),
            "{failed:?}"
        );

        let mut holder = pool.begin().await.expect("begin");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            qualified(&location, "Books")
        )))
        .execute(&mut *holder)
        .await
        .expect("hold the table");
        let blocked = SchemaChange {
            statements: vec![format!(
                "ALTER TABLE {} ADD COLUMN \"stock\" INTEGER",
                qualified(&location, "Books")
            )],
            from: Some(version("v1")),
            to: version("v2"),
        };
        let failed = store.apply(&t1, &location, &blocked).await;
        assert!(
            matches!(&failed, Err(TenantStoreError::Statement { message, .. }) if message.contains("lock timeout")),
            "{failed:?}"
        );
        holder.rollback().await.expect("release the table");
        store
            .apply(&t1, &location, &blocked)
            .await
            .expect("the change goes through once the table is free");
        // The store keeps connections between uses; dropped, it hands them back.
        drop(store);
        pool.close().await;
    })
    .await;
}

/// Uses one after another run on one connection (the one just used, not the pool's oldest), and
/// that connection is closed after `USES_PER_CONNECTION` uses, its backend's caches with it.
#[tokio::test]
async fn postgres_reuses_a_connection_for_a_bounded_number_of_uses() {
    support::with_database(|url| async move {
        let pool = PgPool::connect(&url).await.expect("connect");
        let store = PostgresTenantStore::from_pools(vec![(database("db1"), pool.clone())]);
        let t1 = tenant("t1");
        let location = store.locate(&t1, &database("db1")).expect("locate");
        let mut probe = sqlx::PgConnection::connect(&url).await.expect("probe");
        store
            .apply(&t1, &location, &create_books(&location))
            .await
            .expect("apply v1");
        for _ in 1..USES_PER_CONNECTION - 1 {
            store.deployed_version(&t1, &location).await.expect("read");
        }
        assert_eq!(pool.size(), 1, "one connection served every use");
        store.deployed_version(&t1, &location).await.expect("read");
        // The last use closes the connection (in the background).
        let mut closed = false;
        for _ in 0..50 {
            let (others,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_one(&mut probe)
            .await
            .expect("count backends");
            if pool.size() == 0 && others == 0 {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(closed, "the connection was closed after its last use");
        assert_eq!(
            store
                .deployed_version(&t1, &location)
                .await
                .expect("read on a new connection"),
            Some(version("v1"))
        );
        drop(store);
        pool.close().await;
    })
    .await;
}

/// A location on a database this store does not have, or of the other kind, is refused.
#[tokio::test]
async fn postgres_refuses_foreign_locations() {
    support::with_database(|url| async move {
        let store = PostgresTenantStore::connect(&[(database("db1"), url)], 1)
            .await
            .expect("connect");
        let t1 = tenant("t1");
        let elsewhere = StorageLocation::Postgres {
            database: database("db2"),
            schema: "s".to_owned(),
        };
        assert!(matches!(
            store.deployed_version(&t1, &elsewhere).await,
            Err(TenantStoreError::UnknownDatabase(_))
        ));
        let file = StorageLocation::Sqlite {
            database: database("db1"),
            path: PathBuf::from("db-t1.sqlite"),
        };
        assert!(matches!(
            store.drop_storage(&t1, &file).await,
            Err(TenantStoreError::Unavailable { .. })
        ));
    })
    .await;
}

/// An unreachable database is reported by name at start-up.
#[tokio::test]
async fn postgres_connect_names_an_unreachable_database() {
    let url = mtx_shared::testing::url_with_database(
        &mtx_shared::testing::database_url(),
        "mtx_test_does_not_exist",
    );
    let failed = PostgresTenantStore::connect(&[(database("missing"), url)], 1).await;
    assert!(
        matches!(&failed, Err(e @ TenantStoreError::Connect { .. }) if e.to_string().contains("'missing'")),
        "{failed:?}"
    );
}

/// A corrupt tenant file fails that tenant's operations with an error naming the file; other
/// tenants carry on.
#[tokio::test]
async fn sqlite_corrupt_file_fails_only_its_tenant_with_a_clear_error() {
    let dir = TempDir::new();
    let store = SqliteTenantStore::new(dir.path().to_path_buf(), DEFAULT_STEM.to_owned());
    let (bad, good) = (tenant("bad"), tenant("good"));
    let bad_location = store.locate(&bad, &database("embedded")).expect("locate");
    let good_location = store.locate(&good, &database("embedded")).expect("locate");
    let bad_path = store.file_for(&bad);
    std::fs::write(
        &bad_path,
        b"this is not a SQLite database, just some text".repeat(200),
    )
    .expect("write garbage");

    let applied = store
        .apply(&bad, &bad_location, &create_books(&bad_location))
        .await;
    let read = store.deployed_version(&bad, &bad_location).await;

    for result in [applied.map(|()| None), read] {
        match result {
            Err(TenantStoreError::Unavailable { tenant, message }) => {
                assert_eq!(tenant, bad);
                assert!(
                    message.contains(&bad_path.display().to_string())
                        && message.contains("not a database"),
                    "unclear message: {message}"
                );
            }
            other => panic!("expected the bad tenant to be unavailable, got {other:?}"),
        }
    }
    assert!(
        bad_path.exists(),
        "a file the store did not create must be left alone"
    );
    store
        .apply(&good, &good_location, &create_books(&good_location))
        .await
        .expect("another tenant is unaffected");
    store
        .drop_storage(&bad, &bad_location)
        .await
        .expect("drop the corrupt file");
    assert!(!bad_path.exists());
}

/// Tenant files follow CAP's `<stem>-<tenant>.sqlite` layout and are in WAL mode.
#[tokio::test]
async fn sqlite_files_use_the_cap_layout_in_wal_mode() {
    let dir = TempDir::new();
    let store = SqliteTenantStore::new(dir.path().to_path_buf(), "tenant".to_owned());
    let t1 = tenant("t1");
    let location = store.locate(&t1, &database("embedded")).expect("locate");
    assert_eq!(
        location,
        StorageLocation::Sqlite {
            database: database("embedded"),
            path: dir.path().join("tenant-t1.sqlite"),
        }
    );
    store
        .apply(&t1, &location, &create_books(&location))
        .await
        .expect("apply");

    let mut conn = SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.path().join("tenant-t1.sqlite").display()
    ))
    .await
    .expect("open");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("journal mode");
    assert_eq!(mode, "wal");
}

/// Uses abandoned at any await (a change that fails, one that succeeds, a drop) leave no
/// transaction open on the connection they used: the pool would hand it out as healthy, and
/// every later use would run inside it.
#[tokio::test]
async fn postgres_abandoned_uses_leave_no_transaction_open() {
    support::with_database(|url| async move {
        // One connection, so every use and the check run on the one the abandoned use had.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect");
        let store = PostgresTenantStore::from_pools(vec![(database("db1"), pool.clone())]);
        for use_ in ["failing change", "change", "drop"] {
            for polls in 0..100 {
                let t = tenant(&format!("t{polls}"));
                let location = store.locate(&t, &database("db1")).expect("locate");
                match use_ {
                    "failing change" => {
                        let mut failing = create_books(&location);
                        failing.statements.push("SELECT 1/0".to_owned());
                        support::abandon_after(store.apply(&t, &location, &failing), polls).await;
                    }
                    "change" => {
                        let change = create_books(&location);
                        support::abandon_after(store.apply(&t, &location, &change), polls).await;
                    }
                    _ => support::abandon_after(store.drop_storage(&t, &location), polls).await,
                }
                let in_transaction = support::next_connection_in_transaction(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{use_} abandoned after {polls} polls: {e}"));
                assert!(
                    !in_transaction,
                    "{use_} abandoned after {polls} polls left its connection in a transaction"
                );
            }
        }
        drop(store);
        pool.close().await;
    })
    .await;
}
