//! Executing one task: a tenant operation against tenant storage and the control plane.
//!
//! Every operation is idempotent, so a task may safely run again after a crash or a lost lease:
//! the tenant's own version marker (written in the same transaction as its DDL) says what is
//! already applied, and the control plane is updated only after the tenant's storage is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::control::{ControlError, ControlStore, StartedTask, TenantRecord};
use crate::drift::{self, Drift, RepairError};
use crate::evolve;
use crate::model::ModelVersion;
use crate::sql;
use crate::tenant::{SchemaChange, StorageLocation, TenantStore, TenantStoreError};
use crate::tenant_models::TenantModels;
use crate::versions::{ModelVersions, VersionError};
use crate::vocab::{ModelHash, Op, Task, TaskArgs, TenantId, UpgradeOptions};

/// Why a tenant operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("Tenant {0} is not subscribed")]
    NotSubscribed(TenantId),
    #[error("task of operation '{0}' names no model version")]
    NoModel(Op),
    #[error(
        "the upgrade contains destructive changes and was not applied (allow them with the \
         upgrade option \"autoUndeploy\": true): {}",
        .0.join("; ")
    )]
    Destructive(Vec<String>),
    /// A lock or statement time limit ran out (the application's traffic held the tenant's
    /// tables); nothing was applied, and another attempt later may succeed.
    #[error(
        "the tenant's tables were busy and a time limit ran out (MTX_PG_LOCK_TIMEOUT_MS / \
         MTX_PG_STATEMENT_TIMEOUT_MS); nothing was applied, the task will be retried: {0}"
    )]
    Busy(TenantStoreError),
    /// The change failed, and the tenant's schema differs from what its recorded version says:
    /// the difference, not the database's message, is the cause to report.
    #[error(
        "the schema of tenant {tenant} differs from its recorded model version {} (changed \
         outside the sidecar), so the upgrade cannot apply; nothing was applied. Differences: \
         {}. Inspect them with GET /-/cds/deployment/drift(tenant='{tenant}') and resolve them \
         with POST /-/cds/deployment/repair {{\"tenant\":\"{tenant}\",\"mode\":\"repair\"|\"adopt\"}}. \
         The database said: {cause}",
        .version.short(),
        .drift.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Drift {
        tenant: TenantId,
        version: ModelHash,
        drift: Vec<Drift>,
        cause: String,
    },
    /// Drift can only be judged against a recorded version.
    #[error("tenant {0} has no deployed model version recorded in its storage")]
    NothingDeployed(TenantId),
    #[error(
        "the repair contains destructive changes and was not applied (allow them with \
         \"allowDestructive\": true, or mtx-api repair --allow-destructive): {}",
        .0.join("; ")
    )]
    RepairDestructive(Vec<String>),
    #[error(
        "the schema of tenant {tenant} differs from model version {}, so it was not adopted \
         (adopt it anyway with \"force\": true, or mtx-api repair --adopt --force): {}",
        .version.short(),
        .drift.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    AdoptRefused {
        tenant: TenantId,
        version: ModelHash,
        drift: Vec<Drift>,
    },
    #[error(transparent)]
    Repair(#[from] RepairError),
    #[error(transparent)]
    Store(#[from] TenantStoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Version(#[from] VersionError),
}

impl DeployError {
    /// Whether another attempt may succeed (the storage or control plane was unavailable, a
    /// time limit ran out while the tenant's tables were busy, or a concurrent change raced),
    /// as opposed to an error that will repeat (bad model, refused change, drift, unknown
    /// tenant).
    pub fn is_retryable(&self) -> bool {
        match self {
            DeployError::Busy(_) => true,
            DeployError::Store(e) => {
                e.is_timeout()
                    || matches!(
                        e,
                        TenantStoreError::Unavailable { .. }
                            | TenantStoreError::VersionConflict { .. }
                            | TenantStoreError::Io(_)
                    )
                    || matches!(e, TenantStoreError::Sql(s) if is_transient(s))
            }
            DeployError::Control(ControlError::Unavailable(_)) => true,
            DeployError::Version(VersionError::Control(ControlError::Unavailable(_))) => true,
            _ => false,
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// What a deployment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// The tenant was already at the target version; its storage was not touched.
    AlreadyCurrent,
    /// The listed number of statements were applied in one transaction.
    Applied { statements: usize },
}

/// What a task did to its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub deployed: Deployed,
    /// The version the tenant's storage is at now, to be recorded: when the control plane does
    /// not record it yet, and after every upgrade (recording it moves the tenant's
    /// `modifiedAt`). The runner records it together with the task's outcome
    /// ([`crate::control::FinishedTask::tenant_model`]), in the same write.
    pub tenant_model: Option<ModelHash>,
}

/// What the operator chooses to do about a tenant whose schema drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Accept the schema as it is: record `version` (default: the tenant's target model) as the
    /// tenant's deployed version, in its storage marker and the control plane, without running
    /// any DDL. Refused while the schema differs from that version, unless `force`: then the
    /// differences are accepted as they are and stay visible in the drift report (and later
    /// upgrades diff from `version` as if they were not there).
    Adopt {
        version: Option<ModelHash>,
        force: bool,
    },
    /// Bring the schema back to the tenant's recorded version: the differ's plan from the
    /// actual schema to that version, in one transaction, keeping every row. Refused when it
    /// would drop a table, column or view, narrow a type or change a key, unless
    /// `allow_destructive`.
    Repair { allow_destructive: bool },
}

/// A tenant's drift: what [`Deployer::drift`] reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub tenant: TenantId,
    /// The version recorded in the tenant's storage (its marker).
    pub version: ModelHash,
    pub drift: Vec<Drift>,
}

