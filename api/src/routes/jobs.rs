//! `/-/cds/jobs`: polling jobs and tasks.

use axum::Extension;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use mtx_shared::access::{Caller, TenantScope};
use mtx_shared::jobs::{JobId, JobWithTasks, TaskId};

use crate::error::ApiError;
use crate::extract::Call;
use crate::server::AppState;
use crate::wire;

const BASE: &str = "/-/cds/jobs";
/// Jobs listed by default, and at most (`$top`).
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/Jobs/{{id}}"), get(read_job))
        .route(&format!("{BASE}/{{call}}"), any(call))
}

/// The job, if it exists and the caller may see it (tenant-bound callers see only jobs that
/// touch nothing but their own tenant; any other job is reported as not found).
async fn visible_job(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> Result<JobWithTasks, ApiError> {
    let not_found = || ApiError::NotFound(format!("No job found for ID {raw}"));
    let id = JobId::parse(raw).map_err(|_| not_found())?;
    let job = state.jobs().job(&id).await?.ok_or_else(not_found)?;
    if !caller.may_see_all(job.tasks.iter().map(|t| &t.tenant)) {
        return Err(not_found());
    }
    Ok(job)
}

async fn call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    method: Method,
) -> Result<Response, ApiError> {
    let call = Call::parse(&segment)?;
    let name = call.name.as_str();
    if !matches!(name, "pollJob" | "pollTask" | "Jobs") {
        return Err(ApiError::NotFound(format!(
            "No such resource: {BASE}/{segment}"
        )));
    }
    if method != Method::GET {
        return Err(ApiError::MethodNotAllowed(format!(
            "{name} must be called by GET"
        )));
    }
    match name {
        "pollJob" => {
            let raw = call
                .arg("ID", &query)
                .ok_or_else(|| ApiError::mandatory("ID"))?;
            let job = visible_job(&state, &caller, &raw).await?;
            let callbacks = state.jobs().callbacks(&[job.job.id]).await?;
            Ok(axum::Json(wire::polled_job(&job, callbacks.get(&job.job.id))).into_response())
        }
        "pollTask" => {
            let raw = call
                .arg("ID", &query)
                .ok_or_else(|| ApiError::mandatory("ID"))?;
            let not_found = || ApiError::NotFound(format!("No task found for ID {raw}"));
            let id = TaskId::parse(&raw).map_err(|_| not_found())?;
            let task = state
                .jobs()
                .task(&id)
                .await?
                .filter(|t| caller.may_access(&t.tenant))
                .ok_or_else(not_found)?;
            Ok(axum::Json(wire::polled_task(&task)).into_response())
        }
        _ => {
            let top = match call.arg("$top", &query) {
                None => DEFAULT_TOP,
                Some(raw) => raw
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_TOP).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("$top must be a number from 1 to {MAX_TOP}"))
                    })?,
            };
            let jobs = if caller.scope() == TenantScope::All {
                state.jobs().jobs(top).await?
            } else {
                // Filtered here: a tenant-bound caller gets its own jobs among the newest
                // MAX_TOP, never another tenant's.
                let mut own = state.jobs().jobs(MAX_TOP).await?;
                own.retain(|j| caller.may_see_all(j.tasks.iter().map(|t| &t.tenant)));
                own.truncate(top);
                own
            };
            let ids: Vec<JobId> = jobs.iter().map(|j| j.job.id).collect();
            let callbacks = state.jobs().callbacks(&ids).await?;
            Ok(axum::Json(
                jobs.iter()
                    .map(|j| wire::listed_job(j, callbacks.get(&j.job.id)))
                    .collect::<Vec<_>>(),
            )
            .into_response())
        }
    }
}

async fn read_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let raw = raw
        .trim_start_matches("(ID=")
        .trim_end_matches(')')
        .trim_matches('\'')
        .to_owned();
    let job = visible_job(&state, &caller, &raw).await?;
    let callbacks = state.jobs().callbacks(&[job.job.id]).await?;
    Ok(axum::Json(wire::listed_job(&job, callbacks.get(&job.job.id))).into_response())
}
