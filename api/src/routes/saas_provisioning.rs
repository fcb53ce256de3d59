//! `/-/cds/saas-provisioning`: what the SaaS registry calls.

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use mtx_shared::access::{Caller, TenantScope};
use mtx_shared::callbacks::target;
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::vocab::{DatabaseId, JobWithTasks, NewCallback, Status, UpgradeOptions};
use serde_json::{Map, Value};

use super::tenant_id;
use crate::auth::ensure_access;
use crate::error::ApiError;
use crate::extract::{Call, JsonBody, prefers_async};
use crate::state::AppState;
use crate::wire;

const BASE: &str = "/-/cds/saas-provisioning";
const NO_APP_URL: &str = "Tenant successfully subscribed - no application URL provided";
/// Fields of the SaaS registry payload whose type we check (all strings when present).
const STRING_FIELDS: &[&str] = &[
    "subscribedTenantId",
    "subscribedSubdomain",
    "subscriptionAppName",
    "subscribedSubaccountId",
    "eventType",
    "database",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/tenant"),
            get(list_tenants).put(subscribe_from_body),
        )
        .route(
            &format!("{BASE}/tenant/{{id}}"),
            get(read_tenant).put(subscribe).delete(unsubscribe),
        )
        .route(&format!("{BASE}/{{call}}"), any(call))
}

async fn list_tenants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let tenants = state.jobs().tenants().await?;
    Ok(axum::Json(
        tenants
            .iter()
            .filter(|t| caller.may_access(&t.id))
            .map(wire::tenant)
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn read_tenant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&id)?;
    // Another tenant's record is invisible, not forbidden: its existence is not revealed.
    match state.jobs().tenant(&tenant).await? {
        Some(record) if caller.may_access(&tenant) => {
            Ok(axum::Json(wire::tenant(&record)).into_response())
        }
        _ => Err(ApiError::NotFound(format!("Tenant {tenant} not found"))),
    }
}

async fn subscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    run_subscribe(state, caller, Some(id), headers, body).await
}

async fn subscribe_from_body(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    run_subscribe(state, caller, None, headers, body).await
}

/// The subscription payload: a JSON object whose known fields have the right types.
fn subscription_payload(body: JsonBody) -> Result<Map<String, Value>, ApiError> {
    let body = body.0.ok_or_else(|| {
        ApiError::BadRequest("Malformed document: the subscription payload is missing".into())
    })?;
    let Value::Object(payload) = body else {
        return Err(ApiError::BadRequest(
            "The subscription payload must be a JSON object".into(),
        ));
    };
    for field in STRING_FIELDS {
        if let Some(v) = payload.get(*field)
            && !v.is_string()
        {
            return Err(ApiError::BadRequest(format!(
                "Field '{field}' must be a string, got {v}"
            )));
        }
    }
    Ok(payload)
}

async fn run_subscribe(
    state: AppState,
    caller: Caller,
    url_id: Option<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let mut payload = subscription_payload(body)?;
    // The URL key wins over the body, as in cds-mtxs.
    let raw_id = match url_id {
        Some(id) => id,
        None => payload
            .get("subscribedTenantId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::mandatory("subscribedTenantId"))?,
    };
    let tenant = tenant_id(&raw_id)?;
    ensure_access(&caller, &tenant)?;
    payload.insert(
        "subscribedTenantId".into(),
        Value::String(tenant.to_string()),
    );
    let database = payload
        .remove("database")
        .and_then(|v| v.as_str().map(str::to_owned))
        .map(|raw| DatabaseId::parse(&raw).map_err(ApiError::BadRequest))
        .transpose()?;
    let app_url = application_url(&state, &headers, &payload)?;
    // Checked before anything is enqueued: a refused callback target leaves no job behind.
    let callback = status_callback(
        &state,
        &headers,
        Some(app_url.clone().unwrap_or_else(|| NO_APP_URL.to_owned())),
    )?;
    let asynchronous = callback.is_some() || prefers_async(&headers);

    let job = state
        .jobs()
        .subscribe(tenant, Value::Object(payload), database, callback)
        .await?;
    if asynchronous {
        return Ok(accepted_with_body(&state, &headers, &job));
    }
    match wait(&state, &job).await? {
        Some(done) if done.job.status == Status::Finished => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            app_url.unwrap_or_else(|| NO_APP_URL.to_owned()),
        )
            .into_response()),
        Some(done) => Err(failed(&state, &headers, &done, false)),
        None => Ok(accepted_with_body(&state, &headers, &job)),
    }
}

