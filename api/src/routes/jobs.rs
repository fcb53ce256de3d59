//! `/-/cds/jobs`: polling jobs and tasks, and job hygiene: `cancelJob`, `retryJob` (re-run the
//! failed tasks) and the runtime `limits` (`workerSize`, `clusterSize`).

use axum::Extension;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use mtx_shared::access::{Caller, TenantScope};
use mtx_shared::scheduler::Limits;
use mtx_shared::vocab::{JobId, JobWithTasks, TaskId};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{Call, JsonBody};
use crate::state::AppState;
use crate::wire;

const BASE: &str = "/-/cds/jobs";
/// Jobs listed by default, and at most (`$top`).
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 1000;

pub fn routes() -> Router<AppState> {
    // Static segments win over `{call}` in the router, so these never reach `call`.
    Router::new()
        .route(&format!("{BASE}/cancelJob"), post(cancel_job))
        .route(&format!("{BASE}/retryJob"), post(retry_job))
        .route(
            &format!("{BASE}/limits"),
            get(read_limits).put(write_limits),
        )
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

/// The raw job id of a `{"ID": "…"}` body.
fn job_id_in(body: JsonBody) -> Result<String, ApiError> {
    let raw = match body.0 {
        Some(Value::Object(map)) => match map.get("ID") {
            Some(Value::String(raw)) => raw.clone(),
            None | Some(Value::Null) => return Err(ApiError::mandatory("ID")),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "Field 'ID' must be a string, got {other}"
                )));
            }
        },
        None => return Err(ApiError::mandatory("ID")),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "The request body must be a JSON object".into(),
            ));
        }
    };
    Ok(raw)
}

/// Only callers acting for every tenant may change what applies to all of them.
fn require_all_tenants(caller: &Caller) -> Result<(), ApiError> {
    if caller.scope() == TenantScope::All {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "User '{}' may not change the job limits: they apply to every tenant",
            caller.name
        )))
    }
}

/// `POST cancelJob {"ID"}`: 200 with the job as `pollJob` shows it after cancelling. A caller
/// may cancel the jobs it may see (tenant isolation as in `pollJob`).
async fn cancel_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let raw = job_id_in(body)?;
    let id = visible_job(&state, &caller, &raw).await?.job.id;
    let job = state
        .jobs()
        .cancel(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("No job found for ID {id}")))?;
    let callbacks = state.jobs().callbacks(&[id]).await?;
    Ok(axum::Json(wire::polled_job(&job, callbacks.get(&id))).into_response())
}

/// `POST retryJob {"ID"}`: 202 with the new job (and its `Location`), or 204 when the job has no
/// failed task.
async fn retry_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let raw = job_id_in(body)?;
    let id = visible_job(&state, &caller, &raw).await?.job.id;
    let Some(job) = state.jobs().retry_failed(&id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let mut map = HeaderMap::new();
    for (name, value) in state.job_headers(&headers, &job.job.id) {
        map.insert(name, value);
    }
    Ok((
        StatusCode::ACCEPTED,
        map,
        axum::Json(wire::enqueued_job(&job)),
    )
        .into_response())
}

fn limits_body(limits: Limits) -> Value {
    json!({ "workerSize": limits.worker_size, "clusterSize": limits.cluster_size })
}

async fn read_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    require_all_tenants(&caller)?;
    let limits = state.jobs().limits().await?;
    Ok(axum::Json(limits_body(limits)).into_response())
}

/// `PUT limits {"workerSize"?, "clusterSize"?}`: a missing field keeps its value; 200 with the
/// limits now in effect.
async fn write_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    require_all_tenants(&caller)?;
    let Some(Value::Object(map)) = body.0 else {
        return Err(ApiError::BadRequest(
            "The request body must be a JSON object with workerSize and/or clusterSize".into(),
        ));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "workerSize" | "clusterSize"))
    {
        return Err(ApiError::BadRequest(format!(
            "Unknown field '{unknown}' (known: workerSize, clusterSize)"
        )));
    }
    let field = |name: &str| -> Result<Option<u32>, ApiError> {
        match map.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be a positive integer, got {v}"))
                }),
        }
    };
    let (worker_size, cluster_size) = (field("workerSize")?, field("clusterSize")?);
    let current = state.jobs().limits().await?;
    let limits = Limits {
        worker_size: worker_size.unwrap_or(current.worker_size),
        cluster_size: cluster_size.unwrap_or(current.cluster_size),
    };
    let limits = state.jobs().set_limits(limits).await?;
    Ok(axum::Json(limits_body(limits)).into_response())
}
