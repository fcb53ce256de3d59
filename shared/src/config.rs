//! Typed configuration, loaded once at start-up: defaults, then a config file, then environment
//! variables. Validation errors name the offending key. Nothing reads the environment later.
//!
//! # Layout
//! - [`keys`] declares every key once: environment variable, config file key (ours and
//!   cds-mtxs'), default, validation, secrecy and meaning. Everything below follows from it.
//! - `load` applies the declared defaults, the file and the environment through the table;
//!   `input` holds the rules a raw value is read by, so a message names the key whichever
//!   source the value came from.
//! - [`Config::effective`] prints the table's keys with their effective values (secrets masked,
//!   see `secret`); `readme` renders the README's table, and a test keeps it in step.
//! - `security` holds the authentication, SaaS registry and callback settings.
//!
//! The config file (`MTX_CONFIG`) is JSON in one of three shapes:
//! - our own (`mtx.json`): the declared file keys, nested at the dots
//!   (`{"port":4005,"jobs":{"workerSize":4},"auth":{"kind":"jwt",…}}`); unknown keys are refused;
//! - a CAP project's `package.json` (its `cds` section) or `.cdsrc.json`, from which the
//!   declared cds-mtxs keys are read ([`keys::CdsKey`]).

mod input;
pub mod keys;
mod load;
#[cfg(test)]
mod readme;
mod secret;
mod security;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::vocab::DatabaseId;

pub use secret::Secret;
pub use security::{
    AuthConfig, AuthMode, BasicUser, CallbacksConfig, JwtConfig, SaasRegistryConfig,
};

/// A configuration problem; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
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
    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl JobsConfig {
    /// Nothing set: what the declared defaults are applied to.
    fn blank() -> Self {
        Self {
            worker_size: 0,
            cluster_size: 0,
            queue_size: 0,
            lease: Duration::ZERO,
            max_attempts: 0,
            task_timeout: Duration::ZERO,
            cleanup_age: Duration::ZERO,
            sync_timeout: Duration::ZERO,
            reconcile_every: Duration::ZERO,
            grace: Duration::ZERO,
        }
    }
}

impl Default for JobsConfig {
    /// The declared defaults of the `jobs` keys.
    fn default() -> Self {
        load::Builder::with_defaults().jobs
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
    /// The declared defaults of `MTX_PG_LOCK_TIMEOUT_MS` and `MTX_PG_STATEMENT_TIMEOUT_MS`.
    fn default() -> Self {
        load::Builder::with_defaults().pg_timeouts
    }
}

/// How the binaries log (to stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogConfig {
    /// `RUST_LOG`: `tracing` filter directives, known to parse.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    /// The declared defaults of `RUST_LOG` and `MTX_LOG_FORMAT`.
    fn default() -> Self {
        load::Builder::with_defaults().log
    }
}

/// `MTX_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    /// How the process logs.
    pub log: LogConfig,
}

impl Config {
    /// Defaults, overridden by the file named in `MTX_CONFIG` (if any), overridden by the
    /// environment.
    pub fn load(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        load::Builder::load(env)
    }

