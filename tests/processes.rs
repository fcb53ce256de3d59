//! The production mode as real OS processes: one `mtx-api` and any number of `mtx-worker`s,
//! started from the built binaries, sharing scratch PostgreSQL databases and a Redis key prefix
//! of their own.
//!
//! The binaries are looked up in `MTX_BIN_DIR`, else in the cargo target directory the test
//! executable was built into (`target/<profile>/`, one level above `deps/`). `cargo test` and
//! `cargo nextest` do not build other packages' binaries for an integration test, so
//! `scripts/test.sh` runs `cargo build --bins` first; by hand: `cargo build --bins` before
//! `cargo test -p mtx-tests`.
//!
//! Each process logs JSON lines (`MTX_LOG_FORMAT=json`) to its own file in the cluster's
//! temporary directory; the harness reads them for the bound addresses and prints their tails
//! when something goes wrong. Children are killed when dropped, so a failing test leaves no
//! process behind.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use mtx_shared::control::ControlStore;
use mtx_shared::control::postgres::PostgresControlStore;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::teardown::{self, FailedJobs};
use crate::{RedisPrefix, Reply, ScratchDatabase, TempDir, test_redis_url};

/// Where `mtx-api` and `mtx-worker` are.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("MTX_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locating the test executable")?;
    // target/<profile>/deps/e2e-<hash> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the test executable has no target directory above it")
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir()?.join(name);
    ensure!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --bins`, which scripts/test.sh \
         does) or point MTX_BIN_DIR at them",
        path.display()
    );
    Ok(path)
}

/// One child process and its log file.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
    /// `host:port` of the worker's `/metrics`, when `MTX_METRICS_PORT` is set.
    pub metrics_addr: Option<String>,
    /// Whether the test killed it (SIGKILL), so its exit is expected to be by signal.
    pub killed: bool,
    child: tokio::process::Child,
}

impl Process {
    /// Starts `binary` (`mtx-api`, `mtx-worker`) with exactly `env` (plus `PATH`), logging JSON
    /// lines to `<dir>/<name>.log`.
    pub fn spawn(
        binary_name: &str,
        name: &str,
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = tokio::process::Command::new(binary(binary_name)?);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MTX_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("starting {binary_name}"))?;
        let pid = child.id().context("the child has no pid")?;
        Ok(Self {
            name: name.to_owned(),
            pid,
            log,
            metrics_addr: None,
            killed: false,
            child,
        })
    }

    /// The log's JSON lines so far (lines that are not JSON are skipped).
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits for a log line whose message is `message`; returns its `fields`.
    pub async fn wait_for_message(
        &mut self,
        message: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self
                .log_lines()
                .into_iter()
                .find(|l| l["fields"]["message"] == message)
            {
                return Ok(line["fields"].clone());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before logging '{message}':\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "{} did not log '{message}' in time:\n{}",
                self.name,
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: the process dies at once, whatever it holds.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.killed = true;
        self.child.kill().await?;
        Ok(())
    }

    /// SIGTERM: asks for a graceful shutdown.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .context("running kill -TERM")?;
        ensure!(status.success(), "kill -TERM {} failed", self.pid);
        Ok(())
    }

    /// Waits for the process to exit; kills it (and fails) after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!(
                    "{} did not exit within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail(30)
                )
            }
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    /// SIGKILL to the child this harness started (by its handle, hence its pid), then a bounded
    /// wait until it is gone: a failed test leaves no process behind, and none that still holds
    /// the connections of a database about to be dropped.
    fn drop(&mut self) {
        if self.child.start_kill().is_err() {
            return; // already reaped
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// What a cluster looks like.
#[derive(Debug, Clone)]
pub struct ClusterParams {
    /// Scratch PostgreSQL databases, `db1`, `db2`, …; the first also holds the control plane.
    pub databases: usize,
    pub workers: usize,
    /// The model file (`MTX_MODEL`), copied into the cluster's directory so the test can
    /// replace it.
    pub model: PathBuf,
    /// Extra `MTX_*` settings for every process.
    pub env: Vec<(String, String)>,
}

/// `mtx-api` plus workers on scratch databases and a Redis prefix of their own.
#[derive(Debug)]
pub struct Cluster {
    pub api: Process,
    pub workers: Vec<Process>,
    /// `http://127.0.0.1:<port>` of the API.
    pub base: String,
    pub client: reqwest::Client,
    pub databases: Vec<ScratchDatabase>,
    pub redis: RedisPrefix,
    /// The model file every process reads; replace it to publish a new model version.
    pub model: PathBuf,
    /// The cluster's directory (logs, model, data), removed when the cluster is dropped.
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    next_worker: usize,
    failed_jobs: FailedJobs,
    /// Declared after the processes: they are killed before their directory goes.
    _temp: TempDir,
}

