//! The configuration keys, each declared once: its environment variable, its key in our config
//! file (`mtx.json`) and where a CAP project's configuration carries it, its default, whether it
//! is secret, what it means, how a raw value is validated and applied, and how its effective
//! value prints. Loading ([`super::load`]), the `config` command ([`super::Config::effective`])
//! and the README's configuration table ([`super::readme`]) all read this table.

use std::time::Duration;

use serde_json::{Value, json};

use super::input::{Input, Raw};
use super::load::Builder;
use super::security::{self, auth_mode};
use super::{Config, ConfigError, DatabaseConfig, LogFormat, Secret, StorageConfig};
use crate::vocab::DatabaseId;

/// Applies one raw value to the settings gathered so far, or refuses it naming the key.
pub(super) type Setter = fn(&mut Builder, &Input<'_>) -> Result<(), ConfigError>;

/// Where a CAP project's configuration (`package.json`'s `cds` section, `.cdsrc.json`) carries
/// a key, as cds-mtxs reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdsKey {
    /// A setting of `requires.multitenancy.jobs` or of
    /// `requires["cds.xt.SaasProvisioningService"].jobs` (the latter wins).
    Jobs(&'static str),
    /// A setting of `requires["cds.xt.SaasProvisioningService"]`.
    SaasProvisioning(&'static str),
    /// `requires.multitenancy.credentials`, when it holds the SaaS registry's
    /// (`saas_registry_url`).
    RegistryCredentials,
}

/// What a key is when nothing sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Unset: the feature it configures is off, or something else decides.
    Unset,
    /// Derived from other settings or the situation, as described.
    Described(&'static str),
    /// This value, spelled as in the environment and validated like one.
    Value(&'static str),
}

impl Fallback {
    /// The default value, when it is one.
    pub fn value(self) -> Option<&'static str> {
        match self {
            Self::Value(v) => Some(v),
            Self::Unset | Self::Described(_) => None,
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The environment variable; `None` for a setting only a config file can carry.
    pub env: Option<&'static str>,
    /// The key in our own config file, dotted into nested objects (`jobs.workerSize`).
    pub file: Option<&'static str>,
    /// Further keys of our file meaning the same (`"auth": "jwt"` for `auth.kind`).
    pub aliases: &'static [&'static str],
    /// Where a CAP project's configuration carries it.
    pub cds: Option<CdsKey>,
    /// What the key is when nothing sets it.
    pub default: Fallback,
    /// Printed masked by the `config` command.
    pub secret: bool,
    /// One line: what the key means (the README's "meaning").
    pub about: &'static str,
    pub(super) set: Setter,
    /// The effective value, as the `config` command prints it; a secret key's value goes
    /// through [`Secret`], so it is masked.
    pub(super) show: fn(&Config) -> Value,
}

impl Key {
    const fn env(name: &'static str, about: &'static str) -> Self {
        Self {
            env: Some(name),
            file: None,
            aliases: &[],
            cds: None,
            default: Fallback::Unset,
            secret: false,
            about,
            set: |_, _| Ok(()),
            show: |_| Value::Null,
        }
    }

    const fn file_only(file: &'static str, about: &'static str) -> Self {
        Self {
            env: None,
            file: Some(file),
            ..Self::env("", about)
        }
    }

    const fn file(mut self, file: &'static str) -> Self {
        self.file = Some(file);
        self
    }

    const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    const fn cds(mut self, cds: CdsKey) -> Self {
        self.cds = Some(cds);
        self
    }

    const fn default(mut self, value: &'static str) -> Self {
        self.default = Fallback::Value(value);
        self
    }

    const fn described(mut self, description: &'static str) -> Self {
        self.default = Fallback::Described(description);
        self
    }

    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    const fn set(mut self, set: Setter) -> Self {
        self.set = set;
        self
    }

    const fn show(mut self, show: fn(&Config) -> Value) -> Self {
        self.show = show;
        self
    }

    /// The name the key is known by: its environment variable, else its file key.
    pub fn name(&self) -> &'static str {
        self.env.or(self.file).unwrap_or("")
    }

    /// The key's names in our own file.
    pub fn file_keys(&self) -> impl Iterator<Item = &'static str> {
        self.file.into_iter().chain(self.aliases.iter().copied())
    }

    /// The key's effective value in `config`, secrets masked.
    pub fn effective(&self, config: &Config) -> Value {
        (self.show)(config)
    }
}

/// cds-mtxs `jobs` settings without a meaning here (our queue is durable and leases replace
/// heartbeats); accepted so a CAP project's configuration loads unchanged.
pub(super) const IGNORED_JOBS_KEYS: &[&str] =
    &["heartbeatInterval", "heartbeatAge", "cleanupInterval", "t0"];

fn ms(d: Duration) -> Value {
    json!(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn postgres_url(url: &str, key: &str) -> Result<Secret, ConfigError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(super::input::bad(
            key,
            "must be a postgres:// or postgresql:// URL",
        ));
    }
    Ok(Secret::new(url))
}

fn database(id: &str, url: &str, key: &str) -> Result<DatabaseConfig, ConfigError> {
    Ok(DatabaseConfig {
        id: DatabaseId::parse(id).map_err(|m| super::input::bad(key, m))?,
        url: postgres_url(url, key)?,
    })
}

fn unique_ids(dbs: &[DatabaseConfig], key: &str) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for db in dbs {
        if !seen.insert(db.id.clone()) {
            return Err(super::input::bad(
                key,
                format!("database id '{}' appears twice", db.id),
            ));
        }
    }
    Ok(())
}

