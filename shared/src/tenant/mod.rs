//! Tenants' isolated storage: a PostgreSQL schema per tenant (named by [`schema_name_for`]), or a
//! SQLite file per tenant.
//!
//! Tenant ids themselves ([`crate::vocab::TenantId`]) are parsed once at the edge (HTTP handler,
//! CLI) and are safe everywhere after that: in file names, schema names, log lines and headers.

mod schema_name;
pub mod store;

pub use schema_name::schema_name_for;
pub use store::{SchemaChange, StorageLocation, TenantStore, TenantStoreError};
