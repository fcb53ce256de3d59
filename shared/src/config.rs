//! Typed configuration, loaded once at start-up: defaults, then a config file, then environment
//! variables. Validation errors name the offending key. Nothing reads the environment later.
//!
//! The config file (`MTX_CONFIG`) is JSON in one of three shapes:
//! - our own (`mtx.json`): `{"port":4005,"dataDir":".mtx","model":"…","databases":[{"id":"db1",
//!   "url":"postgres://…"}],"redisUrl":"…","jobs":{"workerSize":4,…},"auth":"dummy",…}`;
//! - a CAP project's `package.json` (its `cds` section) or `.cdsrc.json`, from which the
//!   cds-mtxs keys are understood: `requires.multitenancy.jobs`,
//!   `requires["cds.xt.SaasProvisioningService"].jobs` and `.dependencies`, and the SaaS
//!   registry credentials in `requires.multitenancy.credentials`.
//!
//! Authentication, SaaS registry credentials and callback delivery are in [`security`].

mod security;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::vocab::DatabaseId;

pub use security::{
    AuthConfig, AuthMode, BasicUser, CallbacksConfig, JwtConfig, SaasRegistryConfig,
};

/// A value that must never be printed (URLs with passwords, client secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (a connection, a token request).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A printable form: URLs keep scheme, user and host with the password masked; anything
    /// else is fully masked.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "***".into();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let tail = tail.split('?').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// A configuration problem; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Where tenants' data lives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum StorageConfig {
    /// One SQLite file per tenant under `data_dir` (`<stem>-<tenant>.sqlite`); the control plane in
    /// `mtx-control.sqlite` beside them.
    Embedded {
        data_dir: PathBuf,
        file_stem: String,
    },
    /// PostgreSQL; the first database also holds the control plane (schema `mtx`).
    Postgres { databases: Vec<DatabaseConfig> },
}

/// One PostgreSQL database tenants can be placed on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseConfig {
    pub id: DatabaseId,
    pub url: Secret,
}

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSource {
    /// The bookshop example compiled into the binary.
    Builtin,
    /// A `csn.json` file or a `cds build` output folder.
    Path(PathBuf),
}

/// Job execution settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobsConfig {
    /// Parallel tasks per database.
    pub worker_size: u32,
    /// Databases worked on at once.
    pub cluster_size: u32,
    /// Unfinished jobs accepted before enqueues are refused with 429.
    pub queue_size: usize,
    /// How long a claimed task's lease lasts without renewal.
    #[serde(with = "millis", rename = "leaseMs")]
    pub lease: Duration,
    /// Attempts per task before it ends FAILED/TIMEOUT.
    pub max_attempts: u32,
    /// Upper bound for one task attempt.
    #[serde(with = "millis", rename = "taskTimeoutMs")]
    pub task_timeout: Duration,
    /// Terminal jobs older than this are deleted.
    #[serde(with = "millis", rename = "cleanupAgeMs")]
    pub cleanup_age: Duration,
    /// How long a synchronous request waits for its job before answering 202 instead.
    #[serde(with = "millis", rename = "syncTimeoutMs")]
    pub sync_timeout: Duration,
    /// How often each runner re-enqueues unfinished tasks from the control plane (what a
    /// flushed or restarted Redis lost comes back within this interval).
    #[serde(with = "millis", rename = "reconcileMs")]
    pub reconcile_every: Duration,
    /// How long in-flight tasks may run on after SIGTERM before they are handed back.
    #[serde(with = "millis", rename = "graceMs")]
    pub grace: Duration,
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            worker_size: 4,
            cluster_size: 3,
            queue_size: 100,
            lease: Duration::from_secs(30),
            max_attempts: 3,
            task_timeout: Duration::from_secs(30 * 60),
            cleanup_age: Duration::from_secs(7 * 24 * 3600),
            sync_timeout: Duration::from_secs(10 * 60),
            reconcile_every: Duration::from_secs(30),
            grace: Duration::from_secs(30),
        }
    }
}

/// PostgreSQL timeouts for tenant schema changes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgTimeoutsConfig {
    #[serde(with = "millis", rename = "lockTimeoutMs")]
    pub lock_timeout: Duration,
    #[serde(with = "millis", rename = "statementTimeoutMs")]
    pub statement_timeout: Duration,
}

