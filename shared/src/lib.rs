//! The domain of the multitenancy sidecar.
//!
//! # Layout
//! Data flows from the application's compiled model to each tenant's storage:
//!
//! - [`vocab`] is the vocabulary every other module speaks: tenant, database, job and task ids,
//!   operations and their typed arguments, states, job and task records. It depends on nothing
//!   else of ours.
//! - [`csn`] parses the CAP compiler's CSN JSON; [`schema`] derives the persistence model
//!   (tables, columns, keys, views) from it the way the CAP compiler does; [`model`] loads a
//!   model from disk (with its [`i18n`] texts) and names each version by its content hash; [`versions`] keeps the known
//!   versions; [`tenant_models`] answers which model each tenant runs (base, toggles, extensions),
//!   the target every job's tasks are planned towards; [`edmx`] writes a service's OData V4
//!   metadata document from the CSN, as the CAP compiler does.
//! - [`sql`] renders a persistence model or a list of evolution steps as DDL for one dialect
//!   (PostgreSQL or SQLite) through one identifier-quoting function; [`evolve`] computes the
//!   ordered steps that take a tenant from its deployed model to the target model; [`drift`]
//!   compares what a tenant's database actually holds with what its recorded version says, and
//!   plans repairs.
//! - [`tenant`] owns tenant storage ([`tenant::TenantStore`]: a PostgreSQL schema per tenant, or
//!   a SQLite file per tenant).
//! - [`control`] is the control plane ("t0"): tenants, jobs, tasks and model versions. It is the
//!   source of truth for every job.
//! - [`jobs`] holds the job service: it turns an operation over tenants into a job of per-tenant
//!   tasks, hands them to the [`scheduler`], and executes claimed tasks
//!   ([`jobs::runner`]) through [`deploy`]. [`plan`] answers what an upgrade would do (dry
//!   run), and [`deploy`] also carries the operator's drift actions (report, adopt, repair).
//! - [`scheduler`] decides which queued task runs where and when, within the global limits
//!   (`workerSize`, `clusterSize`, one task per tenant): in process, or on Redis.
//! - [`callbacks`] is the durable outbox of status callbacks to the SaaS registry: recorded with
//!   their job, delivered by every process once the job ends.
//! - [`access`] holds the roles and the tenant-isolation rules applied to an authenticated caller;
//!   [`provisioning`] the SaaS registry's rules (the application URL shown to a subscriber).
//! - [`config`] is the typed configuration, loaded once at start-up; [`metrics`] counts what the
//!   runner does and renders it, with the queue's state, for Prometheus; [`system`] wires the
//!   implementations the configuration names (embedded or production) into one [`system::System`];
//!   [`lifecycle`] is what both binaries share around it (logging, signals, exit codes).
//!
//! - `testing` (only in tests, or with the `testing` feature) holds the self-cleaning test
//!   fixtures: a scratch database, a Redis prefix, a temporary directory.
//!
//! Only `control`, `tenant` and `scheduler` talk to storage; `csn`, `schema`, `sql`, `evolve`
//! and `drift` are pure.

pub mod access;
pub mod callbacks;
pub mod config;
pub mod control;
pub mod csn;
pub mod deploy;
pub mod drift;
pub mod edmx;
pub mod evolve;
pub mod i18n;
pub mod jobs;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod provisioning;
pub mod scheduler;
pub mod schema;
pub mod sql;
pub mod system;
pub mod tenant;
pub mod tenant_models;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod versions;
pub mod vocab;
