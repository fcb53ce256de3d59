//! `mtx-api`: the HTTP face of the multitenancy sidecar, wire-compatible with `@sap/cds-mtxs`.
//!
//! # Layout
//! - [`server`] builds the router and serves it (from an already bound listener, so tests can
//!   use port 0), with graceful shutdown and, in the embedded mode, the in-process task runner.
//! - `routing` declares routes: each with the access it needs, and per cds-mtxs service a table
//!   of OData-style operations (`pollJob(ID='…')`) dispatched by name from one `{call}` route.
//! - `routes/` holds one module per cds-mtxs service: `saas_provisioning`, `deployment`,
//!   `jobs` (with cancel, re-run and runtime limits), plus `health` and `metrics`
//!   (Prometheus), and `replies` (how an enqueued job becomes an answer). Handlers only
//!   extract typed input, call one `mtx_shared::jobs::service::JobService` function and map
//!   the result; domain rules such as the application URL live in `mtx_shared`.
//! - [`cli`] holds the operator's commands (`mtx-api plan | drift | repair`), which call the
//!   same domain functions as the routes and print JSON.
//! - [`auth`] authenticates every request (dummy, basic or JWT per `MTX_AUTH`), checks the
//!   access the route declares and hands a `Caller` to the handlers, which apply tenant
//!   isolation.
//! - `state` holds [`AppState`], what every handler can reach (the system, the authenticator).
//! - [`error`] is the one place errors become HTTP responses (the cds-mtxs error envelope).
//! - `extract` parses request pieces: JSON bodies into `#[derive(Deserialize)]` structs with our
//!   error shape and messages, the arguments of OData-style calls, `prefer`; `wire` renders
//!   jobs, tasks and tenants in the cds-mtxs shapes.

pub mod auth;
pub mod cli;
pub mod error;
mod extract;
mod routes;
mod routing;
pub mod server;
mod state;
mod wire;

pub use server::{router, serve};
pub use state::AppState;
