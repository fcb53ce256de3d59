//! The one mapping from errors to HTTP responses.
//!
//! Every error answers with the cds-mtxs envelope `{"error":{"message":…,"code":…}}` (`code` is
//! the status as a string, or `ASSERT_MANDATORY`/`ASSERT_ARRAY` with a `target` for input
//! validation). Internal details are logged here once and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mtx_shared::control::ControlError;
use mtx_shared::deploy::DeployError;
use mtx_shared::jobs::service::JobError;
use mtx_shared::plan::PlanError;
use mtx_shared::versions::VersionError;

/// Seconds a client should wait before retrying a refused enqueue.
const RETRY_AFTER_SECS: u32 = 5;

/// Everything a handler can answer with other than success.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with code "400".
    BadRequest(String),
    /// 400 with a cds validation code and the offending field.
    Invalid {
        message: String,
        code: &'static str,
        target: String,
    },
    /// 401 with the mode's `WWW-Authenticate` challenge and nothing about why.
    Unauthorized {
        challenge: &'static str,
    },
    /// 403: authenticated, but lacking a role or acting on another tenant.
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed(String),
    /// 409: the request contradicts the state it met (a refused repair or adopt, a retry of a
    /// job still running).
    Conflict(String),
    /// 501: a capability this version does not have yet.
    NotImplemented(String),
    PayloadTooLarge,
    /// 429 with `Retry-After`.
    QueueFull,
    /// 503: a store or the queue is unreachable.
    Unavailable(String),
    /// 500 with a message the client should see: a synchronous operation's job failed (as
    /// cds-mtxs answers), with the job's headers when there is a job.
    OperationFailed {
        message: String,
        headers: Vec<(&'static str, HeaderValue)>,
    },
    /// 500 without details; the cause is logged.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn mandatory(target: &str) -> Self {
        ApiError::Invalid {
            message: "Provide the missing value.".into(),
            code: "ASSERT_MANDATORY",
            target: target.into(),
        }
    }
}

fn envelope(status: StatusCode, message: &str, code: &str, target: Option<&str>) -> Response {
    let mut error = serde_json::json!({ "message": message });
    if let Some(target) = target {
        error["target"] = target.into();
    }
    error["code"] = code.into();
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => envelope(StatusCode::BAD_REQUEST, &m, "400", None),
            ApiError::Invalid {
                message,
                code,
                target,
            } => envelope(StatusCode::BAD_REQUEST, &message, code, Some(&target)),
            ApiError::Unauthorized { challenge } => {
                let mut r = envelope(StatusCode::UNAUTHORIZED, "Unauthorized", "401", None);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                r
            }
            ApiError::Forbidden(m) => envelope(StatusCode::FORBIDDEN, &m, "403", None),
            ApiError::NotFound(m) => envelope(StatusCode::NOT_FOUND, &m, "404", None),
            ApiError::MethodNotAllowed(m) => {
                envelope(StatusCode::METHOD_NOT_ALLOWED, &m, "405", None)
            }
            ApiError::Conflict(m) => envelope(StatusCode::CONFLICT, &m, "409", None),
            ApiError::NotImplemented(m) => envelope(StatusCode::NOT_IMPLEMENTED, &m, "501", None),
            ApiError::PayloadTooLarge => envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is larger than the configured limit (MTX_BODY_LIMIT)",
                "413",
                None,
            ),
            ApiError::QueueFull => {
                let mut r = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Tenant operation job queue is full. Please try again later.",
                    "429",
                    None,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                r
            }
            ApiError::Unavailable(m) => {
                tracing::warn!(error = %m, "storage unavailable");
                envelope(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable. Please try again later.",
                    "503",
                    None,
                )
            }
            ApiError::OperationFailed { message, headers } => {
                let mut r = envelope(StatusCode::INTERNAL_SERVER_ERROR, &message, "500", None);
                for (name, value) in headers {
                    r.headers_mut().insert(name, value);
                }
                r
            }
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                envelope(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                    "500",
                    None,
                )
            }
        }
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::QueueFull => ApiError::QueueFull,
            JobError::TenantsNotFound(_) => ApiError::NotFound(e.to_string()),
            JobError::UnknownDatabase(_) => ApiError::BadRequest(e.to_string()),
            JobError::JobNotFound(_) => ApiError::NotFound(e.to_string()),
            JobError::JobNotEnded(_) => ApiError::Conflict(e.to_string()),
            JobError::Control(ControlError::QueueFull) => ApiError::QueueFull,
            JobError::Control(ControlError::Unavailable(m)) => ApiError::Unavailable(m),
            JobError::Version(e) => e.into(),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<VersionError> for ApiError {
    fn from(e: VersionError) -> Self {
        match e {
            VersionError::Control(ControlError::Unavailable(m)) => ApiError::Unavailable(m),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::NotSubscribed(_) | DeployError::Version(VersionError::Unknown(_)) => {
                ApiError::NotFound(e.to_string())
            }
            DeployError::NothingDeployed(_)
            | DeployError::AdoptRefused { .. }
            | DeployError::RepairDestructive(_)
            | DeployError::Repair(_)
            | DeployError::Destructive(_)
            | DeployError::Drift { .. } => ApiError::Conflict(e.to_string()),
            // The tenant's tables are busy or its storage is unreachable: try again later.
            e if e.is_retryable() => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Jobs(e) => e.into(),
            PlanError::Deploy(e) => e.into(),
        }
    }
}
