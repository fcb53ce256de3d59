//! `/-/cds/jobs`: polling jobs and tasks, and job hygiene: `cancelJob`, `retryJob` (re-run the
//! failed tasks) and the runtime `limits` (`workerSize`, `clusterSize`).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mtx_shared::access::{Caller, TenantScope};
use mtx_shared::scheduler::Limits;
use mtx_shared::vocab::{JobId, JobWithTasks, TaskId};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Value, json};

use super::replies::accepted_with_body;
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::body::{FieldError, Problem};
use crate::extract::{Args, Body, JsonRequest, RawJson};
use crate::routing::{ArgsFrom, Routes, Service, WrongMethod};
use crate::state::AppState;
use crate::wire;

const BASE: &str = "/-/cds/jobs";
/// Jobs listed by default, and at most (`$top`).
const DEFAULT_TOP: usize = 100;
const MAX_TOP: usize = 1000;

/// Any authenticated caller: tenant isolation applies in the handlers.
pub(crate) fn routes() -> Routes {
    // Static segments win over the operations' `{call}` in the router.
    Service::new(
        BASE,
        Access::Authenticated,
        ArgsFrom::ParenthesesOrQuery,
        WrongMethod::NameTheAllowed,
    )
    .route("/cancelJob", post(cancel_job))
    .route("/retryJob", post(retry_job))
    .route("/limits", get(read_limits).put(write_limits))
    .route("/Jobs/{id}", get(read_job))
    .get("pollJob", poll_job)
    .get("pollTask", poll_task)
    .get("Jobs", list_jobs)
    .into()
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

/// `pollJob(ID='…')`, `pollTask(ID='…')`.
#[derive(Debug, Deserialize)]
struct IdArgs {
    #[serde(rename = "ID")]
    id: String,
}

async fn poll_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Args(args): Args<IdArgs>,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, &caller, &args.id).await?;
    let callbacks = state.jobs().callbacks(&[job.job.id]).await?;
    Ok(axum::Json(wire::polled_job(&job, callbacks.get(&job.job.id))).into_response())
}

async fn poll_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Args(IdArgs { id: raw }): Args<IdArgs>,
) -> Result<Response, ApiError> {
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

/// `Jobs?$top=…`.
#[derive(Debug, Deserialize)]
struct ListArgs {
    #[serde(rename = "$top")]
    top: Option<String>,
}

/// How many jobs a `$top` asks for: [`DEFAULT_TOP`] without one, else 1 to [`MAX_TOP`].
fn page_size(top: Option<&str>) -> Result<usize, ApiError> {
    match top {
        None => Ok(DEFAULT_TOP),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_TOP).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("$top must be a number from 1 to {MAX_TOP}"))
            }),
    }
}

async fn list_jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Args(args): Args<ListArgs>,
) -> Result<Response, ApiError> {
    let top = page_size(args.top.as_deref())?;
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

/// `{"ID": "…"}`: the raw job id (an unknown one is a 404, as in `pollJob`).
#[derive(Debug, Deserialize)]
struct JobRequest {
    #[serde(rename = "ID")]
    id: String,
}

impl JsonRequest for JobRequest {}

/// Only callers acting for every tenant may read or change what applies to all of them.
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
    Body { fields, .. }: Body<JobRequest>,
) -> Result<Response, ApiError> {
    let id = visible_job(&state, &caller, &fields.id).await?.job.id;
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
    Body { fields, .. }: Body<JobRequest>,
) -> Result<Response, ApiError> {
    let id = visible_job(&state, &caller, &fields.id).await?.job.id;
    let Some(job) = state.jobs().retry_failed(&id).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    Ok(accepted_with_body(&state, &headers, &job))
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

/// `{"workerSize"?, "clusterSize"?}`: positive integers; no other field.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LimitsChange {
    worker_size: Option<PositiveCount>,
    cluster_size: Option<PositiveCount>,
}

const LIMITS_NOT_AN_OBJECT: &str =
    "The request body must be a JSON object with workerSize and/or clusterSize";

impl JsonRequest for LimitsChange {
    const NOT_AN_OBJECT: &'static str = LIMITS_NOT_AN_OBJECT;
    const WHEN_EMPTY: Option<&'static str> = Some(LIMITS_NOT_AN_OBJECT);
    const NULL_IS_ABSENT: bool = false;

    fn field_error(error: FieldError) -> ApiError {
        match (&error.problem, &error.value) {
            (Problem::Expected { .. } | Problem::Message(_), Some(value)) => ApiError::BadRequest(
                format!("{} must be a positive integer, got {value}", error.field),
            ),
            _ => error.into_api_error(),
        }
    }
}

/// A limit: an integer from 1 to `u32::MAX`.
#[derive(Debug, Clone, Copy)]
struct PositiveCount(u32);

impl<'de> Deserialize<'de> for PositiveCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl de::Visitor<'_> for Count {
            type Value = PositiveCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a positive integer")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<PositiveCount, E> {
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(PositiveCount)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }
        }
        d.deserialize_u64(Count)
    }
}

/// `PUT limits {"workerSize"?, "clusterSize"?}`: a missing field keeps its value; 200 with the
/// limits now in effect.
async fn write_limits(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    json: RawJson,
) -> Result<Response, ApiError> {
    // Malformed JSON is refused first, then a tenant-bound caller, then a wrong shape.
    require_all_tenants(&caller)?;
    let Body { fields: change, .. } = Body::<LimitsChange>::from_json(json)?;
    let current = state.jobs().limits().await?;
    let limits = Limits {
        worker_size: change
            .worker_size
            .map_or(current.worker_size, |PositiveCount(n)| n),
        cluster_size: change
            .cluster_size
            .map_or(current.cluster_size, |PositiveCount(n)| n),
    };
    let limits = state.jobs().set_limits(limits).await?;
    Ok(axum::Json(limits_body(limits)).into_response())
}
