//! Corpus models that once stopped start-up or a subscription (the issue "Every CDS model a
//! real app ships"): each loads as a model version, and its DDL deploys and is queryable; and
//! every corpus model upgrades v1 → v2 on PostgreSQL keeping its rows.

use mtx_shared::model::ModelVersion;
use mtx_shared::sql::{Dialect, create_statements};
use mtx_shared::testing::{ScratchDatabase, corpus_dir, corpus_models};
use sqlx::{AssertSqlSafe, Connection as _};

fn corpus_csn(case: &str) -> String {
    let path = corpus_dir().join(case).join("csn.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(case: &str) -> ModelVersion {
    ModelVersion::from_json(case, &corpus_csn(case)).unwrap_or_else(|e| panic!("{case}: {e}"))
}

#[test]
fn a_projection_with_a_path_expression_loads_as_a_model_version() {
    let version = load("path-to-one/v1");
    let view = version
        .persistence
        .view("c_p1_S_BookList")
        .expect("the projection is a view");
    assert!(view.columns.iter().any(|c| c.name == "authorName"));
}

#[test]
fn an_arrayed_element_loads_as_a_model_version() {
    let version = load("arrayed/v1");
    let contacts = version
        .persistence
        .table("c_arr_Contacts")
        .expect("the entity is a table");
    assert!(contacts.column("phones").is_some());
    assert!(contacts.column("emails").is_some());
}

#[tokio::test]
async fn localized_views_of_a_composition_of_aspects_deploy_and_answer_on_postgres() {
    let version = load("compositions-deep/v1");
    let database = ScratchDatabase::create().await.expect("scratch database");
    let mut conn = sqlx::PgConnection::connect(database.url())
        .await
        .expect("connects");

    let mut tx = conn.begin().await.expect("transaction");
    for statement in create_statements(&version.persistence, Dialect::Postgres, None) {
        sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    tx.commit().await.expect("commits");

    sqlx::raw_sql(
        "INSERT INTO c_comp_Orders_items_parts (up__up__ID, up__pos, no, name) \
         VALUES ('o1', 1, 1, 'bolt');
         INSERT INTO c_comp_Orders_items_parts_texts (locale, up__up__ID, up__pos, no, name) \
         VALUES ('de', 'o1', 1, 1, 'Bolzen');
         SET cap.locale = 'de'",
    )
    .execute(&mut conn)
    .await
    .expect("rows and locale");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM localized_c_comp_S_Orders_items_parts")
            .fetch_all(&mut conn)
            .await
            .expect("the localized view answers");
    assert_eq!(names, ["Bolzen"]);
}

/// A value PostgreSQL accepts for a column of type `ty` (an untyped literal it casts).
fn sample_value(ty: mtx_shared::schema::ColumnType) -> &'static str {
    use mtx_shared::schema::ColumnType;
    match ty {
        ColumnType::Boolean => "true",
        ColumnType::Date => "'2020-01-01'",
        ColumnType::Time => "'12:00:00'",
        ColumnType::DateTime | ColumnType::Timestamp => "'2020-01-01 12:00:00'",
        ColumnType::Map => "'{}'",
        _ => "'1'",
    }
}

/// `(table, column, type, nullable)` of every column in `schema`, sorted.
async fn columns_of(
    conn: &mut sqlx::PgConnection,
    schema: &str,
) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2",
    )
    .bind(schema)
    .fetch_all(conn)
    .await
    .expect("information_schema")
}

async fn run_all(conn: &mut sqlx::PgConnection, statements: &[String]) -> Result<(), String> {
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn corpus_upgrades_keep_every_row_on_postgres() {
    use mtx_shared::evolve::diff;
    use mtx_shared::sql::plan_statements;

    let database = ScratchDatabase::create().await.expect("scratch database");
    let mut conn = sqlx::PgConnection::connect(database.url())
        .await
        .expect("connects");
    let mut failures = Vec::new();
    for name in corpus_models() {
        // Not derived yet: the DDL ratchet (`known-gaps.txt`) tracks them.
        let (Ok(v1), Ok(v2)) = (
            ModelVersion::from_json(&name, &corpus_csn(&format!("{name}/v1"))),
            ModelVersion::from_json(&name, &corpus_csn(&format!("{name}/v2"))),
        ) else {
            continue;
        };
        // `@cds.persistence.exists` objects are someone else's to create; this database has
        // none of them.
        if !v1.persistence.existing.is_empty() || !v2.persistence.existing.is_empty() {
            continue;
        }
        let (upgraded, fresh) = (
            format!("up_{}", name.replace('-', "_")),
            format!("v2_{}", name.replace('-', "_")),
        );
        let mut statements = vec![format!("CREATE SCHEMA {upgraded}")];
        statements.extend(create_statements(
            &v1.persistence,
            Dialect::Postgres,
            Some(&upgraded),
        ));
        for table in &v1.persistence.tables {
            let columns: Vec<_> = table
                .columns
                .iter()
                .filter(|c| c.generated.is_none())
                .collect();
            statements.push(format!(
                "INSERT INTO {upgraded}.{} ({}) VALUES ({})",
                Dialect::Postgres.ident(&table.name),
                columns
                    .iter()
                    .map(|c| Dialect::Postgres.ident(&c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                columns
                    .iter()
                    .map(|c| sample_value(c.ty))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        let plan = diff(Some(&v1.persistence), &v2.persistence);
        if plan.is_refused() {
            continue;
        }
        statements.extend(plan_statements(&plan, Dialect::Postgres, Some(&upgraded)));
        if let Err(e) = run_all(&mut conn, &statements).await {
            failures.push(format!("{name}: {e}"));
            continue;
        }
        let mut fresh_statements = vec![format!("CREATE SCHEMA {fresh}")];
        fresh_statements.extend(create_statements(
            &v2.persistence,
            Dialect::Postgres,
            Some(&fresh),
        ));
        run_all(&mut conn, &fresh_statements)
            .await
            .expect("v2 deploys");
        for table in v1
            .persistence
            .tables
            .iter()
            .filter(|t| v2.persistence.table(&t.name).is_some())
        {
            let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {upgraded}.{}",
                Dialect::Postgres.ident(&table.name)
            )))
            .fetch_one(&mut conn)
            .await
            .expect("counts");
            if count != 1 {
                failures.push(format!("{name}: {} has {count} rows", table.name));
            }
        }
        if columns_of(&mut conn, &upgraded).await != columns_of(&mut conn, &fresh).await {
            failures.push(format!("{name}: schema differs from v2's"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
