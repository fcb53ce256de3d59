//! `mtx-api`: the HTTP face of the multitenancy sidecar, wire-compatible with `@sap/cds-mtxs`.
//!
//! # Layout
//! - [`server`] builds the router and serves it (from an already bound listener, so tests can
//!   use port 0), with graceful shutdown and, in the embedded mode, the in-process task runner.
//! - `routes/` holds one module per cds-mtxs service: `saas_provisioning`, `deployment`,
//!   `jobs` (with cancel, re-run and runtime limits), plus `health` and `metrics`
//!   (Prometheus). Handlers only extract, parse into domain types, call one
//!   `mtx_shared::jobs::service::JobService` function and map the result.
//! - [`cli`] holds the operator's commands (`mtx-api plan | drift | repair`), which call the
//!   same domain functions as the routes and print JSON.
//! - [`auth`] authenticates every request (dummy, basic or JWT per `MTX_AUTH`), checks the
//!   roles the route needs and hands a `Caller` to the handlers, which apply tenant isolation.
//! - `state` holds [`AppState`], what every handler can reach (the system, the authenticator).
//! - [`error`] is the one place errors become HTTP responses (the cds-mtxs error envelope).
//! - `extract` parses request pieces (JSON bodies with our error shape, `prefer`, OData-style
//!   function calls such as `pollJob(ID='…')`); `wire` renders jobs, tasks and tenants in the
//!   cds-mtxs shapes.

pub mod auth;
pub mod cli;
pub mod error;
mod extract;
mod routes;
pub mod server;
mod state;
mod wire;

pub use server::{router, serve};
pub use state::AppState;