/// What a [`Resolution`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub tenant: TenantId,
    /// The version the tenant is recorded at afterwards.
    pub version: ModelHash,
    /// The statements applied (none for adopt).
    pub statements: Vec<String>,
    /// The differences that remain (for a forced adopt, the accepted ones).
    pub drift: Vec<Drift>,
}

/// Plans by (deployed version, target version): computed once, rendered per tenant.
type PlanKey = (ModelHash, ModelHash, bool);
type PlanCache = Mutex<HashMap<PlanKey, Arc<evolve::Plan>>>;

/// Runs tenant operations.
#[derive(Debug, Clone)]
pub struct Deployer {
    pub(crate) tenants: Arc<dyn TenantStore>,
    control: Arc<dyn ControlStore>,
    versions: Arc<ModelVersions>,
    /// The model each tenant should run (what adopting without a version records).
    models: Arc<dyn TenantModels>,
    plans: Arc<PlanCache>,
}

impl Deployer {
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        control: Arc<dyn ControlStore>,
        versions: Arc<ModelVersions>,
        models: Arc<dyn TenantModels>,
    ) -> Self {
        Self {
            tenants,
            control,
            versions,
            models,
            plans: Arc::default(),
        }
    }

    /// Carries out one task; `started.tenant` is the tenant's record as the task started.
    pub async fn execute(&self, started: &StartedTask) -> Result<Executed, DeployError> {
        let task = &started.task;
        let record = started.tenant.as_ref();
        match &task.args {
            TaskArgs::Subscribe { metadata } => self.subscribe(task, metadata, record).await,
            TaskArgs::Upgrade { .. } => self.upgrade(task, record).await,
            TaskArgs::Unsubscribe => self.unsubscribe(task, record).await.map(|()| Executed {
                deployed: Deployed::Applied { statements: 0 },
                tenant_model: None,
            }),
        }
    }

    async fn target(&self, task: &Task) -> Result<Arc<ModelVersion>, DeployError> {
        let hash = task.model.as_ref().ok_or(DeployError::NoModel(task.op()))?;
        Ok(self.versions.get(hash).await?)
    }

    async fn subscribe(
        &self,
        task: &Task,
        metadata: &serde_json::Value,
        record: Option<&TenantRecord>,
    ) -> Result<Executed, DeployError> {
        let target = self.target(task).await?;
        let location = self.location(task, record)?;
        // A subscription reads the tenant's own marker rather than trusting the control plane:
        // it is rare, and it must rebuild storage that was removed behind the sidecar's back.
        let deployed = self
            .tenants
            .deployed_version(&task.tenant, &location)
            .await?;
        let deployed = self
            .deploy(
                &task.tenant,
                &location,
                deployed,
                &target,
                UpgradeOptions::default(),
            )
            .await?;
        let tenant = self
            .control
            .upsert_tenant(&task.tenant, metadata, &location)
            .await?;
        Ok(Executed {
            deployed,
            tenant_model: (tenant.model.as_ref() != Some(&target.hash))
                .then(|| target.hash.clone()),
        })
    }

    async fn upgrade(
        &self,
        task: &Task,
        record: Option<&TenantRecord>,
    ) -> Result<Executed, DeployError> {
        let target = self.target(task).await?;
        let tenant = record.ok_or_else(|| DeployError::NotSubscribed(task.tenant.clone()))?;
        // The control plane records each tenant's version: a tenant already at the target is
        // done without touching its database, but the upgrade is still recorded (the version
        // written again moves the tenant's `modifiedAt`, as cds-mtxs's does).
        if tenant.model.as_ref() == Some(&target.hash) {
            return Ok(Executed {
                deployed: Deployed::AlreadyCurrent,
                tenant_model: Some(target.hash.clone()),
            });
        }
        let options = task.args.upgrade_options();
        let deployed = self
            .deploy(
                &task.tenant,
                &tenant.location,
                tenant.model.clone(),
                &target,
                options,
            )
            .await?;
        Ok(Executed {
            deployed,
            tenant_model: Some(target.hash.clone()),
        })
    }

    /// Where the task's tenant is stored: as recorded, or where a new tenant goes.
    fn location(
        &self,
        task: &Task,
        record: Option<&TenantRecord>,
    ) -> Result<StorageLocation, DeployError> {
        Ok(match record {
            Some(existing) => existing.location.clone(),
            None => self.tenants.locate(&task.tenant, &task.database)?,
        })
    }

    async fn unsubscribe(
        &self,
        task: &Task,
        record: Option<&TenantRecord>,
    ) -> Result<(), DeployError> {
        let location = self.location(task, record)?;
        self.tenants.drop_storage(&task.tenant, &location).await?;
        self.control.delete_tenant(&task.tenant).await?;
        Ok(())
    }

    /// Brings the tenant's storage from version `presumed` (what the caller believes its marker
    /// records) to `target`, in one transaction. The store checks the marker inside that
    /// transaction, so a wrong belief costs one refused attempt, after which the change is
    /// planned once more from the version the marker actually records; the tenant's database is
    /// otherwise touched exactly once. A failure caused by drift (the schema differs from the
    /// recorded version) is reported as [`DeployError::Drift`], one caused by a time limit as
    /// the retryable [`DeployError::Busy`].
    pub async fn deploy(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        presumed: Option<ModelHash>,
        target: &ModelVersion,
        options: UpgradeOptions,
    ) -> Result<Deployed, DeployError> {
        let mut from = presumed;
        let mut replanned = false;
        loop {
            if from.as_ref() == Some(&target.hash) {
                return Ok(Deployed::AlreadyCurrent);
            }
            match self.apply(tenant, location, from, target, options).await {
                Err(DeployError::Store(TenantStoreError::VersionConflict { actual, .. }))
                    if !replanned =>
                {
                    replanned = true;
                    from = actual;
                }
                result => return result,
            }
        }
    }

    /// Applies the change from `from` to `target` (refused if the tenant's marker does not
    /// record `from`).
    async fn apply(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        from: Option<ModelHash>,
        target: &ModelVersion,
        options: UpgradeOptions,
    ) -> Result<Deployed, DeployError> {
        let statements = self
            .statements(from.as_ref(), target, location, options)
            .await?;
        let count = statements.len();
        let change = SchemaChange {
            statements,
            from,
            to: target.hash.clone(),
        };
        match self.tenants.apply(tenant, location, &change).await {
            Ok(()) => {
                tracing::debug!(
                    tenant.id = %tenant,
                    model.from = change.from.as_ref().map(ModelHash::short),
                    model.to = change.to.short(),
                    statements = count,
                    "schema change applied"
                );
                Ok(Deployed::Applied { statements: count })
            }
            Err(e) if e.is_timeout() => Err(DeployError::Busy(e)),
            Err(e @ TenantStoreError::Statement { .. }) => {
                let Some(from) = &change.from else {
                    return Err(e.into());
                };
                // Only now is the schema read: drift costs nothing while upgrades succeed.
                match self.drift_of(tenant, location, from).await {
                    Ok(drift) if !drift.is_empty() => Err(DeployError::Drift {
                        tenant: tenant.clone(),
                        version: from.clone(),
                        drift,
                        cause: e.to_string(),
                    }),
                    Ok(_) => Err(e.into()),
                    Err(inspect) => {
                        tracing::warn!(tenant.id = %tenant, error = %inspect,
                            "could not check the failed tenant for drift");
                        Err(e.into())
                    }
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The differences between the tenant's schema and model version `version`.
    async fn drift_of(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        version: &ModelHash,
    ) -> Result<Vec<Drift>, DeployError> {
        let model = self.versions.get(version).await?;
        let actual = self.tenants.introspect(tenant, location).await?;
        Ok(drift::compare(
            &model.persistence,
            self.tenants.dialect(),
            &actual,
        ))
    }

    /// The location and recorded (marker) version of a subscribed tenant.
    async fn recorded(
        &self,
        tenant: &TenantId,
    ) -> Result<(StorageLocation, Option<ModelHash>), DeployError> {
        let record = self
            .control
            .get_tenant(tenant)
            .await?
            .ok_or_else(|| DeployError::NotSubscribed(tenant.clone()))?;
        let version = self
            .tenants
            .deployed_version(tenant, &record.location)
            .await?;
        Ok((record.location, version))
    }

    /// Compares the tenant's actual schema with the model version recorded in its storage.
    pub async fn drift(&self, tenant: &TenantId) -> Result<DriftReport, DeployError> {
        let (location, version) = self.recorded(tenant).await?;
        let version = version.ok_or_else(|| DeployError::NothingDeployed(tenant.clone()))?;
        let drift = self.drift_of(tenant, &location, &version).await?;
        Ok(DriftReport {
            tenant: tenant.clone(),
            version,
            drift,
        })
    }

    /// Carries out the operator's [`Resolution`] for a drifted tenant, in one transaction under
    /// the tenant's lock; refused (changing nothing) when the tenant's marker moved meanwhile.
    pub async fn resolve(
        &self,
        tenant: &TenantId,
        resolution: &Resolution,
    ) -> Result<Resolved, DeployError> {
        let (location, recorded) = self.recorded(tenant).await?;
        let dialect = self.tenants.dialect();
        let (version, statements) = match resolution {
            Resolution::Adopt { version, force } => {
                let version = match version {
                    Some(hash) => self.versions.get(hash).await?,
                    None => self.models.target(tenant).await?,
                };
                let drift = self.drift_of(tenant, &location, &version.hash).await?;
                if !drift.is_empty() && !force {
                    return Err(DeployError::AdoptRefused {
                        tenant: tenant.clone(),
                        version: version.hash.clone(),
                        drift,
                    });
                }
                (version.hash.clone(), Vec::new())
            }
            Resolution::Repair { allow_destructive } => {
                let version = recorded
                    .clone()
                    .ok_or_else(|| DeployError::NothingDeployed(tenant.clone()))?;
                let model = self.versions.get(&version).await?;
                let actual = self.tenants.introspect(tenant, &location).await?;
                let plan = drift::repair_plan(
                    &actual,
                    &model.persistence,
                    dialect,
                    evolve::DiffOptions {
                        allow_destructive: *allow_destructive,
                    },
                )?;
                if plan.is_refused() {
                    return Err(DeployError::RepairDestructive(
                        plan.destructive.iter().map(ToString::to_string).collect(),
                    ));
                }
                let statements = sql::plan_statements(&plan, dialect, location.sql_schema());
                (version, statements)
            }
        };
        let change = SchemaChange {
            statements: statements.clone(),
            from: recorded,
            to: version.clone(),
        };
        self.tenants
            .apply(tenant, &location, &change)
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    DeployError::Busy(e)
                } else {
                    e.into()
                }
            })?;
        self.control.set_tenant_model(tenant, &version).await?;
        let drift = self.drift_of(tenant, &location, &version).await?;
        Ok(Resolved {
            tenant: tenant.clone(),
            version,
            statements,
            drift,
        })
    }

    async fn statements(
        &self,
        deployed: Option<&ModelHash>,
        target: &ModelVersion,
        location: &StorageLocation,
        options: UpgradeOptions,
    ) -> Result<Vec<String>, DeployError> {
        let dialect = self.tenants.dialect();
        let schema = location.sql_schema();
        let Some(deployed) = deployed else {
            return Ok(sql::create_statements(&target.persistence, dialect, schema));
        };
        let plan = self.plan(deployed, target, options).await?;
        if plan.is_refused() {
            return Err(DeployError::Destructive(
                plan.destructive.iter().map(ToString::to_string).collect(),
            ));
        }
        Ok(sql::plan_statements(&plan, dialect, schema))
    }

    /// The plan from `deployed` to `target`, computed once per pair of versions (and option).
    pub async fn plan(
        &self,
        deployed: &ModelHash,
        target: &ModelVersion,
        options: UpgradeOptions,
    ) -> Result<Arc<evolve::Plan>, DeployError> {
        let key = (
            deployed.clone(),
            target.hash.clone(),
            options.allow_destructive,
        );
        if let Some(plan) = self.lock_plans().get(&key) {
            return Ok(plan.clone());
        }
        let from = self.versions.get(deployed).await?;
        let plan = Arc::new(evolve::diff_with(
            Some(&from.persistence),
            &target.persistence,
            evolve::DiffOptions {
                allow_destructive: options.allow_destructive,
            },
        ));
        self.lock_plans().insert(key, plan.clone());
        Ok(plan)
    }

    fn lock_plans(&self) -> std::sync::MutexGuard<'_, HashMap<PlanKey, Arc<evolve::Plan>>> {
        // Poisoning only means another thread panicked while inserting; the map is still whole.
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }
}
