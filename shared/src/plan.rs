//! Upgrade plans (dry run): what `upgrade` would do to the selected tenants, without doing it.
//!
//! Tenants are grouped by the model version the control plane records for them and the target
//! model each one would be upgraded to ([`crate::tenant_models`]); each group gets one plan from
//! that version to that target — the same cached plan the upgrade's tasks would use. Its SQL is rendered for the group's first tenant (its own schema; SQLite
//! files are unqualified), so it is exactly what that tenant's task would execute, and differs
//! for the other tenants of the group only in the schema name. No job is created and no
//! tenant's storage is read or changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::deploy::{DeployError, Deployer};
use crate::jobs::service::{JobError, JobService, TenantSelection};
use crate::model::ModelVersion;
use crate::sql;
use crate::vocab::{ModelHash, TenantId, UpgradeOptions};

/// The plan for the tenants that share one deployed version and one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionPlan {
    /// The version they are at (`None`: none recorded; the plan creates everything).
    pub from: Option<ModelHash>,
    /// The model version they would be upgraded to.
    pub to: ModelHash,
    /// The tenants at `from`, ordered by id.
    pub tenants: Vec<TenantId>,
    /// The tenant whose schema the statements are qualified with.
    pub rendered_for: TenantId,
    /// The statements each tenant's task would run in one transaction, in order; empty when
    /// the tenants are already at the target or the plan is refused.
    pub statements: Vec<String>,
    /// Destructive changes (`entity.element: what`), refused unless `autoUndeploy`.
    pub destructive: Vec<String>,
    /// The upgrade of these tenants would fail because of `destructive`.
    pub refused: bool,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
}

/// The plans an upgrade of `selection` would follow, one per distinct pair of deployed version
/// and target, ordered by deployed version (`None` first), then target.
pub async fn plan_upgrade(
    jobs: &JobService,
    deployer: &Deployer,
    selection: TenantSelection,
    options: UpgradeOptions,
) -> Result<Vec<VersionPlan>, PlanError> {
    let records = jobs.select(selection).await?;
    let ids: Vec<TenantId> = records.iter().map(|r| r.id.clone()).collect();
    let targets = jobs.models.targets(&ids).await.map_err(JobError::from)?;
    let dialect = deployer.tenants.dialect();
    type GroupKey = (Option<ModelHash>, ModelHash);
    let mut groups: BTreeMap<GroupKey, (Arc<ModelVersion>, Vec<_>)> = BTreeMap::new();
    for (record, target) in records.into_iter().zip(targets) {
        groups
            .entry((record.model.clone(), target.hash.clone()))
            .or_insert_with(|| (target, Vec::new()))
            .1
            .push(record);
    }
    let mut plans = Vec::with_capacity(groups.len());
    for ((from, _), (target, records)) in groups {
        let Some(first) = records.first() else {
            continue;
        };
        let schema = first.location.sql_schema();
        let (statements, destructive, refused) = match &from {
            Some(from) if *from == target.hash => (Vec::new(), Vec::new(), false),
            None => (
                sql::create_statements(&target.persistence, dialect, schema),
                Vec::new(),
                false,
            ),
            Some(from) => {
                let plan = deployer.plan(from, &target, options).await?;
                let destructive = plan.destructive.iter().map(ToString::to_string).collect();
                (
                    sql::plan_statements(&plan, dialect, schema),
                    destructive,
                    plan.is_refused(),
                )
            }
        };
        plans.push(VersionPlan {
            from,
            to: target.hash.clone(),
            rendered_for: first.id.clone(),
            tenants: records.into_iter().map(|r| r.id).collect(),
            statements,
            destructive,
            refused,
        });
    }
    Ok(plans)
}