    /// [`Config::load`] from the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::load(&std::env::vars().collect())
    }

    /// Whether tasks are queued in Redis (run by `mtx-worker` processes).
    pub fn distributed(&self) -> bool {
        self.redis_url.is_some()
    }

    /// Every declared key with its effective value, in the order of [`keys::KEYS`], by the name
    /// an operator sets it with (the environment variable, else the file key); secrets are
    /// masked. What `mtx-api config` prints.
    pub fn effective(&self) -> serde_json::Map<String, serde_json::Value> {
        keys::KEYS
            .iter()
            .map(|key| (key.name().to_owned(), key.effective(self)))
            .collect()
    }
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

    fn write_file(name: &str, text: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("mtx-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join(name);
        std::fs::write(&file, text).expect("write");
        (dir, file)
    }

    #[test]
    fn every_declared_default_is_valid() {
        let builder = load::Builder::try_defaults();
        assert!(builder.is_ok(), "{:?}", builder.err());
        let c = Config::load(&env(&[])).expect("defaults load");
        for key in keys::KEYS {
            if let Some(default) = key.default.value() {
                let shown = key.effective(&c);
                // A setting of a mode not in use (the jwt keys) prints as null.
                if shown.is_null() {
                    continue;
                }
                let spelled = match &shown {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(spelled, default, "{}", key.name());
            }
        }
        assert_eq!(c.pg_timeouts.statement_timeout, Duration::from_secs(120));
        assert_eq!(c.log.format, LogFormat::Text);
        assert_eq!(c.body_limit, 1024 * 1024);
    }

    #[test]
    fn the_tenant_store_times_out_as_configured_by_default() {
        let store = crate::tenant::store::postgres::PgTimeouts::default();
        let config = PgTimeoutsConfig::default();
        assert_eq!(
            (store.lock_timeout, store.statement_timeout),
            (config.lock_timeout, config.statement_timeout)
        );
    }

    #[test]
    fn every_key_has_its_own_names() {
        let mut names = std::collections::BTreeSet::new();
        for key in keys::KEYS {
            for name in key.env.into_iter().chain(key.file_keys()) {
                assert!(names.insert(name), "{name} is declared twice");
            }
            assert!(!key.about.is_empty(), "{} has no description", key.name());
        }
    }

    #[test]
    fn secrets_never_print() {
        let (dir, file) = write_file(
            "mtx.json",
            r#"{"auth":{"kind":"basic","users":{"a":{"password":"hunter2"}}},
                "saasRegistry":{"saas_registry_url":"http://127.0.0.1:1","url":"http://127.0.0.1:2",
                "clientid":"c","clientsecret":"hunter2"}}"#,
        );
        let file = file.to_str().expect("utf8").to_owned();
        let printed = |pairs: &[(&str, &str)]| {
            let mut all = vec![("MTX_CONFIG", file.as_str())];
            all.extend_from_slice(pairs);
            let c = Config::load(&env(&all)).expect("loads");
            serde_json::to_string(&c.effective()).expect("serializes")
        };
        for pairs in [
            &[("MTX_DATABASE_URL", "postgres://u:hunter2@h/db")][..],
            &[(
                "MTX_DATABASES",
                "a=postgres://u:hunter2@h/a,b=postgres://u:hunter2@h/b",
            )],
            &[
                ("MTX_DATABASE_URL", "postgres://u:hunter2@h/db"),
                ("MTX_REDIS_URL", "redis://:hunter2@h:6379"),
            ],
        ] {
            let text = printed(pairs);
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        let secret_keys: Vec<&str> = keys::KEYS
            .iter()
            .filter(|k| k.secret)
            .map(|k| k.name())
            .collect();
        assert_eq!(
            secret_keys,
            [
                "MTX_DATABASE_URL",
                "MTX_DATABASES",
                "MTX_REDIS_URL",
                "auth.users",
                "MTX_SAAS_CREDENTIALS"
            ],
            "a new secret key needs a case above"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn file_and_environment_follow_the_same_rules_naming_their_key() {
        let (dir, file) = write_file("mtx.json", r#"{"jobs":{"workerSize":0}}"#);
        let err = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))]))
            .expect_err("refused");
        assert_eq!(
            (err.key.as_str(), err.message.as_str()),
            ("jobs.workerSize", "must be at least 1")
        );
        let err = Config::load(&env(&[("MTX_WORKER_SIZE", "0")])).expect_err("refused");
        assert_eq!(
            (err.key.as_str(), err.message.as_str()),
            ("MTX_WORKER_SIZE", "must be at least 1")
        );
        std::fs::write(&file, r#"{"pgTimeouts":{"lockTimeoutMS":1}}"#).expect("write");
        let err = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))]))
            .expect_err("refused");
        assert_eq!(err.key, "pgTimeouts.lockTimeoutMS");
        std::fs::write(&file, r#"{"callbacks":3}"#).expect("write");
        let err = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))]))
            .expect_err("refused");
        assert_eq!(err.key, "callbacks");
        std::fs::write(
            &file,
            r#"{"auth":"jwt","dataDir":"data","jobs":{"cleanupAge":5,"heartbeatAge":1}}"#,
        )
        .expect("write");
        let err = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))]))
            .expect_err("jwt without issuer");
        assert_eq!(err.key, "MTX_JWT_ISSUER");
        std::fs::write(&file, r#"{"dataDir":"data","jobs":{"cleanupAge":5}}"#).expect("write");
        let c = Config::load(&env(&[("MTX_CONFIG", file.to_str().expect("utf8"))])).expect("loads");
        assert_eq!(c.jobs.cleanup_age, Duration::from_millis(5));
        assert!(
            matches!(&c.storage, StorageConfig::Embedded { data_dir, .. } if *data_dir == dir.join("data")),
            "{:?}",
            c.storage
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_redis_prefix_follows_the_schedulers_rule() {
        let pg = ("MTX_DATABASE_URL", "postgres://u@h/db");
        let dummy = ("MTX_AUTH_ALLOW_DUMMY", "true");
        let longest = "p".repeat(crate::scheduler::redis::MAX_PREFIX_LEN);
        let c = Config::load(&env(&[pg, dummy, ("MTX_REDIS_PREFIX", &longest)])).expect("loads");
        assert_eq!(c.redis_prefix, longest);
        let too_long = format!("{longest}p");
        for bad in [too_long.as_str(), "a}b"] {
            let err =
                Config::load(&env(&[pg, dummy, ("MTX_REDIS_PREFIX", bad)])).expect_err("refused");
            assert_eq!(err.key, "MTX_REDIS_PREFIX");
            assert_eq!(Err(err.message), crate::scheduler::redis::check_prefix(bad));
        }
    }

    #[test]
    fn logging_is_configured_through_the_config() {
        let c = Config::load(&env(&[
            ("MTX_LOG_FORMAT", "json"),
            ("RUST_LOG", "warn,mtx=debug"),
        ]))
        .expect("loads");
        assert_eq!(
            c.log,
            LogConfig {
                filter: "warn,mtx=debug".into(),
                format: LogFormat::Json
            }
        );
        for (key, value) in [("MTX_LOG_FORMAT", "yaml"), ("RUST_LOG", "mtx=loud")] {
            let err = Config::load(&env(&[(key, value)])).expect_err("refused");
            assert_eq!(err.key, key, "{err}");
        }
    }
}