impl Cluster {
    /// Creates the databases, starts the API and waits until it listens, then starts the
    /// workers and waits until each runs.
    pub async fn start(params: ClusterParams) -> anyhow::Result<Self> {
        let temp = TempDir::new();
        let dir = temp.path().to_path_buf();
        let model = dir.join("csn.json");
        std::fs::copy(&params.model, &model)
            .with_context(|| format!("copying the model {}", params.model.display()))?;
        let mut databases = Vec::new();
        for _ in 0..params.databases {
            databases.push(ScratchDatabase::create().await?);
        }
        let redis = RedisPrefix::new();
        let list = databases
            .iter()
            .enumerate()
            .map(|(i, db)| format!("db{}={}", i + 1, db.url()))
            .collect::<Vec<_>>()
            .join(",");
        let mut env: Vec<(String, String)> = vec![
            ("MTX_HOST".into(), "127.0.0.1".into()),
            ("PORT".into(), "0".into()),
            ("MTX_DATABASES".into(), list),
            ("MTX_REDIS_URL".into(), test_redis_url()),
            ("MTX_REDIS_PREFIX".into(), redis.prefix().to_owned()),
            ("MTX_MODEL".into(), model.display().to_string()),
            (
                "MTX_DATA_DIR".into(),
                dir.join("data").display().to_string(),
            ),
            // Every request acts as a privileged user: the tests are about the job system.
            ("MTX_AUTH".into(), "dummy".into()),
            ("MTX_AUTH_ALLOW_DUMMY".into(), "true".into()),
        ];
        env.extend(params.env.iter().cloned());

        let mut api = Process::spawn("mtx-api", "api", &env, &dir)?;
        let fields = api
            .wait_for_message("mtx-api listening", Duration::from_secs(60))
            .await?;
        let addr = fields["addr"]
            .as_str()
            .context("the listening line names no addr")?;
        let mut cluster = Self {
            api,
            workers: Vec::new(),
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            databases,
            redis,
            model,
            dir,
            env,
            next_worker: 0,
            failed_jobs: FailedJobs::Unexpected,
            _temp: temp,
        };
        for _ in 0..params.workers {
            cluster.add_worker().await?;
        }
        Ok(cluster)
    }

    /// Declares that the test makes jobs fail on purpose: [`Cluster::stop`] then accepts FAILED
    /// jobs (it still refuses tasks left RUNNING).
    pub fn expect_failed_jobs(&mut self) {
        self.failed_jobs = FailedJobs::Expected;
    }

    /// Starts one more worker and waits until it runs; returns its index in `workers`.
    pub async fn add_worker(&mut self) -> anyhow::Result<usize> {
        self.next_worker += 1;
        let name = format!("worker{}", self.next_worker);
        let mut worker = Process::spawn("mtx-worker", &name, &self.env, &self.dir)?;
        if self.env.iter().any(|(k, _)| k == "MTX_METRICS_PORT") {
            let fields = worker
                .wait_for_message("metrics listening", Duration::from_secs(60))
                .await?;
            worker.metrics_addr = fields["addr"].as_str().map(str::to_owned);
        }
        worker
            .wait_for_message("mtx-worker started", Duration::from_secs(60))
            .await?;
        self.workers.push(worker);
        Ok(self.workers.len() - 1)
    }

