//! The model each tenant runs: the seam every job asks for its tasks' target models.
//!
//! A tenant's effective model is the application's base model with the features toggled for the
//! tenant and the tenant's activated extensions composed in, named (like every model version) by
//! the hash of its content and stored in the control plane, so that any worker can fetch the
//! version a task names. Jobs never stamp one global version on their tasks: subscribe, upgrade
//! and the dry-run planner ask [`TenantModels`] for each tenant's target.
//!
//! Today no tenant has toggles or extensions, so [`BaseModelForAll`] answers the base model for
//! everyone; the model provider (feature toggles) and extensibility fill the seam in.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::ModelVersion;
use crate::versions::{ModelVersions, VersionError};
use crate::vocab::TenantId;

/// Answers "the model for tenant T".
#[async_trait]
pub trait TenantModels: Send + Sync + Debug {
    /// The target model of each of `tenants`, in the same order. Every returned version is
    /// already stored in the control plane.
    async fn targets(&self, tenants: &[TenantId]) -> Result<Vec<Arc<ModelVersion>>, VersionError>;

    /// The target model of one tenant.
    async fn target(&self, tenant: &TenantId) -> Result<Arc<ModelVersion>, VersionError> {
        let mut targets = self.targets(std::slice::from_ref(tenant)).await?;
        match targets.pop() {
            Some(target) => Ok(target),
            None => Err(VersionError::NoTarget(tenant.clone())),
        }
    }
}

/// Every tenant runs the application's current base model (re-read when its file changes).
#[derive(Debug, Clone)]
pub struct BaseModelForAll {
    versions: Arc<ModelVersions>,
}

impl BaseModelForAll {
    pub fn new(versions: Arc<ModelVersions>) -> Self {
        Self { versions }
    }
}

#[async_trait]
impl TenantModels for BaseModelForAll {
    async fn targets(&self, tenants: &[TenantId]) -> Result<Vec<Arc<ModelVersion>>, VersionError> {
        if tenants.is_empty() {
            return Ok(Vec::new());
        }
        // One look at the model file for the whole selection, however many tenants it has.
        let base = self.versions.current().await?;
        Ok(vec![base; tenants.len()])
    }
}
