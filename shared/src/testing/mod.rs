//! Test fixtures that clean up after themselves: a scratch PostgreSQL database
//! ([`ScratchDatabase`]), a Redis key prefix ([`RedisPrefix`]) and a temporary directory
//! ([`TempDir`]), each an RAII guard that removes what it made when dropped, also while a failed
//! test unwinds.
//!
//! Compiled for this crate's own unit tests and, through the `testing` feature, for the
//! integration and end-to-end tests; never part of a production build.
//!
//! Every name a fixture creates carries its owner: the creating process' id and its start time
//! ([`owner`]). A process killed before its guards ran (a crashed or aborted test run) leaves its
//! databases and keys behind; the first fixture a test process creates sweeps those of owners
//! that are gone ([`sweep_once`]). Only dead owners are swept, because nextest runs tests as
//! parallel processes that share the same PostgreSQL and Redis.

mod database;
mod owner;
mod redis;
mod temp_dir;

use std::future::Future;
use std::sync::Once;

pub use database::ScratchDatabase;
pub use redis::RedisPrefix;
pub use temp_dir::TempDir;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The PostgreSQL server tests create their databases on (`MTX_TEST_DATABASE_URL`).
pub fn database_url() -> String {
    std::env::var("MTX_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// The Redis tests use (`MTX_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("MTX_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// The folder of the compiled corpus models (`models/corpus`, see its README).
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/corpus")
}

/// The corpus models, by folder name, sorted.
pub fn corpus_models() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("models/corpus exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `url` with its database replaced by `database` (credentials and query parameters kept).
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

/// Removes, once per test process, the databases and Redis keys that processes which are no
/// longer running left behind. Failures are logged, never raised: a sweep is housekeeping, and
/// must not fail the test that happens to run it.
pub fn sweep_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        if let Err(e) = block_on_own_runtime(database::sweep_orphans()) {
            tracing::warn!(error = %e, "could not sweep the databases of finished test runs");
        }
        if let Err(e) = redis::sweep_orphans() {
            tracing::warn!(error = %e, "could not sweep the Redis keys of finished test runs");
        }
    });
}

/// Runs `future` to completion on a runtime of its own, on a thread of its own.
///
/// `Drop` cannot be async, and cannot use the runtime it may run on (a current-thread runtime
/// would deadlock, and a runtime being shut down runs nothing): a short-lived thread with its own
/// runtime works the same inside and outside of one.
fn block_on_own_runtime<F>(future: F) -> anyhow::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name("mtx-test-cleanup".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(future))
        })?;
    let output = thread
        .join()
        .map_err(|_| anyhow::anyhow!("the cleanup thread panicked"))??;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_credentials_and_parameters() {
        assert_eq!(
            url_with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(url_with_database("postgres://h/", "x"), "postgres://h/x");
    }

    #[test]
    fn runs_a_future_inside_a_runtime_too() {
        let outside = block_on_own_runtime(async { 1 }).expect("outside a runtime");
        let inside = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(async { block_on_own_runtime(async { 2 }).expect("inside a runtime") });
        assert_eq!((outside, inside), (1, 2));
    }

    async fn database_exists(name: &str) -> bool {
        let pool = sqlx::PgPool::connect(&database_url())
            .await
            .expect("test PostgreSQL reachable");
        let exists =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&pool)
                .await
                .expect("pg_database");
        pool.close().await;
        exists
    }

    #[tokio::test]
    async fn a_test_that_panics_midway_still_drops_its_database_and_keys() {
        let (names, named) = tokio::sync::oneshot::channel();
        let failing_test = tokio::spawn(async move {
            let database = ScratchDatabase::create().await.expect("created");
            let prefix = RedisPrefix::new();
            let mut redis = ::redis::Client::open(redis_url())
                .and_then(|c| c.get_connection())
                .expect("Redis reachable");
            let _: () = ::redis::Commands::set(&mut redis, format!("{{{}}}:k", prefix.prefix()), 1)
                .expect("SET");
            let _ = names.send((database.name().to_owned(), prefix.prefix().to_owned()));
            panic!("an assertion failed half-way");
        });

        let outcome = failing_test.await;

        assert!(outcome.expect_err("the test panicked").is_panic());
        let (database, prefix) = named.await.expect("the names were sent before the panic");
        assert!(!database_exists(&database).await, "{database} left behind");
        let mut redis = ::redis::Client::open(redis_url())
            .and_then(|c| c.get_connection())
            .expect("Redis reachable");
        let left: Vec<String> =
            ::redis::Commands::keys(&mut redis, format!("{{{prefix}}}*")).expect("KEYS");
        assert!(left.is_empty(), "keys left behind: {left:?}");
    }

    #[tokio::test]
    async fn the_sweep_drops_dead_owners_databases_and_keeps_live_ones() {
        let live = ScratchDatabase::create().await.expect("created");
        // No process has the largest pid: this owner is certainly gone.
        let random = uuid::Uuid::new_v4().simple().to_string();
        let dead = format!("{}4294967295_1_{}", owner::NAME_PREFIX, &random[..16]);
        let admin = sqlx::PgPool::connect(&database_url())
            .await
            .expect("test PostgreSQL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{dead}\"")))
            .execute(&admin)
            .await
            .expect("a leftover of a crashed run");
        admin.close().await;

        database::sweep_orphans().await.expect("swept");

        assert!(
            !database_exists(&dead).await,
            "the dead owner's database was kept"
        );
        assert!(
            database_exists(live.name()).await,
            "a live owner's database was dropped"
        );
    }
}
