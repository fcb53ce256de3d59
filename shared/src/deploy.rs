//! Executing one task: a tenant operation against tenant storage and the control plane.
//!
//! Every operation is idempotent, so a task may safely run again after a crash or a lost lease:
//! the tenant's own version marker (written in the same transaction as its DDL) says what is
//! already applied, and the control plane is updated only after the tenant's storage is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::control::{ControlError, ControlStore};
use crate::evolve;
use crate::jobs::{Op, Task};
use crate::model::{ModelHash, ModelVersion};
use crate::sql;
use crate::tenant::{SchemaChange, StorageLocation, TenantId, TenantStore, TenantStoreError};
use crate::versions::{ModelVersions, VersionError};

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
    #[error(transparent)]
    Store(#[from] TenantStoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Version(#[from] VersionError),
}

impl DeployError {
    /// Whether another attempt may succeed (the storage or control plane was unavailable, or a
    /// concurrent change raced), as opposed to an error that will repeat (bad model, refused
    /// change, unknown tenant).
    pub fn is_retryable(&self) -> bool {
        match self {
            DeployError::Store(e) => {
                matches!(
                    e,
                    TenantStoreError::Unavailable { .. }
                        | TenantStoreError::VersionConflict { .. }
                        | TenantStoreError::Io(_)
                ) || matches!(e, TenantStoreError::Sql(s) if is_transient(s))
            }
            DeployError::Control(ControlError::Unavailable(_)) => true,
            DeployError::Control(ControlError::Sql(s)) => is_transient(s),
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

/// Options of an upgrade, from the request's `options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpgradeOptions {
    /// Apply destructive changes (drop tables/columns, narrow types) instead of refusing them.
    pub allow_destructive: bool,
}

impl UpgradeOptions {
    /// Reads the cds-style options object (`{"autoUndeploy": true}`).
    pub fn from_args(options: &serde_json::Value) -> Self {
        Self {
            allow_destructive: options
                .get("autoUndeploy")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// Plans by (deployed version, target version): computed once, rendered per tenant.
type PlanKey = (ModelHash, ModelHash, bool);
type PlanCache = Mutex<HashMap<PlanKey, Arc<evolve::Plan>>>;

/// Runs tenant operations.
#[derive(Debug, Clone)]
pub struct Deployer {
    pub tenants: Arc<dyn TenantStore>,
    pub control: Arc<dyn ControlStore>,
    pub versions: Arc<ModelVersions>,
    plans: Arc<PlanCache>,
}

impl Deployer {
    pub fn new(
        tenants: Arc<dyn TenantStore>,
        control: Arc<dyn ControlStore>,
        versions: Arc<ModelVersions>,
    ) -> Self {
        Self {
            tenants,
            control,
            versions,
            plans: Arc::default(),
        }
    }

    /// Carries out one task.
    pub async fn execute(&self, task: &Task) -> Result<Deployed, DeployError> {
        match task.op {
            Op::Subscribe => self.subscribe(task).await,
            Op::Upgrade => self.upgrade(task).await,
            Op::Unsubscribe => self
                .unsubscribe(task)
                .await
                .map(|()| Deployed::Applied { statements: 0 }),
        }
    }

    async fn target(&self, task: &Task) -> Result<Arc<ModelVersion>, DeployError> {
        let hash = task.model.as_ref().ok_or(DeployError::NoModel(task.op))?;
        Ok(self.versions.get(hash).await?)
    }

    async fn subscribe(&self, task: &Task) -> Result<Deployed, DeployError> {
        let target = self.target(task).await?;
        let location = match self.control.get_tenant(&task.tenant).await? {
            Some(existing) => existing.location,
            None => self.tenants.locate(&task.tenant, &task.database)?,
        };
        let deployed = self
            .deploy(&task.tenant, &location, &target, UpgradeOptions::default())
            .await?;
        let metadata = task
            .args
            .get("data")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        self.control
            .upsert_tenant(&task.tenant, &metadata, &location)
            .await?;
        self.control
            .set_tenant_model(&task.tenant, &target.hash)
            .await?;
        Ok(deployed)
    }

    async fn upgrade(&self, task: &Task) -> Result<Deployed, DeployError> {
        let target = self.target(task).await?;
        let tenant = self
            .control
            .get_tenant(&task.tenant)
            .await?
            .ok_or_else(|| DeployError::NotSubscribed(task.tenant.clone()))?;
        // The control plane records each tenant's version: a tenant already at the target is
        // done without touching its database.
        if tenant.model.as_ref() == Some(&target.hash) {
            return Ok(Deployed::AlreadyCurrent);
        }
        let options =
            UpgradeOptions::from_args(task.args.get("options").unwrap_or(&serde_json::Value::Null));
        let deployed = self
            .deploy(&task.tenant, &tenant.location, &target, options)
            .await?;
        if tenant.model.as_ref() != Some(&target.hash) {
            self.control
                .set_tenant_model(&task.tenant, &target.hash)
                .await?;
        }
        Ok(deployed)
    }

    async fn unsubscribe(&self, task: &Task) -> Result<(), DeployError> {
        let location = match self.control.get_tenant(&task.tenant).await? {
            Some(existing) => existing.location,
            None => self.tenants.locate(&task.tenant, &task.database)?,
        };
        self.tenants.drop_storage(&task.tenant, &location).await?;
        self.control.delete_tenant(&task.tenant).await?;
        Ok(())
    }

    /// Brings the tenant's storage from whatever version its marker records to `target`, in one
    /// transaction; does nothing when it is already there.
    pub async fn deploy(
        &self,
        tenant: &TenantId,
        location: &StorageLocation,
        target: &ModelVersion,
        options: UpgradeOptions,
    ) -> Result<Deployed, DeployError> {
        let deployed_hash = self.tenants.deployed_version(tenant, location).await?;
        if deployed_hash.as_ref() == Some(&target.hash) {
            return Ok(Deployed::AlreadyCurrent);
        }
        let statements = self
            .statements(deployed_hash.as_ref(), target, location, options)
            .await?;
        let count = statements.len();
        self.tenants
            .apply(
                tenant,
                location,
                &SchemaChange {
                    statements,
                    from: deployed_hash,
                    to: target.hash.clone(),
                },
            )
            .await?;
        Ok(Deployed::Applied { statements: count })
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

    /// The plan from `deployed` to `target`, computed once per pair of versions.
    async fn plan(
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
