//! A test that fails half-way leaves nothing behind: its server's database and data directory,
//! its cluster's child processes, databases, Redis keys and directory all go with the panic.

use std::path::PathBuf;

use anyhow::{Context as _, ensure};
use mtx_tests::processes::{Cluster, ClusterParams};
use mtx_tests::{Mode, TestServer, model_dir, test_database_url, test_redis_url};

/// What a failed test had made, reported before it panicked.
struct Made {
    databases: Vec<String>,
    dir: PathBuf,
    redis_prefix: Option<String>,
    pids: Vec<u32>,
}

/// Runs `test` on a task of its own, which must panic after sending what it made.
async fn made_by_a_panicking_test<F, Fut>(test: F) -> anyhow::Result<Made>
where
    F: FnOnce(tokio::sync::oneshot::Sender<Made>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (made, reported) = tokio::sync::oneshot::channel();
    let outcome = tokio::spawn(test(made)).await;
    ensure!(
        outcome.as_ref().is_err_and(|e| e.is_panic()),
        "the test was meant to panic: {outcome:?}"
    );
    reported.await.context("the test reported what it made")
}

async fn existing_databases(names: &[String]) -> anyhow::Result<Vec<String>> {
    let pool = sqlx::PgPool::connect(&test_database_url()).await?;
    let existing =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = ANY($1)")
            .bind(names)
            .fetch_all(&pool)
            .await?;
    pool.close().await;
    Ok(existing)
}

fn redis_keys(prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = redis::Client::open(test_redis_url())?.get_connection()?;
    Ok(redis::Commands::keys(&mut conn, format!("{{{prefix}}}*"))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dropped_by_a_failing_test_leaves_no_database_or_directory() -> anyhow::Result<()>
{
    let made = made_by_a_panicking_test(|made| async move {
        let s = TestServer::start(Mode::Postgres, &[])
            .await
            .expect("started");
        s.subscribe("t1").await.expect("subscribed");
        let _ = made.send(Made {
            databases: s.database.iter().map(|d| d.name().to_owned()).collect(),
            dir: s.data_dir.clone(),
            redis_prefix: None,
            pids: Vec::new(),
        });
        panic!("an assertion failed half-way");
    })
    .await?;

    ensure!(made.databases.len() == 1);
    let left = existing_databases(&made.databases).await?;
    ensure!(left.is_empty(), "databases left behind: {left:?}");
    ensure!(!made.dir.exists(), "{} left behind", made.dir.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_dropped_by_a_failing_test_leaves_no_process_database_or_key()
-> anyhow::Result<()> {
    let made = made_by_a_panicking_test(|made| async move {
        let c = Cluster::start(ClusterParams {
            databases: 1,
            workers: 1,
            model: model_dir("v1").join("csn.json"),
            env: Vec::new(),
        })
        .await
        .expect("started");
        let _ = made.send(Made {
            databases: c.databases.iter().map(|d| d.name().to_owned()).collect(),
            dir: c.dir.clone(),
            redis_prefix: Some(c.redis.prefix().to_owned()),
            pids: std::iter::once(c.api.pid)
                .chain(c.workers.iter().map(|w| w.pid))
                .collect(),
        });
        panic!("an assertion failed half-way");
    })
    .await?;

    for pid in &made.pids {
        ensure!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left running"
        );
    }
    let left = existing_databases(&made.databases).await?;
    ensure!(left.is_empty(), "databases left behind: {left:?}");
    let prefix = made.redis_prefix.context("a prefix")?;
    let keys = redis_keys(&prefix)?;
    ensure!(keys.is_empty(), "Redis keys left behind: {keys:?}");
    ensure!(!made.dir.exists(), "{} left behind", made.dir.display());
    Ok(())
}