impl Default for PgTimeoutsConfig {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(120),
        }
    }
}

/// The effective configuration of either binary.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Where the configuration file was read from, if any.
    pub config_file: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    /// Base URL for `Location` headers; default: from the request's `Host`.
    pub public_url: Option<String>,
    pub storage: StorageConfig,
    pub redis_url: Option<Secret>,
    /// Key prefix (hash tag) of the Redis queue.
    pub redis_prefix: String,
    pub model: ModelSource,
    pub jobs: JobsConfig,
    pub pg_timeouts: PgTimeoutsConfig,
    pub auth: AuthConfig,
    /// The SaaS registry's credentials; without them status callbacks are ignored (as cds does).
    pub saas_registry: Option<SaasRegistryConfig>,
    /// How status callbacks are delivered.
    pub callbacks: CallbacksConfig,
    /// `SUBSCRIPTION_URL`: the application URL of a subscriber when the request names none;
    /// `${tenant_subdomain}` is replaced by the subscriber's subdomain.
    pub subscription_url: Option<String>,
    /// Largest accepted request body.
    pub body_limit: usize,
    /// `xsappname`s reported by `GET /-/cds/saas-provisioning/dependencies`.
    pub dependencies: Vec<String>,
    /// Tasks one `mtx-worker` process runs at once.
    pub worker_slots: u32,
    /// Where `mtx-worker` serves `/metrics` (`None`: not served; 0: any free port, logged).
    /// `mtx-api` serves `/metrics` on its own port.
    pub metrics_port: Option<u16>,
    /// Connections per PostgreSQL pool (the control plane's, and each tenant database's);
    /// default: enough for this process' parallel tasks. Lower it when many processes share a
    /// server's `max_connections`.
    pub db_pool_size: Option<u32>,
}

impl Config {
    /// Defaults, overridden by the file named in `MTX_CONFIG` (if any), overridden by the
    /// environment.
    pub fn load(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = Builder::default();
        if let Some(path) = env.get("MTX_CONFIG").filter(|p| !p.is_empty()) {
            builder.apply_file(Path::new(path))?;
        }
        builder.apply_env(env)?;
        builder.finish()
    }

    /// [`Config::load`] from the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::load(&std::env::vars().collect())
    }

    /// Whether tasks are queued in Redis (run by `mtx-worker` processes).
    pub fn distributed(&self) -> bool {
        self.redis_url.is_some()
    }
}

#[derive(Debug, Default)]
struct Builder {
    config_file: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    file_stem: Option<String>,
    databases: Vec<DatabaseConfig>,
    redis_url: Option<Secret>,
    redis_prefix: Option<String>,
    model: Option<PathBuf>,
    jobs: JobsConfig,
    pg_timeouts: PgTimeoutsConfig,
    auth: security::AuthSettings,
    saas_registry: Option<SaasRegistryConfig>,
    callbacks: CallbacksConfig,
    subscription_url: Option<String>,
    body_limit: Option<usize>,
    dependencies: Vec<String>,
    worker_slots: Option<u32>,
    metrics_port: Option<u16>,
    db_pool_size: Option<u32>,
}

