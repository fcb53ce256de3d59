//! `/-/cds/deployment`: the operator's synchronous tenant operations.

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use mtx_shared::access::Caller;
use mtx_shared::deploy::Resolution;
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::vocab::{JobWithTasks, ModelHash, Status, UpgradeOptions};
use serde_json::{Map, Value};

use super::saas_provisioning::{ensure_selection, failed, wait};
use super::tenant_id;
use crate::auth::ensure_access;
use crate::error::ApiError;
use crate::extract::{Call, JsonBody};
use crate::state::AppState;

const BASE: &str = "/-/cds/deployment";

pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{BASE}/{{call}}"), any(call))
}

async fn call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let call = Call::parse(&segment)?;
    let post = method == Method::POST;
    match call.name.as_str() {
        "getTenants" if method == Method::GET => {
            let tenants = state.jobs().tenants().await?;
            Ok(axum::Json(
                tenants
                    .iter()
                    .filter(|t| caller.may_access(&t.id))
                    .map(|t| t.id.to_string())
                    .collect::<Vec<_>>(),
            )
            .into_response())
        }
        "subscribe" if post => {
            let body = object(body)?;
            let tenant = tenant_id(required_str(&body, "tenant")?)?;
            ensure_access(&caller, &tenant)?;
            let metadata = match body.get("metadata") {
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(m @ Value::Object(_)) => m.clone(),
                Some(_) => {
                    return Err(ApiError::BadRequest(
                        "Field 'metadata' must be an object".into(),
                    ));
                }
            };
            let mut metadata = metadata;
            metadata["subscribedTenantId"] = Value::String(tenant.to_string());
            let job = state.jobs().subscribe(tenant, metadata, None, None).await?;
            finish_sync(&state, &headers, job).await
        }
        "unsubscribe" if post => {
            let body = object(body)?;
            let tenant = tenant_id(required_str(&body, "tenant")?)?;
            ensure_access(&caller, &tenant)?;
            let job = state.jobs().unsubscribe(tenant, None).await?;
            finish_sync(&state, &headers, job).await
        }
        "upgrade" if post => {
            let body = object(body)?;
            let raw = required_str(&body, "tenant")?;
            let selection = if raw == "*" {
                TenantSelection::All
            } else {
                TenantSelection::Only(vec![tenant_id(raw)?])
            };
            ensure_selection(&caller, &selection)?;
            let options = match body.get("options") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(o)) => o.clone(),
                Some(_) => {
                    return Err(ApiError::BadRequest(
                        "Field 'options' must be an object".into(),
                    ));
                }
            };
            let parsed = UpgradeOptions::from_request(&options);
            if parsed.dry_run {
                let plans =
                    plan_upgrade(state.jobs(), state.system.deployer(), selection, parsed).await?;
                return Ok(axum::Json(plans).into_response());
            }
            match state.jobs().upgrade(selection, options, None).await? {
                Some(job) => finish_sync(&state, &headers, job).await,
                None => Ok(StatusCode::NO_CONTENT.into_response()),
            }
        }
        "drift" if method == Method::GET => {
            let raw = call
                .arg("tenant", &[])
                .ok_or_else(|| ApiError::mandatory("tenant"))?;
            let tenant = tenant_id(&raw)?;
            ensure_access(&caller, &tenant)?;
            let report = state.system.deployer().drift(&tenant).await?;
            Ok(axum::Json(report).into_response())
        }
        "repair" if post => {
            let body = object(body)?;
            let tenant = tenant_id(required_str(&body, "tenant")?)?;
            ensure_access(&caller, &tenant)?;
            let resolution = resolution(&body)?;
            let resolved = state
                .system
                .deployer()
                .resolve(&tenant, &resolution)
                .await?;
            Ok(axum::Json(resolved).into_response())
        }
        "extend" if post => Err(ApiError::NotImplemented(
            "Extensibility is not available in this version of the sidecar".into(),
        )),
        "getTenants" | "subscribe" | "unsubscribe" | "upgrade" | "extend" | "drift" | "repair" => {
            Err(ApiError::MethodNotAllowed(format!(
                "Method {method} not allowed for {}",
                call.name
            )))
        }
        _ => Err(ApiError::NotFound(format!(
            "No such resource: {BASE}/{segment}"
        ))),
    }
}

/// The deployment service is synchronous (cds-mtxs ignores `prefer` here): 204 once done.
async fn finish_sync(
    state: &AppState,
    headers: &HeaderMap,
    job: JobWithTasks,
) -> Result<Response, ApiError> {
    match wait(state, &job).await? {
        Some(done) if done.job.status == Status::Finished => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(done) => Err(failed(state, headers, &done, false)),
        None => Err(ApiError::OperationFailed {
            message: format!(
                "Job {} did not finish within the synchronous time limit",
                job.job.id
            ),
            headers: state.job_headers(headers, &job.job.id),
        }),
    }
}

/// `{"mode": "adopt", "version"?: hash, "force"?: bool}` or
/// `{"mode": "repair", "allowDestructive"?: bool}`.
fn resolution(body: &Map<String, Value>) -> Result<Resolution, ApiError> {
    let flag = |field: &str| match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Field '{field}' must be a boolean, got {other}"
        ))),
    };
    match required_str(body, "mode")? {
        "adopt" => {
            let version = match body.get("version") {
                None | Some(Value::Null) => None,
                Some(Value::String(raw)) => {
                    Some(ModelHash::parse(raw).map_err(|e| ApiError::BadRequest(e.to_string()))?)
                }
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "Field 'version' must be a model hash, got {other}"
                    )));
                }
            };
            Ok(Resolution::Adopt {
                version,
                force: flag("force")?,
            })
        }
        "repair" => Ok(Resolution::Repair {
            allow_destructive: flag("allowDestructive")?,
        }),
        other => Err(ApiError::BadRequest(format!(
            "Field 'mode' must be \"adopt\" or \"repair\", got \"{other}\""
        ))),
    }
}

fn object(body: JsonBody) -> Result<Map<String, Value>, ApiError> {
    match body.0 {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ApiError::BadRequest(
            "The request body must be a JSON object".into(),
        )),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(ApiError::mandatory(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Field '{field}' must be a string, got {other}"
        ))),
    }
}
