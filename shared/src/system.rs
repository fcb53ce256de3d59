//! Assembling the system from the configuration: which control plane, tenant store and
//! scheduler implementations run. Both binaries build the same [`System`]; embedded and
//! production differ only here.

use std::sync::Arc;

use anyhow::Context as _;

use crate::callbacks::delivery::Deliverer;
use crate::config::{Config, StorageConfig};
use crate::control::ControlStore;
use crate::control::postgres::PostgresControlStore;
use crate::control::sqlite::SqliteControlStore;
use crate::deploy::Deployer;
use crate::jobs::runner::{Runner, RunnerConfig};
use crate::jobs::service::JobService;
use crate::metrics::Metrics;
use crate::scheduler::memory::MemoryScheduler;
use crate::scheduler::redis::RedisScheduler;
use crate::scheduler::{Limits, Scheduler};
use crate::tenant::TenantStore;
use crate::tenant::store::postgres::{PgTimeouts, PostgresTenantStore};
use crate::tenant::store::sqlite::SqliteTenantStore;
use crate::tenant_models::{BaseModelForAll, TenantModels};
use crate::versions::ModelVersions;

/// The assembled parts.
#[derive(Debug, Clone)]
pub struct System {
    config: Arc<Config>,
    control: Arc<dyn ControlStore>,
    tenants: Arc<dyn TenantStore>,
    scheduler: Arc<dyn Scheduler>,
    jobs: JobService,
    deployer: Deployer,
    versions: Arc<ModelVersions>,
    models: Arc<dyn TenantModels>,
    /// This process' counters (`/metrics`), incremented by its runner.
    metrics: Arc<Metrics>,
}

impl System {
    /// Connects the stores and the queue named by `config` and loads the model.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool_size = config
            .db_pool_size
            .unwrap_or_else(|| (config.jobs.worker_size * 2 + 4).max(config.worker_slots + 4));
        // The control plane serves every request (enqueues and polls) and two writes per task;
        // tenant DDL needs one connection per running task.
        let control_pool_size = config
            .db_pool_size
            .unwrap_or_else(|| (config.worker_slots + 16).min(48));
        let (control, tenants): (Arc<dyn ControlStore>, Arc<dyn TenantStore>) = match &config
            .storage
        {
            StorageConfig::Embedded {
                data_dir,
                file_stem,
            } => {
                let control = SqliteControlStore::open(data_dir).await.with_context(|| {
                    format!("opening the control plane in {}", data_dir.display())
                })?;
                let tenants = SqliteTenantStore::new(data_dir.clone(), file_stem.clone());
                (Arc::new(control), Arc::new(tenants))
            }
            StorageConfig::Postgres { databases } => {
                let first = databases
                    .first()
                    .context("no PostgreSQL database configured")?;
                let control = PostgresControlStore::connect(first.url.expose(), control_pool_size)
                    .await
                    .with_context(|| {
                        format!("connecting the control plane at {}", first.url.masked())
                    })?;
                let urls: Vec<_> = databases
                    .iter()
                    .map(|db| (db.id.clone(), db.url.expose().to_owned()))
                    .collect();
                let timeouts = PgTimeouts {
                    lock_timeout: config.pg_timeouts.lock_timeout,
                    statement_timeout: config.pg_timeouts.statement_timeout,
                };
                let tenants = PostgresTenantStore::connect(&urls, pool_size)
                    .await
                    .context("connecting the tenant databases")?
                    .with_timeouts(timeouts);
                (Arc::new(control), Arc::new(tenants))
            }
        };
        let limits = Limits {
            worker_size: config.jobs.worker_size,
            cluster_size: config.jobs.cluster_size,
        };
        let scheduler: Arc<dyn Scheduler> = match &config.redis_url {
            Some(url) => {
                let redis = RedisScheduler::connect(url.expose(), &config.redis_prefix)
                    .await
                    .with_context(|| format!("connecting the Redis queue at {}", url.masked()))?;
                redis
                    .initial_limits(limits)
                    .await
                    .context("storing the initial job limits in Redis")?;
                Arc::new(redis)
            }
            None => Arc::new(MemoryScheduler::new(limits)),
        };
        let versions = Arc::new(
            ModelVersions::load(config.model.clone(), control.clone())
                .context("loading the model")?,
        );
        versions
            .current()
            .await
            .context("storing the model version in the control plane")?;
        let models: Arc<dyn TenantModels> = Arc::new(BaseModelForAll::new(versions.clone()));
        let jobs = JobService::new(
            control.clone(),
            scheduler.clone(),
            tenants.clone(),
            models.clone(),
            config.jobs.clone(),
        );
        let deployer = Deployer::new(
            tenants.clone(),
            control.clone(),
            versions.clone(),
            models.clone(),
        );
        Ok(Self {
            config: Arc::new(config),
            control,
            tenants,
            scheduler,
            jobs,
            deployer,
            versions,
            models,
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The control plane, the source of truth for tenants, jobs and tasks.
    pub fn control(&self) -> &Arc<dyn ControlStore> {
        &self.control
    }

    /// The tenants' storage.
    pub fn tenants(&self) -> &Arc<dyn TenantStore> {
        &self.tenants
    }

    /// The queue (in process or Redis), with the runtime limits.
    pub fn scheduler(&self) -> &Arc<dyn Scheduler> {
        &self.scheduler
    }

    /// Creates jobs and reports on them.
    pub fn jobs(&self) -> &JobService {
        &self.jobs
    }

    /// Runs tenant operations and the operator's drift actions.
    pub fn deployer(&self) -> &Deployer {
        &self.deployer
    }

    /// The application's model versions (the current one with its texts and resources).
    pub fn versions(&self) -> &Arc<ModelVersions> {
        &self.versions
    }

    /// The model each tenant runs.
    pub fn tenant_models(&self) -> &Arc<dyn TenantModels> {
        &self.models
    }

    /// This process' counters (`/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The status-callback deliverer, when SaaS registry credentials are configured (without
    /// them no callback is ever recorded, as in cds-mtxs).
    pub fn deliverer(&self) -> anyhow::Result<Option<Arc<Deliverer>>> {
        let Some(registry) = &self.config.saas_registry else {
            return Ok(None);
        };
        let deliverer = Deliverer::new(
            self.control.clone(),
            registry.clone(),
            self.config.callbacks.clone(),
        )
        .context("building the HTTP client for status callbacks")?;
        Ok(Some(Arc::new(deliverer)))
    }

    /// A runner executing tasks with `slots` parallel slots.
    pub fn runner(&self, worker_id: String, slots: u32) -> Arc<Runner> {
        let jobs = &self.config.jobs;
        Arc::new(Runner::new(
            RunnerConfig {
                worker_id,
                slots,
                lease: jobs.lease,
                max_attempts: jobs.max_attempts,
                task_timeout: jobs.task_timeout,
                grace: jobs.grace,
                cleanup_age: jobs.cleanup_age,
                reconcile_every: jobs.reconcile_every,
            },
            self.jobs.clone(),
            self.deployer.clone(),
            self.metrics.clone(),
        ))
    }
}