/// The application URL the SaaS registry shows the subscriber: the `application_url` header,
/// else `SUBSCRIPTION_URL` with `${tenant_subdomain}` replaced by the payload's
/// `subscribedSubdomain` (which must then be a DNS label, as it becomes part of a host name).
fn application_url(
    state: &AppState,
    headers: &HeaderMap,
    payload: &Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    if let Some(v) = headers.get("application_url") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::BadRequest("Header 'application_url' must be text".into()))?;
        if !v.is_empty() {
            return Ok(Some(v.to_owned()));
        }
    }
    let Some(template) = &state.system.config().subscription_url else {
        return Ok(None);
    };
    const PLACEHOLDER: &str = "${tenant_subdomain}";
    if !template.contains(PLACEHOLDER) {
        return Ok(Some(template.clone()));
    }
    let Some(subdomain) = payload.get("subscribedSubdomain").and_then(Value::as_str) else {
        return Ok(None);
    };
    let label = !subdomain.is_empty()
        && subdomain.len() <= 63
        && subdomain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !subdomain.starts_with('-');
    if !label {
        return Err(ApiError::BadRequest(
            "Field 'subscribedSubdomain' must be a DNS label ([A-Za-z0-9-], at most 63)".into(),
        ));
    }
    Ok(Some(template.replace(PLACEHOLDER, subdomain)))
}

/// The status callback a request asks for (`status_callback` path or `mtx_status_callback`
/// URL), resolved on the SaaS registry's origin. Ignored without registry credentials, as
/// cds-mtxs does; anything off the registry's origin is a 400.
fn status_callback(
    state: &AppState,
    headers: &HeaderMap,
    subscription_url: Option<String>,
) -> Result<Option<NewCallback>, ApiError> {
    let Some(registry) = &state.system.config().saas_registry else {
        return Ok(None);
    };
    let header = |name: &str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::BadRequest("Invalid callback path".into()))
            })
            .transpose()
    };
    let url = target::resolve(
        &registry.saas_registry_url,
        header("status_callback")?,
        header("mtx_status_callback")?,
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(url.map(|url| NewCallback {
        url,
        subscription_url,
    }))
}

async fn unsubscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&id)?;
    ensure_access(&caller, &tenant)?;
    let callback = status_callback(&state, &headers, None)?;
    let asynchronous = callback.is_some() || prefers_async(&headers);
    let job = state.jobs().unsubscribe(tenant, callback).await?;
    if asynchronous {
        // cds-mtxs answers an asynchronous unsubscribe with an empty body.
        return Ok((StatusCode::ACCEPTED, job_header_map(&state, &headers, &job)).into_response());
    }
    match wait(&state, &job).await? {
        Some(done) if done.job.status == Status::Finished => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(done) => Err(failed(&state, &headers, &done, false)),
        None => Ok((StatusCode::ACCEPTED, job_header_map(&state, &headers, &job)).into_response()),
    }
}

async fn call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(segment): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let call = Call::parse(&segment)?;
    match (call.name.as_str(), method.as_str()) {
        ("dependencies", "GET") => Ok(axum::Json(
            state
                .system
                .config()
                .dependencies
                .iter()
                .map(|x| serde_json::json!({ "xsappname": x }))
                .collect::<Vec<_>>(),
        )
        .into_response()),
        ("upgrade", "POST") => upgrade(state, caller, headers, body).await,
        ("dependencies" | "upgrade", _) => Err(ApiError::MethodNotAllowed(format!(
            "{} must be called by {}",
            call.name,
            if call.name == "upgrade" {
                "POST"
            } else {
                "GET"
            }
        ))),
        _ => Err(ApiError::NotFound(format!(
            "No such resource: {BASE}/{segment}"
        ))),
    }
}

