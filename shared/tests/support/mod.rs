//! Test fixtures shared by the store tests: a fresh PostgreSQL database and a temporary directory,
//! each removed again when the test ends, whether it passed or panicked.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use futures::FutureExt;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server the tests create their databases on (`MTX_TEST_DATABASE_URL`).
pub fn admin_url() -> String {
    std::env::var("MTX_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// `url` with its database replaced by `database` (query parameters kept).
pub fn url_with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority = head.find("://").map_or(0, |i| i + 3);
    let path = head[authority..]
        .find('/')
        .map_or(head.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{database}?{query}", &head[..path]),
        None => format!("{}/{database}", &head[..path]),
    }
}

/// Runs `test` against a database of its own, `mtx_test_<uuid>`, and drops that database
/// afterwards (also when `test` panics, whose panic is then passed on).
pub async fn with_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let admin = admin_url();
    let name = format!("mtx_test_{}", Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL server (MTX_TEST_DATABASE_URL) must be reachable");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let outcome = AssertUnwindSafe(test(url_with_database(&admin, &name)))
        .catch_unwind()
        .await;
    // FORCE ends the connections the store under test still holds.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .expect("drop the test database");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A directory under the system's temporary directory, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("mtx-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp must not turn a passing test into a panic.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn database_urls_keep_credentials_and_parameters() {
    assert_eq!(
        url_with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(url_with_database("postgres://h", "x"), "postgres://h/x");
}

/// Polls `future` `polls` times, yielding in between, then drops it unfinished (if it is): a
/// caller giving up at an arbitrary await (a dropped request, a timeout, an aborted task).
pub async fn abandon_after<F: Future>(future: F, polls: usize) {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        if futures::poll!(future.as_mut()).is_ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Whether the connection `pool` hands out next is inside a transaction block.
pub async fn next_connection_in_transaction(pool: &sqlx::PgPool) -> Result<bool, sqlx::Error> {
    // One simple-protocol message: outside a transaction block it is its own transaction, which
    // starts with it.
    let row = sqlx::raw_sql("SELECT transaction_timestamp() <> statement_timestamp()")
        .fetch_one(pool)
        .await?;
    Ok(sqlx::Row::get(&row, 0))
}
