//! One module per cds-mtxs service.

pub mod deployment;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod saas_provisioning;

use mtx_shared::vocab::TenantId;

use crate::error::ApiError;

/// Parses a tenant id from a request, naming the field in the error.
pub fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::BadRequest(format!("Invalid tenant id: {e}")))
}
