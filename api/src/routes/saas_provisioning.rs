//! `/-/cds/saas-provisioning`: what the SaaS registry calls.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mtx_shared::access::Caller;
use mtx_shared::callbacks::target;
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::provisioning::{self, NO_APPLICATION_URL};
use mtx_shared::vocab::{DatabaseId, NewCallback, Status, TenantId, UpgradeOptions};
use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::{Map, Value};

use super::replies::{accepted_with_body, failed, job_header_map, wait};
use super::{invalid_tenant_id, tenant_id, visible_tenants};
use crate::auth::{Access, ensure_access, ensure_selection};
use crate::error::ApiError;
use crate::extract::body::parsed_str;
use crate::extract::{Body, JsonRequest, prefers_async};
use crate::routing::{ArgsFrom, Routes, Service, WrongMethod};
use crate::state::AppState;
use crate::wire;

const BASE: &str = "/-/cds/saas-provisioning";

pub(crate) fn routes() -> Routes {
    Service::new(
        BASE,
        Access::PROVISIONING,
        ArgsFrom::Parentheses,
        WrongMethod::NameTheAllowed,
    )
    .route("/tenant", get(list_tenants).put(subscribe_from_body))
    .route(
        "/tenant/{id}",
        get(read_tenant).put(subscribe).delete(unsubscribe),
    )
    .get("dependencies", dependencies)
    .post("upgrade", upgrade)
    .into()
}

async fn list_tenants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    visible_tenants(&state, &caller, wire::tenant).await
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
    body: Body<Subscription>,
) -> Result<Response, ApiError> {
    run_subscribe(state, caller, Some(id), headers, body).await
}

async fn subscribe_from_body(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body<Subscription>,
) -> Result<Response, ApiError> {
    run_subscribe(state, caller, None, headers, body).await
}

/// The SaaS registry's subscription payload: the fields we read (all strings when present,
/// checked in this order); the whole payload is kept as the tenant's metadata.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    subscribed_tenant_id: Option<String>,
    subscribed_subdomain: Option<String>,
    #[expect(
        dead_code,
        reason = "checked to be a string, passed on in the metadata"
    )]
    subscription_app_name: Option<String>,
    #[expect(
        dead_code,
        reason = "checked to be a string, passed on in the metadata"
    )]
    subscribed_subaccount_id: Option<String>,
    #[expect(
        dead_code,
        reason = "checked to be a string, passed on in the metadata"
    )]
    event_type: Option<String>,
    database: Option<String>,
}

impl JsonRequest for Subscription {
    const NOT_AN_OBJECT: &'static str = "The subscription payload must be a JSON object";
    const WHEN_EMPTY: Option<&'static str> =
        Some("Malformed document: the subscription payload is missing");
    const NULL_IS_ABSENT: bool = false;
}

async fn run_subscribe(
    state: AppState,
    caller: Caller,
    url_id: Option<String>,
    headers: HeaderMap,
    body: Body<Subscription>,
) -> Result<Response, ApiError> {
    let Body {
        fields: subscription,
        object: mut payload,
    } = body;
    // The URL key wins over the body, as in cds-mtxs.
    let raw_id = url_id
        .or(subscription.subscribed_tenant_id)
        .ok_or_else(|| ApiError::mandatory("subscribedTenantId"))?;
    let tenant = tenant_id(&raw_id)?;
    ensure_access(&caller, &tenant)?;
    payload.insert(
        "subscribedTenantId".into(),
        Value::String(tenant.to_string()),
    );
    payload.remove("database");
    let database = subscription
        .database
        .map(|raw| DatabaseId::parse(&raw).map_err(ApiError::BadRequest))
        .transpose()?;
    let app_url = application_url(
        &state,
        &headers,
        subscription.subscribed_subdomain.as_deref(),
    )?;
    // Checked before anything is enqueued: a refused callback target leaves no job behind.
    let callback = status_callback(
        &state,
        &headers,
        Some(
            app_url
                .clone()
                .unwrap_or_else(|| NO_APPLICATION_URL.to_owned()),
        ),
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
            app_url.unwrap_or_else(|| NO_APPLICATION_URL.to_owned()),
        )
            .into_response()),
        Some(done) => Err(failed(&state, &headers, &done, false)),
        None => Ok(accepted_with_body(&state, &headers, &job)),
    }
}

/// The application URL the SaaS registry shows the subscriber (see
/// [`provisioning::application_url`]): the `application_url` header, else `SUBSCRIPTION_URL`.
fn application_url(
    state: &AppState,
    headers: &HeaderMap,
    subdomain: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let explicit = headers
        .get("application_url")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Header 'application_url' must be text".into()))
        })
        .transpose()?;
    provisioning::application_url(
        explicit,
        state.system.config().subscription_url.as_deref(),
        subdomain,
    )
    .map_err(|e| ApiError::BadRequest(e.to_string()))
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

async fn dependencies(State(state): State<AppState>) -> Response {
    axum::Json(
        state
            .system
            .config()
            .dependencies
            .iter()
            .map(|x| serde_json::json!({ "xsappname": x }))
            .collect::<Vec<_>>(),
    )
    .into_response()
}

/// `{"tenants": […], "options": {…}}` (options checked first); `["*"]` (or any `*`) means
/// every tenant, no list none.
#[derive(Debug, Deserialize)]
struct UpgradeRequest {
    options: Option<Map<String, Value>>,
    tenants: Option<Vec<UpgradeTarget>>,
}

impl JsonRequest for UpgradeRequest {}

impl UpgradeRequest {
    fn selection(&self) -> TenantSelection {
        let targets = self.tenants.as_deref().unwrap_or_default();
        if targets.iter().any(|t| matches!(t, UpgradeTarget::All)) {
            return TenantSelection::All;
        }
        TenantSelection::Only(
            targets
                .iter()
                .filter_map(|t| match t {
                    UpgradeTarget::Tenant(id) => Some(id.clone()),
                    UpgradeTarget::All => None,
                })
                .collect(),
        )
    }
}

/// An element of an upgrade's `tenants`: `*` or a tenant id.
#[derive(Debug)]
enum UpgradeTarget {
    All,
    Tenant(TenantId),
}

impl<'de> Deserialize<'de> for UpgradeTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parsed_str(d, "tenant ids (strings)", |raw| match raw {
            "*" => Ok(UpgradeTarget::All),
            _ => TenantId::parse(raw)
                .map(UpgradeTarget::Tenant)
                .map_err(invalid_tenant_id),
        })
    }
}

async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body {
        fields: request, ..
    }: Body<UpgradeRequest>,
) -> Result<Response, ApiError> {
    let selection = request.selection();
    ensure_selection(&caller, &selection)?;
    let options = request.options.unwrap_or_default();
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
