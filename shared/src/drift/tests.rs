//! Drift tests: the catalog spelling of every type, each kind of difference, and — through the
//! real tenant stores on PostgreSQL and SQLite — that deployed models and applied plans
//! introspect as exactly what their model says, and that hand-made changes are found and
//! repaired keeping rows.

use std::sync::Arc;

use sqlx::{AssertSqlSafe, Row};

use super::*;
use crate::evolve::tests::{base_table, cases, model};
use crate::sql::tests::{MODELS, load};
use crate::sql::{create_statements, plan_statements, quote_ident};
use crate::tenant::store::postgres::PostgresTenantStore;
use crate::tenant::store::sqlite::{DEFAULT_STEM, SqliteTenantStore};
use crate::tenant::{SchemaChange, StorageLocation, TenantStore};
use crate::testing::{ScratchDatabase, TempDir};
use crate::vocab::{DatabaseId, ModelHash, TenantId};

const ALL_TYPES: &[ColumnType] = &[
    ColumnType::String { length: 36 },
    ColumnType::LargeString,
    ColumnType::Boolean,
    ColumnType::Int16,
    ColumnType::Integer,
    ColumnType::Int64,
    ColumnType::Decimal {
        precision: Some(9),
        scale: Some(2),
    },
    ColumnType::Decimal {
        precision: None,
        scale: None,
    },
    ColumnType::Double,
    ColumnType::Date,
    ColumnType::Time,
    ColumnType::Timestamp,
    ColumnType::Map,
];

#[test]
fn catalog_types_read_back_as_the_type_written() {
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        for ty in ALL_TYPES {
            let spelled = catalog_type(dialect, *ty);
            assert_eq!(
                parse_type(dialect, &spelled),
                Some(*ty),
                "{dialect:?} {spelled}"
            );
        }
    }
    assert_eq!(
        normalize_type(Dialect::Sqlite, "real_decimal(9, 2)"),
        "REAL_DECIMAL(9,2)"
    );
    assert_eq!(parse_type(Dialect::Postgres, "point"), None);
}

/// The base table's model with hand-made changes applied to its expected schema.
fn drifted(change: impl FnOnce(&mut DatabaseSchema)) -> (PersistenceModel, DatabaseSchema) {
    let model = model(base_table());
    let mut actual = expected(&model, Dialect::Postgres);
    change(&mut actual);
    (model, actual)
}

/// A hand-made change to a schema.
type Edit = Box<dyn FnOnce(&mut DatabaseSchema)>;

#[test]
fn each_kind_of_difference_is_named_with_expected_and_actual() {
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        ("no change", Box::new(|_| {}), vec![]),
        (
            "table dropped",
            Box::new(|s| {
                s.tables.remove("my_things");
            }),
            vec!["my_things: table missing (expected table)"],
        ),
        (
            "column dropped, column added",
            Box::new(|s| {
                let t = s.tables.get_mut("my_things").expect("table");
                t.columns.retain(|c| c.name != "count");
                t.columns.push(DatabaseColumn {
                    name: "extra".into(),
                    ty: "text".into(),
                    not_null: false,
                });
            }),
            vec![
                "my_things.count: column missing (expected integer NULL)",
                "my_things.extra: unexpected column (actual text NULL)",
            ],
        ),
        (
            "type and nullability changed",
            Box::new(|s| {
                let t = s.tables.get_mut("my_things").expect("table");
                t.columns[1].ty = "character varying(5)".into();
                t.columns[1].not_null = true;
            }),
            vec![
                "my_things.title: type changed (expected character varying(10), actual character varying(5))",
                "my_things.title: nullability changed (expected NULL, actual NOT NULL)",
            ],
        ),
        (
            "key changed",
            Box::new(|s| {
                s.tables.get_mut("my_things").expect("table").primary_key = vec![];
            }),
            vec!["my_things: primary key changed (expected (id), actual ())"],
        ),
        (
            "views dropped, changed and added",
            Box::new(|s| {
                s.views.get_mut("srv_things").expect("view").columns = Some(vec!["id".into()]);
                s.views.insert("mine".into(), DatabaseView::default());
                s.tables.insert("scratch".into(), DatabaseTable::default());
            }),
            vec![
                "scratch: unexpected table (actual table)",
                "srv_things: view columns changed (expected id, title, count, price, actual id)",
                "mine: unexpected view (actual view)",
            ],
        ),
    ];
    for (case, change, messages) in cases {
        let (model, actual) = drifted(change);
        let found: Vec<String> = compare(&model, Dialect::Postgres, &actual)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, messages, "{case}");
    }
}

