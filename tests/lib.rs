//! Helpers shared by the end-to-end tests: a real `mtx-api` server on port 0, in the embedded
//! mode (SQLite in a temporary directory) or on PostgreSQL (a fresh database per server), and
//! direct access to tenant storage for assertions. [`doubles`] holds the SaaS registry and
//! identity service doubles; [`processes`] runs the production mode as real OS processes
//! (`mtx-api`, `mtx-worker`s, Redis).

pub mod doubles;
pub mod processes;
pub mod teardown;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mtx_shared::config::Config;
use mtx_shared::system::System;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The two ways to run the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Postgres,
}

pub use mtx_shared::testing::{RedisPrefix, ScratchDatabase, TempDir};

/// The PostgreSQL server tests create their databases on.
pub fn test_database_url() -> String {
    mtx_shared::testing::database_url()
}

/// The Redis tests use.
pub fn test_redis_url() -> String {
    mtx_shared::testing::redis_url()
}

/// The repository's model fixtures.
pub fn model_dir(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join("bookshop")
        .join(version)
}

/// A running sidecar. [`TestServer::stop`] checks the teardown invariants and shuts it down;
/// dropped without it (a failed test), it stops serving and its database and data directory
/// are removed all the same.
#[derive(Debug)]
pub struct TestServer {
    pub mode: Mode,
    pub base: String,
    pub client: reqwest::Client,
    pub system: Arc<System>,
    /// The embedded mode's files (`MTX_DATA_DIR`), removed when the server is dropped.
    pub data_dir: PathBuf,
    pub database: Option<ScratchDatabase>,
    /// The environment the server was configured from (for [`TestServer::restart`]).
    env: BTreeMap<String, String>,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Owns [`TestServer::data_dir`] (moved on by [`TestServer::restart`]).
    data: Option<TempDir>,
    failed_jobs: teardown::FailedJobs,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Without `stop()` (a failed test): stop serving. The runner stops when the serve task
        // is dropped with the test's runtime (`mtx_api::serve` cancels it then), and the
        // database guard ends whatever connections are left.
        self.shutdown.cancel();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The cds error envelope's message.
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl TestServer {
    /// Starts a server in `mode` with extra environment settings (`MTX_*` as the binary reads
    /// them).
    pub async fn start(mode: Mode, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        mtx_shared::lifecycle::init_tracing(&mtx_shared::config::LogConfig::default());
        let data = TempDir::new();
        let mut env = BTreeMap::new();
        env.insert("MTX_DATA_DIR".to_owned(), data.path().display().to_string());
        let database = match mode {
            Mode::Embedded => None,
            Mode::Postgres => {
                let db = ScratchDatabase::create().await?;
                env.insert("MTX_DATABASE_URL".to_owned(), db.url().to_owned());
                // Production storage refuses the dummy mode unless forced; most tests use it.
                env.insert("MTX_AUTH_ALLOW_DUMMY".to_owned(), "true".to_owned());
                Some(db)
            }
        };
        for (k, v) in extra_env {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        // On failure the database and directory guards are dropped with it.
        let started = Self::serve(mode, env, data, database).await;
        if let Err(e) = &started {
            tracing::warn!(error = %e, "test server did not start");
        }
        started
    }

    async fn serve(
        mode: Mode,
        env: BTreeMap<String, String>,
        data: TempDir,
        database: Option<ScratchDatabase>,
    ) -> anyhow::Result<Self> {
        let config = Config::load(&env)?;
        let system = Arc::new(System::build(config).await?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(mtx_api::serve(listener, system.clone(), shutdown.clone()));
        Ok(Self {
            mode,
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            system,
            data_dir: data.path().to_path_buf(),
            database,
            env,
            shutdown,
            handle: Some(handle),
            data: Some(data),
            failed_jobs: teardown::FailedJobs::Unexpected,
        })
    }

    /// Declares that the test makes jobs fail on purpose: [`TestServer::stop`] then accepts
    /// FAILED jobs (it still refuses tasks left RUNNING).
    pub fn expect_failed_jobs(&mut self) {
        self.failed_jobs = teardown::FailedJobs::Expected;
    }

    /// Stops the server (HTTP, task runner, callback delivery) and starts a new one on the same
    /// data directory or database and configuration, as a process restart would. The new server
    /// listens on a new port.
    pub async fn restart(mut self) -> anyhow::Result<Self> {
        self.halt().await?;
        let database = self.database.take();
        let data = self
            .data
            .take()
            .context("the data directory was moved on")?;
        let env = std::mem::take(&mut self.env);
        let mut restarted = Self::serve(self.mode, env, data, database).await?;
        restarted.failed_jobs = self.failed_jobs;
        Ok(restarted)
    }

    async fn halt(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await??;
        }
        Ok(())
    }

    /// The environment the server was configured from: what a command of the `mtx-api`
    /// binary needs to work on the same system.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The end of a test that went well: shuts the server down (HTTP, then the runner, which
    /// finishes or hands back what is in flight), checks the teardown invariants (see
    /// [`teardown`]) and removes its data (directory, database).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.halt().await?;
        teardown::check_invariants(self.system.control().as_ref(), self.failed_jobs).await
        // The database and directory go when `self` is dropped here.
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let res = req.send().await?;
        Ok(Reply {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await?,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.request(Method::GET, path, &[], None).await
    }

    /// Subscribes synchronously and asserts success.
    pub async fn subscribe(&self, tenant: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({"subscribedTenantId": tenant, "subscribedSubdomain": format!("{tenant}-sub")});
        let r = self
            .request(
                Method::PUT,
                &format!("/-/cds/saas-provisioning/tenant/{tenant}"),
                &[],
                Some(&body.to_string()),
            )
            .await?;
        anyhow::ensure!(
            r.status == StatusCode::OK,
            "subscribe {tenant}: {} {}",
            r.status,
            r.text
        );
        Ok(())
    }

    /// Polls a job until it ends; returns the last pollJob body.
    pub async fn wait_job(&self, job_id: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let r = self
                .get(&format!("/-/cds/jobs/pollJob(ID='{job_id}')"))
                .await?;
            anyhow::ensure!(
                r.status == StatusCode::OK,
                "pollJob: {} {}",
                r.status,
                r.text
            );
            let body = r.json();
            let status = body["status"].as_str().unwrap_or_default().to_owned();
            if !matches!(status.as_str(), "QUEUED" | "RUNNING") {
                return Ok(body);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "job {job_id} did not end: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The tables and views in a tenant's storage (names as the database reports them).
    pub async fn tenant_objects(&self, tenant: &str) -> anyhow::Result<Vec<String>> {
        let record = self
            .system
            .control()
            .get_tenant(&mtx_shared::vocab::TenantId::parse(tenant)?)
            .await?;
        match self.mode {
            Mode::Embedded => {
                let path = self.data_dir.join(format!("db-{tenant}.sqlite"));
                if !path.exists() {
                    return Ok(Vec::new());
                }
                let pool = sqlite_pool(&path).await?;
                let names: Vec<(String,)> = sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name",
                )
                .fetch_all(&pool)
                .await?;
                pool.close().await;
                Ok(names.into_iter().map(|(n,)| n).collect())
            }
            Mode::Postgres => {
                let Some(db) = &self.database else {
                    return Ok(Vec::new());
                };
                let schema = match record.map(|r| r.location) {
                    Some(mtx_shared::tenant::StorageLocation::Postgres { schema, .. }) => schema,
                    _ => mtx_shared::tenant::schema_name_for(&mtx_shared::vocab::TenantId::parse(
                        tenant,
                    )?),
                };
                let pool = sqlx::PgPool::connect(db.url()).await?;
                let names: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                )
                .bind(&schema)
                .fetch_all(&pool)
                .await?;
                pool.close().await;
                Ok(names.into_iter().map(|(n,)| n).collect())
            }
        }
    }

    /// Runs SQL against a tenant's storage (statements use unqualified names; on PostgreSQL the
    /// tenant's schema is put on the search path of this test connection only).
    pub async fn tenant_sql(&self, tenant: &str, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
        let id = mtx_shared::vocab::TenantId::parse(tenant)?;
        match self.mode {
            Mode::Embedded => {
                let pool = sqlite_pool(&self.data_dir.join(format!("db-{tenant}.sqlite"))).await?;
                let rows = run_rows_sqlite(&pool, sql).await;
                pool.close().await;
                rows
            }
            Mode::Postgres => {
                let Some(db) = &self.database else {
                    anyhow::bail!("no database")
                };
                let schema = match self
                    .system
                    .control()
                    .get_tenant(&id)
                    .await?
                    .map(|r| r.location)
                {
                    Some(mtx_shared::tenant::StorageLocation::Postgres { schema, .. }) => schema,
                    _ => mtx_shared::tenant::schema_name_for(&id),
                };
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .after_connect(move |conn, _| {
                        let schema = schema.clone();
                        Box::pin(async move {
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "SET search_path TO \"{schema}\""
                            )))
                            .execute(conn)
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect(db.url())
                    .await?;
                let rows = run_rows_pg(&pool, sql).await;
                pool.close().await;
                rows
            }
        }
    }
}

async fn sqlite_pool(path: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

async fn run_rows_sqlite(pool: &sqlx::SqlitePool, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    use sqlx::{Row as _, ValueRef as _};
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.columns().len())
                .map(|i| {
                    if row.try_get_raw(i).is_ok_and(|raw| raw.is_null()) {
                        return Value::Null;
                    }
                    row.try_get::<i64, _>(i)
                        .map(Value::from)
                        .or_else(|_| row.try_get::<String, _>(i).map(Value::from))
                        .unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect())
}

async fn run_rows_pg(pool: &sqlx::PgPool, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    use sqlx::{Row as _, ValueRef as _};
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (0..row.columns().len())
                .map(|i| {
                    if row.try_get_raw(i).is_ok_and(|raw| raw.is_null()) {
                        return Value::Null;
                    }
                    row.try_get::<i64, _>(i)
                        .map(Value::from)
                        .or_else(|_| row.try_get::<i32, _>(i).map(Value::from))
                        .or_else(|_| row.try_get::<String, _>(i).map(Value::from))
                        .unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect())
}

/// A configuration file (`MTX_CONFIG`) in a directory of its own, removed when dropped.
#[derive(Debug)]
pub struct ConfigFile {
    file: PathBuf,
    _dir: TempDir,
}

impl ConfigFile {
    /// Writes `config` as `mtx.json`.
    pub fn write(config: &Value) -> anyhow::Result<Self> {
        let dir = TempDir::new();
        let file = dir.path().join("mtx.json");
        std::fs::write(&file, config.to_string())?;
        Ok(Self { file, _dir: dir })
    }

    /// The value for `MTX_CONFIG`.
    pub fn path(&self) -> String {
        self.file.display().to_string()
    }
}

/// The `Authorization` header of the basic mode for `user`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A model file the server reads (`MTX_MODEL`), swappable to simulate a new application
/// version without a restart.
#[derive(Debug)]
pub struct ModelFile {
    file: PathBuf,
    _dir: TempDir,
}

impl ModelFile {
    /// A temporary copy of the bookshop model `version` (`v1`, `v2`, `v3`).
    pub fn bookshop(version: &str) -> anyhow::Result<Self> {
        let dir = TempDir::new();
        let file = dir.path().join("csn.json");
        std::fs::copy(model_dir(version).join("csn.json"), &file)?;
        Ok(Self { file, _dir: dir })
    }

    /// The value for `MTX_MODEL`.
    pub fn path(&self) -> String {
        self.file.display().to_string()
    }

    /// Replaces the model with bookshop `version`.
    pub fn switch_to(&self, version: &str) -> anyhow::Result<()> {
        std::fs::copy(model_dir(version).join("csn.json"), &self.file)?;
        Ok(())
    }

    /// Replaces the model with the CSN `csn` (a variant of a bookshop version).
    pub fn write_json(&self, csn: &Value) -> anyhow::Result<()> {
        std::fs::write(&self.file, serde_json::to_vec(csn)?)?;
        Ok(())
    }

    /// The version hash of the model as it is now.
    pub fn hash(&self) -> anyhow::Result<mtx_shared::vocab::ModelHash> {
        Ok(mtx_shared::model::ModelVersion::load(&self.file)?.hash)
    }
}