impl Builder {
    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let key = "MTX_CONFIG";
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| bad(key, format!("{} is not valid JSON: {e}", path.display())))?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let base = path.parent().unwrap_or(Path::new("."));
        self.config_file = Some(path.to_path_buf());
        match file_name {
            "package.json" => {
                if let Some(cds) = value.get("cds") {
                    self.apply_cds(cds, file_name)?;
                }
            }
            ".cdsrc.json" => self.apply_cds(&value, file_name)?,
            _ => self.apply_own(&value, base)?,
        }
        Ok(())
    }

    /// The cds-mtxs keys of a CAP project configuration.
    fn apply_cds(&mut self, cds: &Value, file: &str) -> Result<(), ConfigError> {
        let requires = cds.get("requires");
        if let Some(jobs) = requires
            .and_then(|r| r.get("multitenancy"))
            .and_then(|m| m.get("jobs"))
        {
            self.apply_jobs(jobs, &format!("{file}: cds.requires.multitenancy.jobs"))?;
        }
        let saas = requires.and_then(|r| r.get("cds.xt.SaasProvisioningService"));
        if let Some(jobs) = saas.and_then(|s| s.get("jobs")) {
            self.apply_jobs(
                jobs,
                &format!("{file}: cds.requires[\"cds.xt.SaasProvisioningService\"].jobs"),
            )?;
        }
        if let Some(deps) = saas.and_then(|s| s.get("dependencies")) {
            let key =
                format!("{file}: cds.requires[\"cds.xt.SaasProvisioningService\"].dependencies");
            self.dependencies = string_list(deps, &key)?;
        }
        if let Some(creds) = requires
            .and_then(|r| r.get("multitenancy"))
            .and_then(|m| m.get("credentials"))
            .filter(|c| c.get("saas_registry_url").is_some())
        {
            let key = format!("{file}: cds.requires.multitenancy.credentials");
            self.saas_registry = Some(security::saas_registry(creds, &key)?);
        }
        Ok(())
    }

    fn apply_own(&mut self, v: &Value, base: &Path) -> Result<(), ConfigError> {
        let Some(obj) = v.as_object() else {
            return Err(bad("MTX_CONFIG", "the config file must hold a JSON object"));
        };
        const KNOWN: &[&str] = &[
            "host",
            "port",
            "publicUrl",
            "dataDir",
            "fileStem",
            "databases",
            "databaseUrl",
            "redisUrl",
            "redisPrefix",
            "model",
            "jobs",
            "pgTimeouts",
            "auth",
            "bodyLimit",
            "dependencies",
            "workerSlots",
            "metricsPort",
            "dbPoolSize",
            "saasRegistry",
            "callbacks",
            "subscriptionUrl",
        ];
        if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(bad(
                unknown,
                format!(
                    "unknown key in the config file (known: {})",
                    KNOWN.join(", ")
                ),
            ));
        }
        if let Some(x) = obj.get("host") {
            self.host = Some(string(x, "host")?);
        }
        if let Some(x) = obj.get("port") {
            self.port = Some(port(&number(x, "port")?.to_string(), "port")?);
        }
        if let Some(x) = obj.get("publicUrl") {
            self.public_url = Some(string(x, "publicUrl")?);
        }
        if let Some(x) = obj.get("dataDir") {
            self.data_dir = Some(base.join(string(x, "dataDir")?));
        }
        if let Some(x) = obj.get("fileStem") {
            self.file_stem = Some(file_stem(&string(x, "fileStem")?, "fileStem")?);
        }
        if let Some(x) = obj.get("databaseUrl") {
            self.databases = vec![single_database(&string(x, "databaseUrl")?, "databaseUrl")?];
        }
        if let Some(x) = obj.get("databases") {
            let Some(list) = x.as_array() else {
                return Err(bad("databases", "must be an array of {\"id\",\"url\"}"));
            };
            self.databases = list
                .iter()
                .enumerate()
                .map(|(i, db)| {
                    let key = format!("databases[{i}]");
                    let id = db
                        .get("id")
                        .map(|v| string(v, &format!("{key}.id")))
                        .transpose()?
                        .ok_or_else(|| bad(&key, "missing \"id\""))?;
                    let url = db
                        .get("url")
                        .map(|v| string(v, &format!("{key}.url")))
                        .transpose()?
                        .ok_or_else(|| bad(&key, "missing \"url\""))?;
                    database(&id, &url, &key)
                })
                .collect::<Result<_, _>>()?;
            unique_ids(&self.databases, "databases")?;
        }
        if let Some(x) = obj.get("redisUrl") {
            self.redis_url = Some(redis_url(&string(x, "redisUrl")?, "redisUrl")?);
        }
        if let Some(x) = obj.get("redisPrefix") {
            self.redis_prefix = Some(redis_prefix(&string(x, "redisPrefix")?, "redisPrefix")?);
        }
        if let Some(x) = obj.get("model") {
            self.model = Some(base.join(string(x, "model")?));
        }
        if let Some(x) = obj.get("jobs") {
            self.apply_jobs(x, "jobs")?;
        }
        if let Some(x) = obj.get("pgTimeouts") {
            if let Some(ms) = x.get("lockTimeoutMs") {
                self.pg_timeouts.lock_timeout =
                    Duration::from_millis(number(ms, "pgTimeouts.lockTimeoutMs")?);
            }
            if let Some(ms) = x.get("statementTimeoutMs") {
                self.pg_timeouts.statement_timeout =
                    Duration::from_millis(number(ms, "pgTimeouts.statementTimeoutMs")?);
            }
        }
        if let Some(x) = obj.get("auth") {
            self.auth.apply_file(x)?;
        }
        if let Some(x) = obj.get("saasRegistry") {
            self.saas_registry = Some(security::saas_registry(x, "saasRegistry")?);
        }
        if let Some(x) = obj.get("callbacks") {
            security::apply_callbacks(&mut self.callbacks, x)?;
        }
        if let Some(x) = obj.get("subscriptionUrl") {
            self.subscription_url = Some(string(x, "subscriptionUrl")?);
        }
        if let Some(x) = obj.get("bodyLimit") {
            self.body_limit = Some(positive(number(x, "bodyLimit")?, "bodyLimit")? as usize);
        }
        if let Some(x) = obj.get("dependencies") {
            self.dependencies = string_list(x, "dependencies")?;
        }
        if let Some(x) = obj.get("workerSlots") {
            self.worker_slots = Some(positive_u32(number(x, "workerSlots")?, "workerSlots")?);
        }
        if let Some(x) = obj.get("dbPoolSize") {
            self.db_pool_size = Some(positive_u32(number(x, "dbPoolSize")?, "dbPoolSize")?);
        }
        if let Some(x) = obj.get("metricsPort") {
            self.metrics_port = Some(port(&number(x, "metricsPort")?.to_string(), "metricsPort")?);
        }
        Ok(())
    }

    fn apply_jobs(&mut self, jobs: &Value, prefix: &str) -> Result<(), ConfigError> {
        let Some(obj) = jobs.as_object() else {
            return Err(bad(prefix, "must be an object"));
        };
        for (k, v) in obj {
            let key = format!("{prefix}.{k}");
            match k.as_str() {
                "workerSize" => self.jobs.worker_size = positive_u32(number(v, &key)?, &key)?,
                "clusterSize" => self.jobs.cluster_size = positive_u32(number(v, &key)?, &key)?,
                "queueSize" => self.jobs.queue_size = positive(number(v, &key)?, &key)? as usize,
                "leaseMs" => {
                    self.jobs.lease = Duration::from_millis(positive(number(v, &key)?, &key)?)
                }
                "maxAttempts" => self.jobs.max_attempts = positive_u32(number(v, &key)?, &key)?,
                "taskTimeoutMs" => {
                    self.jobs.task_timeout =
                        Duration::from_millis(positive(number(v, &key)?, &key)?)
                }
                "cleanupAgeMs" | "cleanupAge" => {
                    self.jobs.cleanup_age = Duration::from_millis(positive(number(v, &key)?, &key)?)
                }
                "syncTimeoutMs" => {
                    self.jobs.sync_timeout =
                        Duration::from_millis(positive(number(v, &key)?, &key)?)
                }
                "reconcileMs" => {
                    self.jobs.reconcile_every =
                        Duration::from_millis(positive(number(v, &key)?, &key)?)
                }
                "graceMs" => self.jobs.grace = Duration::from_millis(number(v, &key)?),
                // cds-mtxs keys without a meaning here (our queue is durable and leases replace
                // heartbeats); accepted so a CAP project's configuration loads unchanged.
                "heartbeatInterval" | "heartbeatAge" | "cleanupInterval" | "t0" => {}
                _ => return Err(bad(&key, "unknown jobs setting")),
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(v) = get("MTX_HOST") {
            self.host = Some(v.to_owned());
        }
        if let Some(v) = get("PORT") {
            self.port = Some(port(v, "PORT")?);
        }
        if let Some(v) = get("MTX_PUBLIC_URL") {
            self.public_url = Some(v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = get("MTX_DATA_DIR") {
            self.data_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MTX_FILE_STEM") {
            self.file_stem = Some(file_stem(v, "MTX_FILE_STEM")?);
        }
        if let Some(v) = get("MTX_DATABASE_URL") {
            self.databases = vec![single_database(v, "MTX_DATABASE_URL")?];
        }
        if let Some(v) = get("MTX_DATABASES") {
            self.databases = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|pair| {
                    let (id, url) = pair.trim().split_once('=').ok_or_else(|| {
                        bad(
                            "MTX_DATABASES",
                            format!("'{pair}' is not of the form id=url"),
                        )
                    })?;
                    database(id.trim(), url.trim(), "MTX_DATABASES")
                })
                .collect::<Result<_, _>>()?;
            unique_ids(&self.databases, "MTX_DATABASES")?;
        }
        if let Some(v) = get("MTX_REDIS_URL") {
            self.redis_url = Some(redis_url(v, "MTX_REDIS_URL")?);
        }
        if let Some(v) = get("MTX_REDIS_PREFIX") {
            self.redis_prefix = Some(redis_prefix(v, "MTX_REDIS_PREFIX")?);
        }
        if let Some(v) = get("MTX_MODEL") {
            self.model = Some(PathBuf::from(v));
        }
        let num = |k: &str| -> Result<Option<u64>, ConfigError> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| bad(k, format!("must be a non-negative integer, got '{v}'")))
                })
                .transpose()
        };
        if let Some(n) = num("MTX_WORKER_SIZE")? {
            self.jobs.worker_size = positive_u32(n, "MTX_WORKER_SIZE")?;
        }
        if let Some(n) = num("MTX_CLUSTER_SIZE")? {
            self.jobs.cluster_size = positive_u32(n, "MTX_CLUSTER_SIZE")?;
        }
        if let Some(n) = num("MTX_QUEUE_SIZE")? {
            self.jobs.queue_size = positive(n, "MTX_QUEUE_SIZE")? as usize;
        }
        if let Some(n) = num("MTX_LEASE_MS")? {
            self.jobs.lease = Duration::from_millis(positive(n, "MTX_LEASE_MS")?);
        }
        if let Some(n) = num("MTX_MAX_ATTEMPTS")? {
            self.jobs.max_attempts = positive_u32(n, "MTX_MAX_ATTEMPTS")?;
        }
        if let Some(n) = num("MTX_TASK_TIMEOUT_MS")? {
            self.jobs.task_timeout = Duration::from_millis(positive(n, "MTX_TASK_TIMEOUT_MS")?);
        }
        if let Some(n) = num("MTX_CLEANUP_AGE_MS")? {
            self.jobs.cleanup_age = Duration::from_millis(positive(n, "MTX_CLEANUP_AGE_MS")?);
        }
        if let Some(n) = num("MTX_SYNC_TIMEOUT_MS")? {
            self.jobs.sync_timeout = Duration::from_millis(positive(n, "MTX_SYNC_TIMEOUT_MS")?);
        }
        if let Some(n) = num("MTX_RECONCILE_MS")? {
            self.jobs.reconcile_every = Duration::from_millis(positive(n, "MTX_RECONCILE_MS")?);
        }
        if let Some(n) = num("MTX_GRACE_MS")? {
            self.jobs.grace = Duration::from_millis(n);
        }
        if let Some(n) = num("MTX_DB_POOL_SIZE")? {
            self.db_pool_size = Some(positive_u32(n, "MTX_DB_POOL_SIZE")?);
        }
        if let Some(v) = get("MTX_METRICS_PORT") {
            self.metrics_port = Some(port(v, "MTX_METRICS_PORT")?);
        }
        if let Some(n) = num("MTX_PG_LOCK_TIMEOUT_MS")? {
            self.pg_timeouts.lock_timeout = Duration::from_millis(n);
        }
        if let Some(n) = num("MTX_PG_STATEMENT_TIMEOUT_MS")? {
            self.pg_timeouts.statement_timeout = Duration::from_millis(n);
        }
        if let Some(n) = num("MTX_BODY_LIMIT")? {
            self.body_limit = Some(positive(n, "MTX_BODY_LIMIT")? as usize);
        }
        if let Some(n) = num("MTX_WORKER_SLOTS")? {
            self.worker_slots = Some(positive_u32(n, "MTX_WORKER_SLOTS")?);
        }
        let owned = |k: &str| get(k).map(str::to_owned);
        self.auth.apply_env(&owned)?;
        security::apply_callbacks_env(&mut self.callbacks, &owned)?;
        if let Some(v) = get("MTX_SAAS_CREDENTIALS") {
            let value: Value = serde_json::from_str(v)
                .map_err(|e| bad("MTX_SAAS_CREDENTIALS", format!("is not valid JSON: {e}")))?;
            self.saas_registry = Some(security::saas_registry(&value, "MTX_SAAS_CREDENTIALS")?);
        }
        if let Some(v) = get("SUBSCRIPTION_URL") {
            self.subscription_url = Some(v.to_owned());
        }
        Ok(())
    }

    fn finish(self) -> Result<Config, ConfigError> {
        let storage = if self.databases.is_empty() {
            StorageConfig::Embedded {
                data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from(".mtx")),
                file_stem: self.file_stem.unwrap_or_else(|| "db".to_owned()),
            }
        } else {
            StorageConfig::Postgres {
                databases: self.databases,
            }
        };
        if self.redis_url.is_some() && matches!(storage, StorageConfig::Embedded { .. }) {
            return Err(bad(
                "MTX_REDIS_URL",
                "a Redis queue needs PostgreSQL storage (set MTX_DATABASE_URL or MTX_DATABASES): \
                 workers on other machines cannot reach embedded SQLite files",
            ));
        }
        let production = matches!(storage, StorageConfig::Postgres { .. });
        let auth = self.auth.finish(production)?;
        let jobs = self.jobs;
        Ok(Config {
            config_file: self.config_file,
            host: self.host.unwrap_or_else(|| "0.0.0.0".to_owned()),
            port: self.port.unwrap_or(4005),
            public_url: self.public_url,
            storage,
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix.unwrap_or_else(|| "mtx".to_owned()),
            model: self.model.map_or(ModelSource::Builtin, ModelSource::Path),
            worker_slots: self
                .worker_slots
                .unwrap_or(jobs.worker_size.saturating_mul(jobs.cluster_size)),
            jobs,
            pg_timeouts: self.pg_timeouts,
            auth,
            saas_registry: self.saas_registry,
            callbacks: self.callbacks,
            subscription_url: self.subscription_url,
            body_limit: self.body_limit.unwrap_or(1024 * 1024),
            dependencies: self.dependencies,
            metrics_port: self.metrics_port,
            db_pool_size: self.db_pool_size,
        })
    }
}