#[test]
fn repairs_are_classified_like_upgrades() {
    let safe = DiffOptions::default();
    // A dropped column comes back; the view reading the table is recreated around it.
    let (model, actual) = drifted(|s| {
        let t = s.tables.get_mut("my_things").expect("table");
        t.columns.retain(|c| c.name != "count");
    });
    let plan = repair_plan(&actual, &model, Dialect::Postgres, safe).expect("plan");
    assert!(plan.destructive.is_empty());
    let statements = plan_statements(&plan, Dialect::Postgres, Some("t"));
    assert_eq!(
        statements,
        [
            "DROP VIEW \"t\".\"srv_things\"",
            "ALTER TABLE \"t\".\"my_things\" ADD COLUMN \"count\" INTEGER",
            "CREATE VIEW \"t\".\"srv_things\" AS SELECT\n  \"things_0\".\"id\",\n  \
             \"things_0\".\"title\",\n  \"things_0\".\"count\",\n  \"things_0\".\"price\"\n\
             FROM \"t\".\"my_things\" AS \"things_0\""
        ]
    );
    // An extra column or view would have to be dropped: refused unless allowed.
    let (model, actual) = drifted(|s| {
        s.tables
            .get_mut("my_things")
            .expect("table")
            .columns
            .push(DatabaseColumn {
                name: "extra".into(),
                ty: "text".into(),
                not_null: false,
            });
        s.views.insert("mine".into(), DatabaseView::default());
    });
    let refused = repair_plan(&actual, &model, Dialect::Postgres, safe).expect("plan");
    let findings: Vec<String> = refused
        .destructive
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(refused.is_refused());
    assert_eq!(
        findings,
        [
            "my.Things.extra: column extra dropped",
            "mine: view mine dropped"
        ]
    );
    // A column of a type we never write cannot be judged.
    let (model, actual) = drifted(|s| {
        s.tables.get_mut("my_things").expect("table").columns[2].ty = "point".into();
    });
    assert_eq!(
        repair_plan(&actual, &model, Dialect::Postgres, safe),
        Err(RepairError::UnknownType {
            object: "my_things.count".into(),
            ty: "point".into()
        })
    );
}

// ---- through the real tenant stores ----

/// A tenant on a real store: PostgreSQL (a schema in a scratch database) or SQLite (a file in a
/// fresh directory). [`Tenant::remove`] drops its storage through the store; the scratch
/// database or directory goes when the tenant is dropped.
struct Tenant {
    store: Arc<dyn TenantStore>,
    id: TenantId,
    location: StorageLocation,
    /// Where a PostgreSQL tenant's schema lives.
    database: Option<ScratchDatabase>,
    _dir: Option<TempDir>,
}

