//! Tenants: their validated identifiers and their isolated storage.
//!
//! A [`TenantId`] is parsed once at the edge (HTTP handler, CLI) and is safe everywhere after
//! that: in file names, in schema names (through [`schema_name_for`]), in log lines and headers.

mod id;
pub mod store;

pub use id::{DatabaseId, TenantId, TenantIdError, schema_name_for};
pub use store::{SchemaChange, StorageLocation, TenantStore, TenantStoreError};