fn databases(input: &Input<'_>) -> Result<Vec<DatabaseConfig>, ConfigError> {
    let name = input.name;
    let dbs: Vec<DatabaseConfig> = match input.raw {
        Raw::Env(text) => text
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|pair| {
                let (id, url) = pair
                    .trim()
                    .split_once('=')
                    .ok_or_else(|| input.bad(format!("'{pair}' is not of the form id=url")))?;
                database(id.trim(), url.trim(), name)
            })
            .collect::<Result<_, _>>()?,
        Raw::File(value) => {
            let Some(list) = value.as_array() else {
                return Err(input.bad("must be an array of {\"id\",\"url\"}"));
            };
            list.iter()
                .enumerate()
                .map(|(i, db)| {
                    let key = format!("{name}[{i}]");
                    let field = |f: &str| -> Result<String, ConfigError> {
                        db.get(f)
                            .map(|v| super::input::string(v, &format!("{key}.{f}")))
                            .transpose()?
                            .ok_or_else(|| super::input::bad(&key, format!("missing \"{f}\"")))
                    };
                    let (id, url) = (field("id")?, field("url")?);
                    database(&id, &url, &key)
                })
                .collect::<Result<_, _>>()?
        }
    };
    unique_ids(&dbs, name)?;
    Ok(dbs)
}

fn file_stem(input: &Input<'_>) -> Result<String, ConfigError> {
    let v = input.text()?;
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(input.bad("must be a non-empty file name stem of [A-Za-z0-9_-]"));
    }
    Ok(v)
}

fn redis_url(input: &Input<'_>) -> Result<Secret, ConfigError> {
    let v = input.text()?;
    if !(v.starts_with("redis://") || v.starts_with("rediss://") || v.starts_with("redis+unix://"))
    {
        return Err(input.bad("must be a redis://, rediss:// or redis+unix:// URL"));
    }
    Ok(Secret::new(v))
}

fn jwt(config: &Config, field: fn(&super::JwtConfig) -> Value) -> Value {
    config.auth.jwt.as_ref().map_or(Value::Null, field)
}

fn postgres(config: &Config) -> Option<&[DatabaseConfig]> {
    match &config.storage {
        StorageConfig::Postgres { databases } => Some(databases),
        StorageConfig::Embedded { .. } => None,
    }
}