impl Tenant {
    async fn new(dialect: Dialect) -> Self {
        let id = TenantId::parse("drift-test").expect("tenant id");
        let database = DatabaseId::parse("db1").expect("database id");
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match dialect {
            Dialect::Postgres => {
                let scratch = ScratchDatabase::create()
                    .await
                    .expect("test PostgreSQL reachable");
                let url = scratch.url().to_owned();
                let store = PostgresTenantStore::connect(&[(database.clone(), url)], 2)
                    .await
                    .expect("scratch database reachable");
                Self {
                    store: Arc::new(store),
                    id,
                    location: StorageLocation::Postgres {
                        database,
                        schema: format!("drift_{unique}"),
                    },
                    database: Some(scratch),
                    _dir: None,
                }
            }
            Dialect::Sqlite => {
                let dir = TempDir::new();
                let store = SqliteTenantStore::new(dir.path().to_path_buf(), DEFAULT_STEM.into());
                let location = store.locate(&id, &database_of(&store)).expect("locate");
                Self {
                    store: Arc::new(store),
                    id,
                    location,
                    database: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    fn schema(&self) -> Option<&str> {
        self.location.sql_schema()
    }

    async fn apply(&self, statements: Vec<String>, from: Option<&str>, to: &str) {
        self.try_apply(statements, from, to)
            .await
            .unwrap_or_else(|e| panic!("change to {to} applies: {e}"));
    }

    async fn try_apply(
        &self,
        statements: Vec<String>,
        from: Option<&str>,
        to: &str,
    ) -> Result<(), crate::tenant::TenantStoreError> {
        let change = SchemaChange {
            statements,
            from: from.map(ModelHash::of),
            to: ModelHash::of(to),
        };
        self.store.apply(&self.id, &self.location, &change).await
    }

    async fn introspect(&self) -> DatabaseSchema {
        self.store
            .introspect(&self.id, &self.location)
            .await
            .expect("introspect")
    }

    /// Runs SQL on the tenant's storage behind the store's back (no version change).
    async fn by_hand(&self, sql: &str) {
        let marker = self
            .store
            .deployed_version(&self.id, &self.location)
            .await
            .expect("marker")
            .expect("deployed");
        let change = SchemaChange {
            statements: vec![sql.to_owned()],
            from: Some(marker.clone()),
            to: marker,
        };
        self.store
            .apply(&self.id, &self.location, &change)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn table(&self, name: &str) -> String {
        self.dialect().qualified(self.schema(), name)
    }

    /// Creates `deployed` as version `version`, after stand-ins for what `model` declares
    /// `@cds.persistence.exists` (someone else's objects: they are there first).
    async fn deploy(&self, model: &PersistenceModel, deployed: &PersistenceModel, version: &str) {
        let dialect = self.dialect();
        self.apply(
            existing_objects(model, dialect, self.schema()),
            None,
            "existing",
        )
        .await;
        self.apply(
            create_statements(deployed, dialect, self.schema()),
            Some("existing"),
            version,
        )
        .await;
    }

    async fn ids(&self, table: &str) -> Vec<i64> {
        self.ints(table, "ID").await
    }

    /// An integer column's values, in order.
    async fn ints(&self, table: &str, column: &str) -> Vec<i64> {
        let sql = format!(
            "SELECT {column} FROM {} ORDER BY {column}",
            self.table(table)
        );
        match &self.location {
            StorageLocation::Postgres { .. } => {
                let database = self.database.as_ref().expect("a scratch database");
                let pool = database.pool(1).await.expect("probe");
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
                pool.close().await;
                rows.iter().map(|r| i64::from(r.get::<i32, _>(0))).collect()
            }
            StorageLocation::Sqlite { path, .. } => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .expect("probe");
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
                pool.close().await;
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            }
        }
    }

    async fn remove(self) {
        self.store
            .drop_storage(&self.id, &self.location)
            .await
            .expect("drop storage");
    }
}

fn database_of(store: &SqliteTenantStore) -> DatabaseId {
    store.databases().remove(0)
}

const DIALECTS: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

/// Whether a fresh database on the test PostgreSQL server (where [`Tenant`]s live) has the
/// `vector` type (the pgvector extension).
async fn postgres_has_vector() -> bool {
    let database = ScratchDatabase::create()
        .await
        .expect("test PostgreSQL reachable");
    let pool = database.pool(1).await.expect("probe");
    let has: bool = sqlx::query_scalar("SELECT to_regtype('vector') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("to_regtype");
    pool.close().await;
    has
}

/// `model` without `Vector` columns (and view columns of the same name), for a PostgreSQL
/// server without pgvector, which cannot create them at all.
fn without_vectors(mut model: PersistenceModel) -> PersistenceModel {
    let mut removed = Vec::new();
    for table in &mut model.tables {
        table.columns.retain(|c| {
            let vector = matches!(c.ty, ColumnType::Vector { .. });
            if vector {
                removed.push(c.name.clone());
            }
            !vector
        });
    }
    for view in &mut model.views {
        view.columns.retain(|c| !removed.contains(&c.name));
    }
    model
}

/// Stand-ins for the tables a model declares `@cds.persistence.exists`: each with the columns
/// the model's views read from it (typed as large strings: only their names matter here).
fn existing_objects(
    model: &PersistenceModel,
    dialect: Dialect,
    schema: Option<&str>,
) -> Vec<String> {
    use crate::schema::{Expr, From};
    model
        .existing
        .iter()
        .map(|name| {
            let mut columns: Vec<String> = Vec::new();
            for view in &model.views {
                let From::Table {
                    name: source,
                    alias,
                } = &view.from
                else {
                    continue;
                };
                if source != name {
                    continue;
                }
                for column in &view.columns {
                    for token in &column.expr {
                        if let Expr::Column { alias: a, name: c } = token
                            && a == alias
                            && !columns.contains(c)
                        {
                            columns.push(c.clone());
                        }
                    }
                }
            }
            let definitions: Vec<String> = columns
                .iter()
                .map(|c| {
                    format!(
                        "{} {}",
                        dialect.ident(c),
                        dialect.column_type(ColumnType::LargeString)
                    )
                })
                .collect();
            format!(
                "CREATE TABLE {} ({})",
                dialect.qualified(schema, name),
                definitions.join(", ")
            )
        })
        .collect()
}

#[tokio::test]
async fn every_fixture_deployed_introspects_as_its_model_with_nothing_to_repair() {
    let vector = postgres_has_vector().await;
    for dialect in DIALECTS {
        for name in MODELS {
            let model = match dialect {
                Dialect::Postgres if !vector => without_vectors(load(name)),
                _ => load(name),
            };
            let tenant = Tenant::new(dialect).await;
            tenant.deploy(&model, &model, name).await;
            let actual = tenant.introspect().await;
            tenant.remove().await;
            let drift = compare(&model, dialect, &actual);
            assert!(drift.is_empty(), "{dialect:?} {name}: {drift:?}");
            let plan =
                repair_plan(&actual, &model, dialect, DiffOptions::default()).expect("repair plan");
            assert_eq!(plan, Plan::default(), "{dialect:?} {name}");
        }
    }
}

#[tokio::test]
async fn each_change_kind_applies_through_the_stores_keeping_rows_and_matching_the_target() {
    let base = model(base_table());
    let allow = DiffOptions {
        allow_destructive: true,
    };
    for dialect in DIALECTS {
        for (case, target, _, _) in cases() {
            let tenant = Tenant::new(dialect).await;
            tenant
                .apply(
                    create_statements(&base, dialect, tenant.schema()),
                    None,
                    "base",
                )
                .await;
            tenant
                .by_hand(&format!(
                    "INSERT INTO {} (ID, title, count, price) VALUES (1, 'one', 1, 1.5), (2, 'two', 2, 2.5)",
                    tenant.table("my_Things")
                ))
                .await;
            let plan = evolve::diff_with(Some(&base), &target, allow);
            let applied = tenant
                .try_apply(
                    plan_statements(&plan, dialect, tenant.schema()),
                    Some("base"),
                    "target",
                )
                .await;
            let outcome = match applied {
                Ok(()) => Ok((tenant.introspect().await, tenant.ids("my_Things").await)),
                Err(e) => Err(e.to_string()),
            };
            tenant.remove().await;
            let (actual, ids) = outcome.unwrap_or_else(|e| panic!("{dialect:?} {case}: {e}"));
            assert_eq!(compare(&target, dialect, &actual), [], "{dialect:?} {case}");
            assert_eq!(ids, [1, 2], "{dialect:?} {case}: rows kept");
        }
    }
}

#[tokio::test]
async fn hand_made_changes_are_found_and_repaired_keeping_rows() {
    let v2 = load("bookshop/v2");
    for dialect in DIALECTS {
        let tenant = Tenant::new(dialect).await;
        tenant
            .apply(create_statements(&v2, dialect, tenant.schema()), None, "v2")
            .await;
        let genres = tenant.table("my_bookshop_Genres");
        tenant
            .by_hand(&format!(
                "INSERT INTO {genres} (ID, name) VALUES (1, 'Fiction'), (2, 'Poetry')"
            ))
            .await;
        // An operator "fixes" things by hand: a view gone, a column gone, a column more.
        tenant
            .by_hand(&format!(
                "DROP VIEW {}",
                tenant.table("CatalogService_Genres")
            ))
            .await;
        tenant
            .by_hand(&format!(
                "ALTER TABLE {genres} DROP COLUMN {}",
                dialect.ident("parent_ID")
            ))
            .await;
        tenant
            .by_hand(&format!(
                "ALTER TABLE {genres} ADD COLUMN {} INTEGER",
                quote_ident("note")
            ))
            .await;

        let found: Vec<(String, DriftKind)> = compare(&v2, dialect, &tenant.introspect().await)
            .into_iter()
            .map(|d| (d.object.to_lowercase(), d.kind))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "my_bookshop_genres.parent_id".into(),
                    DriftKind::MissingColumn
                ),
                (
                    "my_bookshop_genres.note".into(),
                    DriftKind::UnexpectedColumn
                ),
                ("catalogservice_genres".into(), DriftKind::MissingView),
            ],
            "{dialect:?}"
        );

        // Dropping the extra column is destructive: refused, then allowed.
        let actual = tenant.introspect().await;
        let refused = repair_plan(&actual, &v2, dialect, DiffOptions::default()).expect("plan");
        assert!(refused.is_refused(), "{dialect:?}");
        let plan = repair_plan(
            &actual,
            &v2,
            dialect,
            DiffOptions {
                allow_destructive: true,
            },
        )
        .expect("plan");
        tenant
            .apply(
                plan_statements(&plan, dialect, tenant.schema()),
                Some("v2"),
                "v2",
            )
            .await;
        let repaired = tenant.introspect().await;
        let ids = tenant.ids("my_bookshop_Genres").await;
        tenant.remove().await;
        assert_eq!(compare(&v2, dialect, &repaired), [], "{dialect:?}");
        assert_eq!(ids, [1, 2], "{dialect:?}: rows kept");
    }
}

/// Unique constraints are compared by their columns: one missing (dropped by hand) and one
/// more (added by hand) are reported, and the repair, which is not destructive, restores the
/// model's constraints keeping every row.
#[tokio::test]
async fn unique_constraints_missing_or_added_by_hand_are_found_and_repaired() {
    use crate::schema::UniqueConstraint;
    let model = load("fixtures/compositions");
    // What a tenant holds after an operator's changes: Customers without its unique email,
    // Products with a unique sku of its own. (SQLite can change constraints only by rebuilding
    // the table, so the tenant is deployed that way rather than altered.)
    let mut altered = model.clone();
    for table in &mut altered.tables {
        match table.name.as_str() {
            "fx_comp_Customers" => table.unique.retain(|u| u.columns != ["email"]),
            "fx_comp_Products" => table.unique.push(UniqueConstraint {
                name: "products_sku_by_hand".into(),
                columns: vec!["sku".into()],
            }),
            _ => {}
        }
    }
    for dialect in DIALECTS {
        let tenant = Tenant::new(dialect).await;
        tenant.deploy(&model, &altered, "altered").await;
        tenant
            .by_hand(&format!(
                "INSERT INTO {} (number, email) VALUES (1, 'a@example.com'), (2, 'b@example.com')",
                tenant.table("fx_comp_Customers")
            ))
            .await;
        let actual = tenant.introspect().await;
        let found: Vec<String> = compare(&model, dialect, &actual)
            .iter()
            .map(|d| d.to_string().to_lowercase())
            .collect();
        assert_eq!(
            found,
            [
                "fx_comp_customers: unique constraint missing (expected unique (email))",
                "fx_comp_products: unexpected unique constraint (actual unique (sku))",
            ],
            "{dialect:?}"
        );

        let plan = repair_plan(&actual, &model, dialect, DiffOptions::default()).expect("plan");
        assert!(!plan.is_refused(), "{dialect:?}: {plan:?}");
        tenant
            .apply(
                plan_statements(&plan, dialect, tenant.schema()),
                Some("altered"),
                "repaired",
            )
            .await;
        let repaired = tenant.introspect().await;
        let numbers = tenant.ints("fx_comp_Customers", "number").await;
        tenant.remove().await;
        assert_eq!(compare(&model, dialect, &repaired), [], "{dialect:?}");
        assert_eq!(numbers, [1, 2], "{dialect:?}: rows kept");
    }
}