fn string(v: &Value, key: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(key, format!("must be a string, got {v}")))
}

fn number(v: &Value, key: &str) -> Result<u64, ConfigError> {
    v.as_u64()
        .ok_or_else(|| bad(key, format!("must be a non-negative integer, got {v}")))
}

fn positive(n: u64, key: &str) -> Result<u64, ConfigError> {
    if n == 0 {
        Err(bad(key, "must be at least 1"))
    } else {
        Ok(n)
    }
}

fn positive_u32(n: u64, key: &str) -> Result<u32, ConfigError> {
    let n = positive(n, key)?;
    u32::try_from(n).map_err(|_| bad(key, format!("{n} is too large")))
}

fn port(v: &str, key: &str) -> Result<u16, ConfigError> {
    v.parse::<u16>()
        .map_err(|_| bad(key, format!("must be a port number 0-65535, got '{v}'")))
}

fn string_list(v: &Value, key: &str) -> Result<Vec<String>, ConfigError> {
    v.as_array()
        .ok_or_else(|| bad(key, "must be an array of strings"))?
        .iter()
        .map(|x| string(x, key))
        .collect()
}

fn file_stem(v: &str, key: &str) -> Result<String, ConfigError> {
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad(
            key,
            "must be a non-empty file name stem of [A-Za-z0-9_-]",
        ));
    }
    Ok(v.to_owned())
}

