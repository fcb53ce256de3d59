//! Loading: the declared defaults, then the config file, then the environment, each value
//! applied through its key's declaration in [`super::keys`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::input::{Input, bad};
use super::keys::{CdsKey, IGNORED_JOBS_KEYS, KEYS, Key};
use super::security::AuthSettings;
use super::{
    CallbacksConfig, Config, ConfigError, DatabaseConfig, JobsConfig, LogConfig, LogFormat,
    ModelSource, PgTimeoutsConfig, SaasRegistryConfig, Secret, StorageConfig,
};

/// The CAP service whose section carries the provisioning settings.
const SAAS_SERVICE: &str = "cds.xt.SaasProvisioningService";

/// The settings gathered so far; [`Builder::finish`] turns them into a [`Config`].
#[derive(Debug)]
pub(super) struct Builder {
    pub config_file: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub file_stem: String,
    pub databases: Vec<DatabaseConfig>,
    pub redis_url: Option<Secret>,
    pub redis_prefix: String,
    pub model: Option<PathBuf>,
    pub jobs: JobsConfig,
    pub pg_timeouts: PgTimeoutsConfig,
    pub auth: AuthSettings,
    pub saas_registry: Option<SaasRegistryConfig>,
    pub callbacks: CallbacksConfig,
    pub subscription_url: Option<String>,
    pub body_limit: usize,
    pub dependencies: Vec<String>,
    pub worker_slots: Option<u32>,
    pub metrics_port: Option<u16>,
    pub db_pool_size: Option<u32>,
    pub log: LogConfig,
}

impl Builder {
    /// Nothing set, not even the defaults: every value here is overwritten by a declared
    /// default before anyone reads it.
    pub(super) fn blank() -> Self {
        Self {
            config_file: None,
            host: String::new(),
            port: 0,
            public_url: None,
            data_dir: PathBuf::new(),
            file_stem: String::new(),
            databases: Vec::new(),
            redis_url: None,
            redis_prefix: String::new(),
            model: None,
            jobs: JobsConfig::blank(),
            pg_timeouts: PgTimeoutsConfig {
                lock_timeout: std::time::Duration::ZERO,
                statement_timeout: std::time::Duration::ZERO,
            },
            auth: AuthSettings::blank(),
            saas_registry: None,
            callbacks: CallbacksConfig::blank(),
            subscription_url: None,
            body_limit: 0,
            dependencies: Vec::new(),
            worker_slots: None,
            metrics_port: None,
            db_pool_size: None,
            log: LogConfig {
                filter: String::new(),
                format: LogFormat::Text,
            },
        }
    }

    /// Every declared default applied.
    pub(super) fn try_defaults() -> Result<Self, ConfigError> {
        let mut builder = Self::blank();
        for key in KEYS {
            if let Some(default) = key.default.value() {
                builder.apply(key, &Input::env(default, key.name()))?;
            }
        }
        Ok(builder)
    }

    /// [`Builder::try_defaults`] for the `Default` impls of the configuration's parts.
    pub(super) fn with_defaults() -> Self {
        // The defaults are constants of the key table, not input; the test
        // `every_declared_default_is_valid` proves they load.
        Self::try_defaults().expect("the declared defaults are valid")
    }

    /// Defaults, overridden by the file named in `MTX_CONFIG` (if any), overridden by the
    /// environment.
    pub(super) fn load(env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut builder = Self::try_defaults()?;
        if let Some(path) = env.get("MTX_CONFIG").filter(|p| !p.is_empty()) {
            builder.apply_file(Path::new(path))?;
        }
        builder.apply_env(env)?;
        builder.finish()
    }