/// Every key, in the order the README lists them. Later keys of one setting win within a
/// source (`MTX_DATABASES` over `MTX_DATABASE_URL`).
pub static KEYS: &[Key] = &[
    Key::env("PORT", "HTTP port of `mtx-api`")
        .file("port")
        .default("4005")
        .set(|b, i| {
            b.port = i.port()?;
            Ok(())
        })
        .show(|c| json!(c.port)),
    Key::env("MTX_HOST", "address `mtx-api` binds")
        .file("host")
        .default("0.0.0.0")
        .set(|b, i| {
            b.host = i.text()?;
            Ok(())
        })
        .show(|c| json!(c.host)),
    Key::env("MTX_PUBLIC_URL", "base of the `Location` header")
        .file("publicUrl")
        .described("from the request's `Host`")
        .set(|b, i| {
            b.public_url = Some(i.text()?.trim_end_matches('/').to_owned());
            Ok(())
        })
        .show(|c| json!(c.public_url)),
    Key::env(
        "MTX_DATABASE_URL",
        "PostgreSQL for tenants and the control plane (database id `main`)",
    )
    .file("databaseUrl")
    .described("— (embedded)")
    .secret()
    .set(|b, i| {
        b.databases = vec![database("main", &i.text()?, i.name)?];
        Ok(())
    })
    .show(|c| match postgres(c) {
        Some([db]) if db.id.as_str() == "main" => json!(db.url),
        _ => Value::Null,
    }),
    Key::env(
        "MTX_DATABASES",
        "several PostgreSQL databases: `id=url,id=url` (file: `[{\"id\",\"url\"}]`); the first \
         holds the control plane",
    )
    .file("databases")
    .secret()
    .set(|b, i| {
        b.databases = databases(i)?;
        Ok(())
    })
    .show(|c| json!(postgres(c))),
    Key::env(
        "MTX_DATA_DIR",
        "embedded mode: where tenant files and the control plane live (in a file: relative to it)",
    )
    .file("dataDir")
    .default(".mtx")
    .set(|b, i| {
        b.data_dir = i.path()?;
        Ok(())
    })
    .show(|c| match &c.storage {
        StorageConfig::Embedded { data_dir, .. } => json!(data_dir),
        StorageConfig::Postgres { .. } => Value::Null,
    }),
    Key::env(
        "MTX_FILE_STEM",
        "embedded mode: tenant files are `<stem>-<tenant>.sqlite`; `[A-Za-z0-9_-]`",
    )
    .file("fileStem")
    .default("db")
    .set(|b, i| {
        b.file_stem = file_stem(i)?;
        Ok(())
    })
    .show(|c| match &c.storage {
        StorageConfig::Embedded { file_stem, .. } => json!(file_stem),
        StorageConfig::Postgres { .. } => Value::Null,
    }),
    Key::env(
        "MTX_MODEL",
        "`csn.json`, or a `cds build` folder with `_main/srv/csn.json` or `srv/csn.json` (in a file: relative to it)",
    )
    .file("model")
    .described("the bookshop example in `models/bookshop/v1`")
    .set(|b, i| {
        b.model = Some(i.path()?);
        Ok(())
    })
    .show(|c| json!(c.model)),
    Key::env(
        "MTX_REDIS_URL",
        "Redis queue shared by `mtx-api` and `mtx-worker`s (needs PostgreSQL storage)",
    )
    .file("redisUrl")
    .described("— (in-process queue)")
    .secret()
    .set(|b, i| {
        b.redis_url = Some(redis_url(i)?);
        Ok(())
    })
    .show(|c| json!(c.redis_url)),
    Key::env(
        "MTX_REDIS_PREFIX",
        "hash tag of all queue keys: 1 to 64 of `[A-Za-z0-9_.-]`",
    )
    .file("redisPrefix")
    .default("mtx")
    .set(|b, i| {
        let prefix = i.text()?;
        crate::scheduler::redis::check_prefix(&prefix).map_err(|m| i.bad(m))?;
        b.redis_prefix = prefix;
        Ok(())
    })
    .show(|c| json!(c.redis_prefix)),
    Key::env(
        "MTX_WORKER_SIZE",
        "parallel tasks per database (`workerSize`)",
    )
    .file("jobs.workerSize")
    .cds(CdsKey::Jobs("workerSize"))
    .default("4")
    .set(|b, i| {
        b.jobs.worker_size = i.positive_u32()?;
        Ok(())
    })
    .show(|c| json!(c.jobs.worker_size)),
    Key::env(
        "MTX_CLUSTER_SIZE",
        "databases worked on at once (`clusterSize`)",
    )
    .file("jobs.clusterSize")
    .cds(CdsKey::Jobs("clusterSize"))
    .default("3")
    .set(|b, i| {
        b.jobs.cluster_size = i.positive_u32()?;
        Ok(())
    })
    .show(|c| json!(c.jobs.cluster_size)),
    Key::env(
        "MTX_QUEUE_SIZE",
        "unfinished jobs accepted; beyond, `429` with `Retry-After` and nothing recorded",
    )
    .file("jobs.queueSize")
    .cds(CdsKey::Jobs("queueSize"))
    .default("100")
    .set(|b, i| {
        b.jobs.queue_size = i.positive_usize()?;
        Ok(())
    })
    .show(|c| json!(c.jobs.queue_size)),
    Key::env("MTX_WORKER_SLOTS", "tasks one `mtx-worker` runs at once")
        .file("workerSlots")
        .described("workerSize × clusterSize")
        .set(|b, i| {
            b.worker_slots = Some(i.positive_u32()?);
            Ok(())
        })
        .show(|c| json!(c.worker_slots)),
    Key::env(
        "MTX_LEASE_MS",
        "a claimed task's lease; a dead worker's task is re-run after it expires",
    )
    .file("jobs.leaseMs")
    .cds(CdsKey::Jobs("leaseMs"))
    .default("30000")
    .set(|b, i| {
        b.jobs.lease = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.jobs.lease)),
    Key::env(
        "MTX_MAX_ATTEMPTS",
        "attempts per task (transient failures are retried with exponential backoff)",
    )
    .file("jobs.maxAttempts")
    .cds(CdsKey::Jobs("maxAttempts"))
    .default("3")
    .set(|b, i| {
        b.jobs.max_attempts = i.positive_u32()?;
        Ok(())
    })
    .show(|c| json!(c.jobs.max_attempts)),
    Key::env("MTX_TASK_TIMEOUT_MS", "upper bound of one task attempt")
        .file("jobs.taskTimeoutMs")
        .cds(CdsKey::Jobs("taskTimeoutMs"))
        .default("1800000")
        .set(|b, i| {
            b.jobs.task_timeout = i.positive_millis()?;
            Ok(())
        })
        .show(|c| ms(c.jobs.task_timeout)),
    Key::env(
        "MTX_SYNC_TIMEOUT_MS",
        "a synchronous request waits this long, then answers `202`",
    )
    .file("jobs.syncTimeoutMs")
    .cds(CdsKey::Jobs("syncTimeoutMs"))
    .default("600000")
    .set(|b, i| {
        b.jobs.sync_timeout = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.jobs.sync_timeout)),
    Key::env(
        "MTX_CLEANUP_AGE_MS",
        "ended jobs older than this are deleted",
    )
    .file("jobs.cleanupAgeMs")
    .cds(CdsKey::Jobs("cleanupAge"))
    .default("604800000")
    .set(|b, i| {
        b.jobs.cleanup_age = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.jobs.cleanup_age)),
    Key::env(
        "MTX_RECONCILE_MS",
        "how often each runner re-enqueues what the control plane says is unfinished",
    )
    .file("jobs.reconcileMs")
    .cds(CdsKey::Jobs("reconcileMs"))
    .default("30000")
    .set(|b, i| {
        b.jobs.reconcile_every = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.jobs.reconcile_every)),
    Key::env(
        "MTX_GRACE_MS",
        "after SIGTERM, in-flight tasks may finish this long before they are handed back",
    )
    .file("jobs.graceMs")
    .cds(CdsKey::Jobs("graceMs"))
    .default("30000")
    .set(|b, i| {
        b.jobs.grace = i.millis()?;
        Ok(())
    })
    .show(|c| ms(c.jobs.grace)),
    Key::env(
        "MTX_METRICS_PORT",
        "`mtx-worker` serves `/metrics` on this port (`0`: any, logged); `mtx-api` serves it on \
         its own port",
    )
    .file("metricsPort")
    .set(|b, i| {
        b.metrics_port = Some(i.port()?);
        Ok(())
    })
    .show(|c| json!(c.metrics_port)),
    Key::env(
        "MTX_DB_POOL_SIZE",
        "connections per PostgreSQL pool (control plane, each tenant database)",
    )
    .file("dbPoolSize")
    .described("enough for this process' parallel tasks")
    .set(|b, i| {
        b.db_pool_size = Some(i.positive_u32()?);
        Ok(())
    })
    .show(|c| json!(c.db_pool_size)),
    Key::env(
        "MTX_PG_LOCK_TIMEOUT_MS",
        "`lock_timeout` of each tenant schema change on PostgreSQL",
    )
    .file("pgTimeouts.lockTimeoutMs")
    .default("5000")
    .set(|b, i| {
        b.pg_timeouts.lock_timeout = i.millis()?;
        Ok(())
    })
    .show(|c| ms(c.pg_timeouts.lock_timeout)),
    Key::env(
        "MTX_PG_STATEMENT_TIMEOUT_MS",
        "`statement_timeout` of each tenant schema change on PostgreSQL (also bounds the wait \
         for the tenant's lock)",
    )
    .file("pgTimeouts.statementTimeoutMs")
    .default("120000")
    .set(|b, i| {
        b.pg_timeouts.statement_timeout = i.millis()?;
        Ok(())
    })
    .show(|c| ms(c.pg_timeouts.statement_timeout)),
    Key::env(
        "MTX_BODY_LIMIT",
        "largest request body (bytes); larger → `413`",
    )
    .file("bodyLimit")
    .default("1048576")
    .set(|b, i| {
        b.body_limit = i.positive_usize()?;
        Ok(())
    })
    .show(|c| json!(c.body_limit)),
    Key::env(
        "MTX_AUTH",
        "`dummy` (development), `basic` (users from the config file), `jwt` (production), \
         `mocked` (CAP's mock users `alice`…`yves` plus the config file's)",
    )
    .file("auth.kind")
    .aliases(&["auth"])
    .default("dummy")
    .set(|b, i| {
        match i.raw {
            // `"auth": {…}`: the object's own keys say what they set.
            Raw::File(Value::Object(_)) => return Ok(()),
            Raw::File(v) if !v.is_string() && i.name == "auth" => {
                return Err(i.bad("must be a mode name or an object with \"kind\""));
            }
            _ => {}
        }
        b.auth.mode = Some(auth_mode(&i.text()?, i.name)?);
        Ok(())
    })
    .show(|c| json!(c.auth.mode)),
    Key::env(
        "MTX_AUTH_ALLOW_DUMMY",
        "with PostgreSQL storage, `dummy` and `mocked` are refused unless this is `true`",
    )
    .file("auth.allowDummyInProduction")
    .default("false")
    .set(|b, i| {
        b.auth.allow_dummy_in_production = i.boolean()?;
        Ok(())
    })
    .show(|c| json!(c.auth.allow_dummy_in_production)),
    Key::file_only(
        "auth.users",
        "basic and mocked: `{\"<name>\":{\"password\",\"roles\",\"tenant\"}}`; `tenant` only \
         for a subscriber's user; mocked: merged over CAP's mock users, a password optional",
    )
    .secret()
    .set(|b, i| {
        let users = i.json()?;
        b.auth.users = security::users(&users)?;
        b.auth.users_file = Some(users);
        Ok(())
    })
    .show(|c| json!(c.auth.users)),
    Key::env(
        "MTX_JWT_JWKS_URL",
        "jwt: the identity service's key set (cached, refreshed on an unknown key id)",
    )
    .file("auth.jwksUrl")
    .set(|b, i| {
        b.auth.jwks_url = Some(security::http_url(&i.text()?, i.name)?);
        Ok(())
    })
    .show(|c| jwt(c, |j| json!(j.jwks_url))),
    Key::env("MTX_JWT_JWKS", "jwt: the key set as inline JSON")
        .file("auth.jwks")
        .set(|b, i| {
            b.auth.jwks = Some(security::jwks(&i.json()?, i.name)?);
            Ok(())
        })
        .show(|c| jwt(c, |j| json!(j.jwks))),
    Key::file_only("auth.keys", "jwt: PEM public keys (RSA or EC P-256)")
        .set(|b, i| {
            b.auth.keys = i.list()?;
            Ok(())
        })
        .show(|c| jwt(c, |j| json!(j.keys))),
    Key::env("MTX_JWT_ISSUER", "jwt: the required `iss`")
        .file("auth.issuer")
        .set(|b, i| {
            b.auth.issuer = Some(i.text()?);
            Ok(())
        })
        .show(|c| jwt(c, |j| json!(j.issuer))),
    Key::env(
        "MTX_JWT_AUDIENCE",
        "jwt: accepted `aud` values, comma-separated (file: a string or a list)",
    )
    .file("auth.audience")
    .set(|b, i| {
        b.auth.audience = match i.raw {
            Raw::File(Value::String(s)) => vec![s.clone()],
            _ => i.list()?,
        };
        Ok(())
    })
    .show(|c| jwt(c, |j| json!(j.audience))),
    Key::env("MTX_JWT_LEEWAY_SECS", "jwt: clock-skew tolerance (seconds)")
        .file("auth.leewaySecs")
        .default("30")
        .set(|b, i| {
            b.auth.leeway = Duration::from_secs(i.uint()?);
            Ok(())
        })
        .show(|c| jwt(c, |j| json!(j.leeway.as_secs()))),
    Key::env(
        "MTX_JWT_TENANT_CLAIM",
        "jwt: the claim naming the caller's tenant",
    )
    .file("auth.tenantClaim")
    .default("zid")
    .set(|b, i| {
        b.auth.tenant_claim = i.text()?;
        Ok(())
    })
    .show(|c| jwt(c, |j| json!(j.tenant_claim))),
    Key::env(
        "MTX_XSAPPNAME",
        "jwt: replaces `$XSAPPNAME` in scope names (`$XSAPPNAME.mtcallback` → role `mtcallback`)",
    )
    .file("auth.xsappname")
    .set(|b, i| {
        b.auth.xsappname = Some(i.text()?);
        Ok(())
    })
    .show(|c| jwt(c, |j| json!(j.xsappname))),
    Key::file_only(
        "auth.scopes",
        "jwt: the scope granting each role, `{\"<role>\":\"<scope>\"}`; default \
         `$XSAPPNAME.<role>`",
    )
    .set(|b, i| {
        let value = i.json()?;
        let Some(map) = value.as_object() else {
            return Err(i.bad("must map role names to scope names"));
        };
        for (role, scope) in map {
            let key = format!("{}.{role}", i.name);
            let role = role
                .parse()
                .map_err(|e: String| super::input::bad(&key, e))?;
            b.auth
                .scopes
                .insert(role, super::input::string(scope, &key)?);
        }
        Ok(())
    })
    .show(|c| jwt(c, |j| json!(j.scopes))),
    Key::env(
        "MTX_SAAS_CREDENTIALS",
        "the SaaS registry's credentials as JSON (`saas_registry_url`, `url`, `clientid`, \
         `clientsecret`): enables status callbacks",
    )
    .file("saasRegistry")
    .cds(CdsKey::RegistryCredentials)
    .secret()
    .set(|b, i| {
        b.saas_registry = Some(security::saas_registry(&i.json()?, i.name)?);
        Ok(())
    })
    .show(|c| json!(c.saas_registry)),
    Key::env(
        "SUBSCRIPTION_URL",
        "application URL template, `${tenant_subdomain}` replaced, when no `application_url` \
         header is sent",
    )
    .file("subscriptionUrl")
    .set(|b, i| {
        b.subscription_url = Some(i.text()?);
        Ok(())
    })
    .show(|c| json!(c.subscription_url)),
    Key::env(
        "MTX_CALLBACK_DEADLINE_MS",
        "callback delivery: give up this long after the job ended",
    )
    .file("callbacks.deadlineMs")
    .default("86400000")
    .set(|b, i| {
        b.callbacks.deadline = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.callbacks.deadline)),
    Key::env(
        "MTX_CALLBACK_RETRY_MS",
        "callback delivery: the first retry's wait, doubled after each further one",
    )
    .file("callbacks.retryMs")
    .default("1000")
    .set(|b, i| {
        b.callbacks.first_retry = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.callbacks.first_retry)),
    Key::env(
        "MTX_CALLBACK_MAX_RETRY_MS",
        "callback delivery: the longest wait between attempts",
    )
    .file("callbacks.maxRetryMs")
    .default("300000")
    .set(|b, i| {
        b.callbacks.max_retry = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.callbacks.max_retry)),
    Key::env(
        "MTX_CALLBACK_RATE",
        "callbacks one process sends per second at most",
    )
    .file("callbacks.ratePerSecond")
    .default("20")
    .set(|b, i| {
        b.callbacks.rate_per_second = i.positive_u32()?;
        Ok(())
    })
    .show(|c| json!(c.callbacks.rate_per_second)),
    Key::env(
        "MTX_CALLBACK_TIMEOUT_MS",
        "upper bound of one callback (or token) request",
    )
    .file("callbacks.timeoutMs")
    .default("10000")
    .set(|b, i| {
        b.callbacks.request_timeout = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.callbacks.request_timeout)),
    Key::env(
        "MTX_CALLBACK_POLL_MS",
        "how often due callbacks are looked for",
    )
    .file("callbacks.pollMs")
    .default("1000")
    .set(|b, i| {
        b.callbacks.poll = i.positive_millis()?;
        Ok(())
    })
    .show(|c| ms(c.callbacks.poll)),
    Key::file_only(
        "dependencies",
        "`xsappname`s reported by `GET /-/cds/saas-provisioning/dependencies`",
    )
    .cds(CdsKey::SaasProvisioning("dependencies"))
    .set(|b, i| {
        b.dependencies = i.list()?;
        Ok(())
    })
    .show(|c| json!(c.dependencies)),
    Key::env(
        "MTX_CONFIG",
        "JSON config file: our own `mtx.json`, or a CAP project's `package.json` / `.cdsrc.json`",
    )
    // Read before the rest of the environment (see `Builder::load`): the file ranks below it.
    .show(|c| json!(c.config_file)),
    Key::env("RUST_LOG", "log filter (`tracing` directives)")
        .default("info")
        .set(|b, i| {
            let filter = i.text()?;
            tracing_subscriber::EnvFilter::builder()
                .parse(&filter)
                .map_err(|e| i.bad(format!("is not a log filter: {e}")))?;
            b.log.filter = filter;
            Ok(())
        })
        .show(|c| json!(c.log.filter)),
    Key::env(
        "MTX_LOG_FORMAT",
        "`text`, or `json` for one JSON object per line",
    )
    .default("text")
    .set(|b, i| {
        b.log.format = match i.text()?.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(i.bad(format!("must be text or json, got '{other}'"))),
        };
        Ok(())
    })
    .show(|c| json!(c.log.format)),
];