fn postgres_url(url: &str, key: &str) -> Result<Secret, ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad(key, "must be a postgres:// or postgresql:// URL"));
    }
    Ok(Secret::new(url))
}

fn single_database(url: &str, key: &str) -> Result<DatabaseConfig, ConfigError> {
    Ok(DatabaseConfig {
        id: DatabaseId::parse("main").map_err(|m| bad(key, m))?,
        url: postgres_url(url, key)?,
    })
}

fn database(id: &str, url: &str, key: &str) -> Result<DatabaseConfig, ConfigError> {
    Ok(DatabaseConfig {
        id: DatabaseId::parse(id).map_err(|m| bad(key, m))?,
        url: postgres_url(url, key)?,
    })
}

fn unique_ids(dbs: &[DatabaseConfig], key: &str) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for db in dbs {
        if !seen.insert(db.id.clone()) {
            return Err(bad(key, format!("database id '{}' appears twice", db.id)));
        }
    }
    Ok(())
}

fn redis_url(v: &str, key: &str) -> Result<Secret, ConfigError> {
    if !(v.starts_with("redis://") || v.starts_with("rediss://") || v.starts_with("redis+unix://"))
    {
        return Err(bad(
            key,
            "must be a redis://, rediss:// or redis+unix:// URL",
        ));
    }
    Ok(Secret::new(v))
}