    fn apply(&mut self, key: &Key, input: &Input<'_>) -> Result<(), ConfigError> {
        (key.set)(self, input)
    }

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
            _ => {
                if !value.is_object() {
                    return Err(bad(key, "the config file must hold a JSON object"));
                }
                self.apply_own_subtree("", &value, base)?;
            }
        }
        Ok(())
    }

    /// The cds-mtxs keys of a CAP project configuration (its `cds` section).
    fn apply_cds(&mut self, cds: &Value, file: &str) -> Result<(), ConfigError> {
        let requires = cds.get("requires");
        let multitenancy = requires.and_then(|r| r.get("multitenancy"));
        let saas = requires.and_then(|r| r.get(SAAS_SERVICE));
        if let Some(jobs) = multitenancy.and_then(|m| m.get("jobs")) {
            self.apply_jobs(jobs, &format!("{file}: cds.requires.multitenancy.jobs"))?;
        }
        if let Some(jobs) = saas.and_then(|s| s.get("jobs")) {
            self.apply_jobs(
                jobs,
                &format!("{file}: cds.requires[\"{SAAS_SERVICE}\"].jobs"),
            )?;
        }
        for key in KEYS {
            let (value, name) = match key.cds {
                None | Some(CdsKey::Jobs(_)) => continue,
                Some(CdsKey::SaasProvisioning(k)) => (
                    saas.and_then(|s| s.get(k)),
                    format!("{file}: cds.requires[\"{SAAS_SERVICE}\"].{k}"),
                ),
                // `credentials` may hold another service's; only the registry's are ours.
                Some(CdsKey::RegistryCredentials) => (
                    multitenancy
                        .and_then(|m| m.get("credentials"))
                        .filter(|c| c.get("saas_registry_url").is_some()),
                    format!("{file}: cds.requires.multitenancy.credentials"),
                ),
            };
            if let Some(value) = value {
                self.apply(key, &Input::file(value, &name, Path::new(".")))?;
            }
        }
        Ok(())
    }

    /// The part of our own file at `prefix` (`""`: the whole file): its keys must all be
    /// declared; they are applied in the order of the declarations, so the outcome does not
    /// depend on the order the file lists them in.
    pub(super) fn apply_own_subtree(
        &mut self,
        prefix: &str,
        value: &Value,
        base: &Path,
    ) -> Result<(), ConfigError> {
        check_known(prefix, value)?;
        for key in KEYS {
            for path in key.file_keys() {
                if is_jobs_key(path) {
                    continue;
                }
                let Some(relative) = relative_to(path, prefix) else {
                    continue;
                };
                if let Some(found) = lookup(value, relative) {
                    self.apply(key, &Input::file(found, path, base))?;
                }
            }
        }
        if prefix.is_empty()
            && let Some(jobs) = value.get("jobs")
        {
            self.apply_jobs(jobs, "jobs")?;
        }
        Ok(())
    }

    /// A `jobs` section, ours or cds-mtxs': each setting by our name or the cds-mtxs one.
    fn apply_jobs(&mut self, jobs: &Value, prefix: &str) -> Result<(), ConfigError> {
        let Some(obj) = jobs.as_object() else {
            return Err(bad(prefix, "must be an object"));
        };
        for (k, v) in obj {
            let name = format!("{prefix}.{k}");
            let key = KEYS.iter().find(|key| {
                key.file.and_then(|f| f.strip_prefix("jobs.")) == Some(k.as_str())
                    || matches!(key.cds, Some(CdsKey::Jobs(name)) if name == k)
            });
            match key {
                Some(key) => self.apply(key, &Input::file(v, &name, Path::new(".")))?,
                None if IGNORED_JOBS_KEYS.contains(&k.as_str()) => {}
                None => return Err(bad(&name, "unknown jobs setting")),
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for key in KEYS {
            let Some(name) = key.env else { continue };
            // An empty variable counts as unset, as shells and compose files produce them.
            if let Some(v) = env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                self.apply(key, &Input::env(v, name))?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Config, ConfigError> {
        let storage = if self.databases.is_empty() {
            StorageConfig::Embedded {
                data_dir: self.data_dir,
                file_stem: self.file_stem,
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
            host: self.host,
            port: self.port,
            public_url: self.public_url,
            storage,
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix,
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
            body_limit: self.body_limit,
            dependencies: self.dependencies,
            metrics_port: self.metrics_port,
            db_pool_size: self.db_pool_size,
            log: self.log,
        })
    }
}

fn is_jobs_key(path: &str) -> bool {
    path.starts_with("jobs.")
}

/// `path` relative to `prefix`: `""` for the prefix itself, `None` outside it.
fn relative_to<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix.is_empty() {
        return Some(path);
    }
    if path == prefix {
        return Some("");
    }
    path.strip_prefix(prefix)?.strip_prefix('.')
}

/// The value at a dotted `path` below `value`, through objects only.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, segment| v.get(segment))
}

/// The names declared directly below `path` in our file (`""`: the top level).
fn children(path: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = KEYS
        .iter()
        .flat_map(Key::file_keys)
        .filter_map(|f| {
            let rest = if path.is_empty() {
                Some(f)
            } else {
                f.strip_prefix(path).and_then(|r| r.strip_prefix('.'))
            }?;
            rest.split('.').next().filter(|s| !s.is_empty())
        })
        .collect();
    // Keep the declaration order, without repeats.
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    names
}

/// Refuses keys of our file that nothing declares, and a non-object where only nested keys
/// are declared. `jobs` is checked where it is applied (it also takes the cds-mtxs names).
fn check_known(path: &str, value: &Value) -> Result<(), ConfigError> {
    if path == "jobs" {
        return Ok(());
    }
    let known = children(path);
    if known.is_empty() {
        return Ok(());
    }
    let declared_itself = KEYS.iter().flat_map(Key::file_keys).any(|f| f == path);
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if !known.contains(&k.as_str()) {
                    return Err(bad(
                        &child,
                        format!(
                            "unknown key in the config file (known: {})",
                            known.join(", ")
                        ),
                    ));
                }
                check_known(&child, v)?;
            }
            Ok(())
        }
        // A value of its own shape (`"auth": "jwt"`): its setter checks it.
        _ if declared_itself => Ok(()),
        _ => Err(bad(path, "must be an object")),
    }
}
