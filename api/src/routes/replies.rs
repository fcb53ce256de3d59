//! How an enqueued job becomes an HTTP answer: waiting for it within the synchronous time
//! limit, `202` with `Location` / `x-job-id`, `500` with the first task's error.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mtx_shared::vocab::JobWithTasks;

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire;

/// The job once it ended, or `None` when it did not within the synchronous time limit.
pub(super) async fn wait(
    state: &AppState,
    job: &JobWithTasks,
) -> Result<Option<JobWithTasks>, ApiError> {
    Ok(state
        .jobs()
        .wait(&job.job.id, state.system.config().jobs.sync_timeout)
        .await?)
}

/// `Location` and `x-job-id` of `job`.
pub(super) fn job_header_map(
    state: &AppState,
    headers: &HeaderMap,
    job: &JobWithTasks,
) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in state.job_headers(headers, &job.job.id) {
        map.insert(name, value);
    }
    map
}

/// `202` with the job's headers and the job with its tasks.
pub(super) fn accepted_with_body(
    state: &AppState,
    headers: &HeaderMap,
    job: &JobWithTasks,
) -> Response {
    (
        StatusCode::ACCEPTED,
        job_header_map(state, headers, job),
        axum::Json(wire::enqueued_job(job)),
    )
        .into_response()
}

/// A synchronous operation whose job did not finish: 500 with the first failed task's error.
pub(super) fn failed(
    state: &AppState,
    headers: &HeaderMap,
    job: &JobWithTasks,
    with_job_headers: bool,
) -> ApiError {
    let message = job
        .tasks
        .iter()
        .find_map(|t| t.error.clone())
        .or_else(|| job.job.error.clone())
        .unwrap_or_else(|| format!("Job {} ended {}", job.job.id, job.job.status));
    ApiError::OperationFailed {
        message,
        headers: if with_job_headers {
            state.job_headers(headers, &job.job.id)
        } else {
            Vec::new()
        },
    }
}
