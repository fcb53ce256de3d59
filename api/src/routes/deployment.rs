//! `/-/cds/deployment`: the operator's synchronous tenant operations.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mtx_shared::access::Caller;
use mtx_shared::deploy::Resolution;
use mtx_shared::jobs::service::TenantSelection;
use mtx_shared::plan::plan_upgrade;
use mtx_shared::vocab::{JobWithTasks, ModelHash, Status, TenantId, UpgradeOptions};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Map, Value};

use super::replies::{failed, wait};
use super::{BodyTenantId, invalid_tenant_id, tenant_id, visible_tenants};
use crate::auth::{Access, ensure_access, ensure_selection};
use crate::error::ApiError;
use crate::extract::body::parsed_str;
use crate::extract::{Args, Body, JsonRequest};
use crate::routing::{ArgsFrom, Routes, Service, WrongMethod};
use crate::state::AppState;

const BASE: &str = "/-/cds/deployment";

pub(crate) fn routes() -> Routes {
    Service::new(
        BASE,
        Access::DEPLOYMENT,
        ArgsFrom::Parentheses,
        WrongMethod::NameTheGiven,
    )
    .get("getTenants", get_tenants)
    .post("subscribe", subscribe)
    .post("unsubscribe", unsubscribe)
    .post("upgrade", upgrade)
    .get("drift", drift)
    .post("repair", repair)
    .post("extend", extend)
    .into()
}

async fn get_tenants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    visible_tenants(&state, &caller, |t| t.id.to_string()).await
}

/// `{"tenant", …}`: read first, so that a caller acting on another tenant learns nothing about
/// the rest of its request.
#[derive(Debug, Deserialize)]
struct TenantRequest {
    tenant: BodyTenantId,
}

impl JsonRequest for TenantRequest {}

/// `subscribe`'s `{"metadata"?: {…}}`, beside the tenant.
#[derive(Debug, Deserialize)]
struct SubscribeRequest {
    metadata: Option<Map<String, Value>>,
}

impl JsonRequest for SubscribeRequest {}

async fn subscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body<TenantRequest>,
) -> Result<Response, ApiError> {
    let BodyTenantId(tenant) = body.fields.tenant.clone();
    ensure_access(&caller, &tenant)?;
    let mut metadata = body
        .read_as::<SubscribeRequest>()?
        .metadata
        .unwrap_or_default();
    metadata.insert(
        "subscribedTenantId".into(),
        Value::String(tenant.to_string()),
    );
    let job = state
        .jobs()
        .subscribe(tenant, Value::Object(metadata), None, None)
        .await?;
    finish_sync(&state, &headers, job).await
}

async fn unsubscribe(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body { fields, .. }: Body<TenantRequest>,
) -> Result<Response, ApiError> {
    let BodyTenantId(tenant) = fields.tenant;
    ensure_access(&caller, &tenant)?;
    let job = state.jobs().unsubscribe(tenant, None).await?;
    finish_sync(&state, &headers, job).await
}

/// `upgrade`'s `{"tenant": id or "*"}`, read (and checked against the caller) first.
#[derive(Debug, Deserialize)]
struct UpgradeSelection {
    tenant: Selection,
}

impl JsonRequest for UpgradeSelection {}

/// `upgrade`'s `{"options"?: {…}}`, beside the tenant.
#[derive(Debug, Deserialize)]
struct UpgradeRequest {
    options: Option<Map<String, Value>>,
}

impl JsonRequest for UpgradeRequest {}

/// One tenant, or `*`: every tenant.
#[derive(Debug)]
struct Selection(TenantSelection);

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if raw == "*" {
            return Ok(Selection(TenantSelection::All));
        }
        let tenant = TenantId::parse(&raw).map_err(|e| de::Error::custom(invalid_tenant_id(e)))?;
        Ok(Selection(TenantSelection::Only(vec![tenant])))
    }
}

async fn upgrade(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body<UpgradeSelection>,
) -> Result<Response, ApiError> {
    let Selection(selection) = &body.fields.tenant;
    let selection = selection.clone();
    ensure_selection(&caller, &selection)?;
    let options = body
        .read_as::<UpgradeRequest>()?
        .options
        .unwrap_or_default();
    let parsed = UpgradeOptions::from_request(&options);
    if parsed.dry_run {
        let plans = plan_upgrade(state.jobs(), state.system.deployer(), selection, parsed).await?;
        return Ok(axum::Json(plans).into_response());
    }
    match state.jobs().upgrade(selection, options, None).await? {
        Some(job) => finish_sync(&state, &headers, job).await,
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `drift(tenant='…')`.
#[derive(Debug, Deserialize)]
struct DriftArgs {
    tenant: String,
}

async fn drift(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Args(args): Args<DriftArgs>,
) -> Result<Response, ApiError> {
    let tenant = tenant_id(&args.tenant)?;
    ensure_access(&caller, &tenant)?;
    let report = state.system.deployer().drift(&tenant).await?;
    Ok(axum::Json(report).into_response())
}

/// `{"mode": "adopt" | "repair", …}` beside the tenant; the remaining fields depend on the mode
/// ([`AdoptRequest`], [`RepairRequest`]).
#[derive(Debug, Deserialize)]
struct ResolveRequest {
    mode: String,
}

impl JsonRequest for ResolveRequest {}

/// `{"version"?: hash, "force"?: bool}`.
#[derive(Debug, Deserialize)]
struct AdoptRequest {
    version: Option<BodyModelHash>,
    force: Option<bool>,
}

impl JsonRequest for AdoptRequest {}

/// `{"allowDestructive"?: bool}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepairRequest {
    allow_destructive: Option<bool>,
}

impl JsonRequest for RepairRequest {}

/// A model hash in a request body.
#[derive(Debug)]
struct BodyModelHash(ModelHash);

impl<'de> Deserialize<'de> for BodyModelHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parsed_str(d, "a model hash", |raw| {
            ModelHash::parse(raw).map(BodyModelHash)
        })
    }
}

async fn repair(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Body<TenantRequest>,
) -> Result<Response, ApiError> {
    let BodyTenantId(tenant) = body.fields.tenant.clone();
    ensure_access(&caller, &tenant)?;
    let resolution = match body.read_as::<ResolveRequest>()?.mode.as_str() {
        "adopt" => {
            let adopt: AdoptRequest = body.read_as()?;
            Resolution::Adopt {
                version: adopt.version.map(|BodyModelHash(hash)| hash),
                force: adopt.force.unwrap_or(false),
            }
        }
        "repair" => Resolution::Repair {
            allow_destructive: body
                .read_as::<RepairRequest>()?
                .allow_destructive
                .unwrap_or(false),
        },
        other => {
            return Err(ApiError::BadRequest(format!(
                "Field 'mode' must be \"adopt\" or \"repair\", got \"{other}\""
            )));
        }
    };
    let resolved = state
        .system
        .deployer()
        .resolve(&tenant, &resolution)
        .await?;
    Ok(axum::Json(resolved).into_response())
}

async fn extend() -> ApiError {
    ApiError::NotImplemented("Extensibility is not available in this version of the sidecar".into())
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
