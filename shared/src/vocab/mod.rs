//! The domain's vocabulary: identifiers, operations, states and the records every other module
//! speaks of. It depends on nothing else of ours, so the stores, the scheduler, the callbacks and
//! the orchestration can all sit on top of it without importing each other.
//!
//! # Layout
//! - `tenant`: [`TenantId`] (validated once at the edge) and [`DatabaseId`].
//! - `model_hash`: [`ModelHash`], the content address of a model version.
//! - `job`: [`JobId`], [`TaskId`], [`Op`], [`Lane`], [`Status`], the [`Job`] and [`Task`] records,
//!   how an attempt ended ([`TaskOutcome`]) and how a job's status follows from its tasks'
//!   ([`roll_up`]).
//! - `args`: [`TaskArgs`], what a job and its tasks were asked to do, and [`UpgradeOptions`].
//! - `callback`: the status callbacks a job owes the SaaS registry, as recorded.

mod args;
mod callback;
mod job;
mod model_hash;
mod tenant;

pub use args::{TaskArgs, UpgradeOptions};
pub use callback::{
    CallbackAttempt, CallbackRecord, CallbackState, DueCallback, NewCallback, NextStep,
};
pub use job::{
    DEPLOYMENT_SERVICE, Job, JobId, JobWithTasks, Lane, Op, Status, Task, TaskId, TaskOutcome,
    roll_up,
};
pub use model_hash::{InvalidModelHash, ModelHash};
pub use tenant::{DatabaseId, MAX_TENANT_ID_LEN, TenantId, TenantIdError};