fn redis_prefix(v: &str, key: &str) -> Result<String, ConfigError> {
    if v.is_empty()
        || v.len() > 32
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(bad(key, "must be 1-32 characters of [A-Za-z0-9_.-]"));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_embedded_and_documented_values() {
        let c = Config::load(&env(&[])).expect("defaults load");
        assert_eq!(c.port, 4005);
        assert_eq!(
            c.storage,
            StorageConfig::Embedded {
                data_dir: PathBuf::from(".mtx"),
                file_stem: "db".into()
            }
        );
        assert_eq!(
            (c.jobs.worker_size, c.jobs.cluster_size, c.jobs.queue_size),
            (4, 3, 100)
        );
        assert_eq!(c.model, ModelSource::Builtin);
        assert_eq!(c.auth.mode, AuthMode::Dummy);
        assert_eq!(c.saas_registry, None);
    }

    #[test]
    fn environment_overrides_and_errors_name_the_key() {
        let c = Config::load(&env(&[
            ("MTX_DATABASE_URL", "postgres://u:pw@h/db"),
            ("MTX_AUTH_ALLOW_DUMMY", "true"),
            ("MTX_WORKER_SIZE", "2"),
        ]))
        .expect("loads");
        assert!(matches!(c.storage, StorageConfig::Postgres { .. }));
        assert_eq!(c.jobs.worker_size, 2);
        let err = Config::load(&env(&[("MTX_WORKER_SIZE", "abc")])).expect_err("refused");
        assert_eq!(err.key, "MTX_WORKER_SIZE");
        let c = Config::load(&env(&[
            ("MTX_RECONCILE_MS", "1500"),
            ("MTX_GRACE_MS", "0"),
            ("MTX_METRICS_PORT", "9464"),
        ]))
        .expect("loads");
        assert_eq!(c.jobs.reconcile_every, Duration::from_millis(1500));
        assert_eq!(c.jobs.grace, Duration::ZERO);
        assert_eq!(c.metrics_port, Some(9464));
        let err = Config::load(&env(&[("MTX_RECONCILE_MS", "0")])).expect_err("refused");
        assert_eq!(err.key, "MTX_RECONCILE_MS");
        let err = Config::load(&env(&[("MTX_CLUSTER_SIZE", "0")])).expect_err("refused");
        assert_eq!(err.key, "MTX_CLUSTER_SIZE");
        let err = Config::load(&env(&[("MTX_DATABASES", "a=postgres://x,a=postgres://y")]))
            .expect_err("refused");
        assert!(err.message.contains("twice"), "{err}");
    }

    #[test]
    fn secrets_are_masked() {
        let s = Secret::new("postgres://user:hunter2@db.example:5432/app?sslmode=require");
        assert_eq!(s.masked(), "postgres://user:***@db.example:5432/app");
        assert!(!format!("{s:?}").contains("hunter2"));
        let json = serde_json::to_string(&s).expect("serializes");
        assert!(!json.contains("hunter2"));
    }

    #[test]
    fn cap_package_json_keys_are_understood() {
        let dir = std::env::temp_dir().join(format!("mtx-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("package.json");
        std::fs::write(
            &file,
            r#"{"name":"x","cds":{"requires":{"multitenancy":{"jobs":{"workerSize":7,"heartbeatAge":1}},
               "cds.xt.SaasProvisioningService":{"jobs":{"clusterSize":2},"dependencies":["dest-xsappname"]}}}}"#,
        )
        .expect("write");
        let c = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))])).expect("loads");
        assert_eq!(c.jobs.worker_size, 7);
        assert_eq!(c.jobs.cluster_size, 2);
        assert_eq!(c.dependencies, vec!["dest-xsappname".to_owned()]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn own_config_file_rejects_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("mtx-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("mtx.json");
        std::fs::write(&file, r#"{"prot": 1}"#).expect("write");
        let err = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))]))
            .expect_err("refused");
        assert_eq!(err.key, "prot");
        let _ = std::fs::remove_dir_all(dir);
    }
}