/// Parses `{"tenants": […], "options": {…}}`; `["*"]` (or any `*`) means every tenant.
pub(crate) fn upgrade_request(
    body: Option<Value>,
) -> Result<(TenantSelection, Map<String, Value>), ApiError> {
    let body = body.unwrap_or_else(|| Value::Object(Map::new()));
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequest(
            "The request body must be a JSON object".into(),
        ));
    };
    let options = match body.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "Field 'options' must be an object".into(),
            ));
        }
    };
    let tenants = match body.get("tenants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => {
            return Err(ApiError::Invalid {
                message: "Value must be an array".into(),
                code: "ASSERT_ARRAY",
                target: "tenants".into(),
            });
        }
    };
    let mut ids = Vec::with_capacity(tenants.len());
    let mut all = false;
    for t in &tenants {
        let Some(raw) = t.as_str() else {
            return Err(ApiError::BadRequest(format!(
                "Field 'tenants' must hold tenant ids (strings), got {t}"
            )));
        };
        if raw == "*" {
            all = true;
        } else {
            ids.push(tenant_id(raw)?);
        }
    }
    let selection = if all {
        TenantSelection::All
    } else {
        TenantSelection::Only(ids)
    };
    Ok((selection, options))
}

/// 403 unless the caller may upgrade every selected tenant (`*` needs access to all tenants).
pub(crate) fn ensure_selection(
    caller: &Caller,
    selection: &TenantSelection,
) -> Result<(), ApiError> {
    match selection {
        TenantSelection::All if caller.scope() != TenantScope::All => Err(ApiError::Forbidden(
            format!("User '{}' has no permission for all tenants", caller.name),
        )),
        TenantSelection::All => Ok(()),
        TenantSelection::Only(ids) => ids.iter().try_for_each(|t| ensure_access(caller, t)),
    }
}

async fn upgrade(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (selection, options) = upgrade_request(body.0)?;
    ensure_selection(&caller, &selection)?;
    let parsed = UpgradeOptions::from_request(&options);
    if parsed.dry_run {
        let plans = plan_upgrade(state.jobs(), state.system.deployer(), selection, parsed).await?;
        return Ok(axum::Json(plans).into_response());
    }
    if selection == TenantSelection::Only(Vec::new()) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let callback = status_callback(&state, &headers, None)?;
    let asynchronous = callback.is_some() || prefers_async(&headers);
    let Some(job) = state.jobs().upgrade(selection, options, callback).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if asynchronous {
        return Ok(accepted_with_body(&state, &headers, &job));
    }
    match wait(&state, &job).await? {
        Some(done) if done.job.status == Status::Finished => Ok((
            StatusCode::NO_CONTENT,
            job_header_map(&state, &headers, &job),
        )
            .into_response()),
        Some(done) => Err(failed(&state, &headers, &done, true)),
        None => Ok(accepted_with_body(&state, &headers, &job)),
    }
}

pub(crate) async fn wait(
    state: &AppState,
    job: &JobWithTasks,
) -> Result<Option<JobWithTasks>, ApiError> {
    Ok(state
        .jobs()
        .wait(&job.job.id, state.system.config().jobs.sync_timeout)
        .await?)
}

fn job_header_map(state: &AppState, headers: &HeaderMap, job: &JobWithTasks) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in state.job_headers(headers, &job.job.id) {
        map.insert(name, value);
    }
    map
}

fn accepted_with_body(state: &AppState, headers: &HeaderMap, job: &JobWithTasks) -> Response {
    (
        StatusCode::ACCEPTED,
        job_header_map(state, headers, job),
        axum::Json(wire::enqueued_job(job)),
    )
        .into_response()
}

/// A synchronous operation whose job did not finish: 500 with the first failed task's error.
pub(crate) fn failed(
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
