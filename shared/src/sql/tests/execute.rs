//! Our DDL for every corpus model runs on real databases: SQLite in memory and a scratch
//! PostgreSQL schema. The corpus comparison proves the text equals the compiler's; this proves
//! the statements (joins, `EXISTS` subqueries, draft tables) are accepted as we render them,
//! qualified with a tenant schema on PostgreSQL.

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::{AssertSqlSafe, Connection};

use super::corpus::{corpus_cases, derive_case};
use crate::sql::{Dialect, create_statements};

/// One script: every statement of the model, `;`-separated.
fn script(statements: &[String]) -> AssertSqlSafe<String> {
    AssertSqlSafe(statements.join(";\n"))
}

#[tokio::test]
async fn corpus_ddl_runs_on_sqlite() {
    for case in corpus_cases() {
        let Some(model) = derive_case(&case) else {
            continue;
        };
        // A fresh in-memory database per case (one connection is one database).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory sqlite");
        let statements = create_statements(&model, Dialect::Sqlite, None);
        if let Err(e) = sqlx::raw_sql(script(&statements)).execute(&pool).await {
            panic!("{case}: our SQLite DDL fails: {e}");
        }
        pool.close().await;
    }
}

#[tokio::test]
async fn corpus_ddl_runs_on_postgres_in_a_tenant_schema() {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&crate::testing::database_url())
        .await
        .expect("test PostgreSQL reachable");
    let mut connection = pool.acquire().await.expect("connection");
    for case in corpus_cases() {
        // Views on `@cds.persistence.exists` objects need those objects, which are not ours.
        let Some(model) = derive_case(&case).filter(|m| m.existing.is_empty()) else {
            continue;
        };
        let schema = format!("ddl_{}", uuid::Uuid::new_v4().simple());
        let statements = create_statements(&model, Dialect::Postgres, Some(&schema));
        // In a transaction that is rolled back: nothing is left behind, even on failure.
        let mut tx = connection.begin().await.expect("transaction");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut *tx)
            .await
            .expect("scratch schema");
        let result = sqlx::raw_sql(script(&statements)).execute(&mut *tx).await;
        tx.rollback().await.expect("rollback");
        if let Err(e) = result {
            panic!("{case}: our PostgreSQL DDL fails: {e}");
        }
    }
}
