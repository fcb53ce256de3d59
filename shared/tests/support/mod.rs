//! Test fixtures shared by the store tests, over `mtx_shared::testing`: a fresh PostgreSQL
//! database and a temporary directory, each removed again when the test ends, whether it passed
//! or panicked; and ways to abandon a future half-way.

use std::future::Future;

pub(crate) use mtx_shared::testing::TempDir;

/// Runs `test` against a database of its own, which is dropped afterwards (also when `test`
/// panics: the guard drops it while the panic unwinds).
pub(crate) async fn with_database<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = mtx_shared::testing::ScratchDatabase::create()
        .await
        .expect("the test PostgreSQL server (MTX_TEST_DATABASE_URL) must be reachable");
    test(database.url().to_owned()).await;
}

/// Polls `future` `polls` times, yielding in between, then drops it unfinished (if it is): a
/// caller giving up at an arbitrary await (a dropped request, a timeout, an aborted task).
pub(crate) async fn abandon_after<F: Future>(future: F, polls: usize) {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        if futures::poll!(future.as_mut()).is_ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Whether the connection `pool` hands out next is inside a transaction block.
pub(crate) async fn next_connection_in_transaction(
    pool: &sqlx::PgPool,
) -> Result<bool, sqlx::Error> {
    // One simple-protocol message: outside a transaction block it is its own transaction, which
    // starts with it.
    let row = sqlx::raw_sql("SELECT transaction_timestamp() <> statement_timestamp()")
        .fetch_one(pool)
        .await?;
    Ok(sqlx::Row::get(&row, 0))
}