    /// The control plane (in the first database), for assertions.
    pub async fn control(&self) -> anyhow::Result<Arc<dyn ControlStore>> {
        let first = self.databases.first().context("no database")?;
        Ok(Arc::new(
            PostgresControlStore::connect(first.url(), 4).await?,
        ))
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

    /// `pollJob`, which must answer 200.
    pub async fn poll_job(&self, job: &str) -> anyhow::Result<Value> {
        let r = self
            .get(&format!("/-/cds/jobs/pollJob(ID='{job}')"))
            .await?;
        ensure!(
            r.status == StatusCode::OK,
            "pollJob: {} {}",
            r.status,
            r.text
        );
        Ok(r.json())
    }

    /// Polls a job until it ends or `timeout` passes; returns the last `pollJob` body.
    pub async fn wait_job(&self, job: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let body = self.poll_job(job).await?;
            if !matches!(body["status"].as_str(), Some("QUEUED" | "RUNNING")) {
                return Ok(body);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "job {job} did not end within {timeout:?}; status {}, tasks by status {:?}\n\
                     --- api ---\n{}\n{}",
                    body["status"],
                    count_by_status(&body),
                    self.api.log_tail(10),
                    self.workers
                        .iter()
                        .map(|w| format!("--- {} ---\n{}", w.name, w.log_tail(10)))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `/metrics` of the API, as text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let r = self.get("/metrics").await?;
        ensure!(r.status == StatusCode::OK, "/metrics: {}", r.status);
        Ok(r.text)
    }

    /// `/metrics` of worker `i` (started with `MTX_METRICS_PORT`), as text.
    pub async fn worker_metrics(&self, i: usize) -> anyhow::Result<String> {
        let addr = self
            .workers
            .get(i)
            .and_then(|w| w.metrics_addr.as_deref())
            .context("the worker serves no metrics (set MTX_METRICS_PORT)")?;
        let r = self
            .client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await?;
        ensure!(
            r.status() == StatusCode::OK,
            "worker /metrics: {}",
            r.status()
        );
        Ok(r.text().await?)
    }

    /// The end of a test that went well: SIGTERM to every process still running (workers first,
    /// then the API); each must exit 0 within `timeout`. Then the teardown invariants are checked
    /// (see [`teardown`]) and the databases, the Redis keys and the directory go with `self`.
    pub async fn stop(mut self, timeout: Duration) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for worker in &mut self.workers {
            if worker.is_running() {
                worker.terminate()?;
            }
        }
        for worker in &mut self.workers {
            match worker.wait_exit(timeout).await {
                Ok(status) if status.success() || worker.killed => {}
                Ok(status) => problems.push(format!(
                    "{} exited {status}:\n{}",
                    worker.name,
                    worker.log_tail(20)
                )),
                Err(e) => problems.push(e.to_string()),
            }
        }
        self.api.terminate()?;
        match self.api.wait_exit(timeout).await {
            Ok(status) if status.success() => {}
            Ok(status) => problems.push(format!("api exited {status}:\n{}", self.api.log_tail(20))),
            Err(e) => problems.push(e.to_string()),
        }
        ensure!(problems.is_empty(), "{}", problems.join("\n"));
        let control = self.control().await?;
        teardown::check_invariants(control.as_ref(), self.failed_jobs).await
    }
}

/// How many tasks of a `pollJob` body are in each state.
pub fn count_by_status(job: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for task in job["tasks"].as_array().into_iter().flatten() {
        *counts
            .entry(task["status"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// The value of the sample whose name and labels are exactly `series` in a Prometheus text
/// exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
