//! `/-/cds/model-provider`: the models a CAP app configured with
//! `"cds.xt.ModelProviderService": "from-sidecar"` asks for, per tenant.
//!
//! Every operation is an action (POST), as in cds-mtxs. The CSN and EDMX answers carry a strong
//! `ETag` that hashes the answered content (cds-mtxs sends `"basemodel"` or the tenant's latest
//! extension timestamp), so a CAP app's `If-None-Match` gets a 304 exactly when nothing it would
//! receive changed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mtx_shared::access::Role;
use mtx_shared::csn::Csn;
use mtx_shared::edmx;
use mtx_shared::model::ModelVersion;
use mtx_shared::vocab::ModelHash;
use serde::Deserialize;
use serde_json::Value;

use super::BodyTenantId;
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::{Body, JsonRequest};
use crate::routing::{ArgsFrom, Routes, Service, WrongMethod};
use crate::state::AppState;

const BASE: &str = "/-/cds/model-provider";

/// The CAP app calls with its technical user (`@requires: ['internal-user']`).
const ACCESS: Access = Access::AnyRole(&[Role::InternalUser]);

pub(crate) fn routes() -> Routes {
    Service::new(
        BASE,
        ACCESS,
        ArgsFrom::Parentheses,
        WrongMethod::NameTheGiven,
    )
    .post("getCsn", get_csn)
    .post("getEdmx", get_edmx)
    .post("getI18n", get_i18n)
    .post("getResources", get_resources)
    .post("isExtended", is_extended)
    .post("getExtensions", get_extensions)
    .into()
}

/// The arguments of the operations: `{tenant?, toggles?, service?, locale?, flavor?, for?}`.
/// `for`, `base` and `activated` are accepted and change nothing yet: without extensions and
/// feature toggles every tenant gets the base model as compiled.
#[derive(Debug, Default, Deserialize)]
struct ModelRequest {
    tenant: Option<BodyTenantId>,
    /// An array, an object (its keys) or a comma-separated string, as cds-mtxs accepts.
    toggles: Option<Value>,
    service: Option<String>,
    locale: Option<String>,
    flavor: Option<String>,
}

impl JsonRequest for ModelRequest {}

/// A toggle, service or flavor name: ASCII word characters, `-` and `.`, never `..` (they name
/// files in cds-mtxs, so nothing may climb out of a folder).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// The toggles requested, each a plain name or `*`.
fn toggles(raw: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = match raw {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::String(list)) => list.split(',').map(str::to_owned).collect(),
        Some(other) => vec![other.to_string()],
    };
    match names.iter().find(|t| *t != "*" && !is_plain_name(t)) {
        Some(invalid) => Err(ApiError::BadRequest(format!(
            "Unsupported input toggle param {invalid}"
        ))),
        None => Ok(names),
    }
}

/// `service` and `flavor` of getEdmx, each absent or a plain name.
fn edmx_names(request: &ModelRequest) -> Result<(), ApiError> {
    for (param, value) in [("service", &request.service), ("flavor", &request.flavor)] {
        if let Some(value) = value.as_deref().filter(|v| !is_plain_name(v)) {
            return Err(ApiError::BadRequest(format!(
                "Unsupported input {param} param {value}"
            )));
        }
    }
    Ok(())
}

/// The model the request's tenant runs (the base model without a tenant).
async fn model_of(state: &AppState, request: &ModelRequest) -> Result<Arc<ModelVersion>, ApiError> {
    Ok(match &request.tenant {
        Some(BodyTenantId(tenant)) => state.system.tenant_models().target(tenant).await?,
        None => state.system.versions().current().await?,
    })
}

/// The strong ETag of an answer: the hash of its content.
fn etag_of(content: &str) -> String {
    format!("\"{}\"", ModelHash::of(content))
}

/// `content` with its ETag, or a 304 without body when the caller already has it.
fn with_etag(headers: &HeaderMap, content_type: &'static str, content: String) -> Response {
    let etag = etag_of(&content);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|given| given.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], content).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

const JSON: &str = "application/json; charset=utf-8";
const XML: &str = "application/xml; charset=utf-8";

/// `value` as JSON with the content type cds-mtxs answers (naming the charset).
fn json_answer(value: &impl serde::Serialize) -> Result<Response, ApiError> {
    let text = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, JSON)], text).into_response())
}

/// The tenant's CSN with `meta.extended` (`false`: no tenant has extensions yet).
fn csn_answer(csn_json: &str) -> Result<String, ApiError> {
    let mut csn: Value =
        serde_json::from_str(csn_json).map_err(|e| ApiError::Internal(e.into()))?;
    if let Value::Object(root) = &mut csn {
        let meta = root
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(meta) = meta {
            meta.insert("extended".into(), Value::Bool(false));
        }
    }
    serde_json::to_string(&csn).map_err(|e| ApiError::Internal(e.into()))
}

async fn get_csn(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body { fields, .. }: Body<ModelRequest>,
) -> Result<Response, ApiError> {
    toggles(fields.toggles.as_ref())?;
    let model = model_of(&state, &fields).await?;
    Ok(with_etag(&headers, JSON, csn_answer(&model.csn_json)?))
}

/// Which service of the model an EDMX is asked for; the errors are worded as cds-mtxs words them.
fn chosen_service(services: &[String], requested: Option<&str>) -> Result<String, ApiError> {
    match requested {
        Some("all") => Err(ApiError::NotImplemented(
            "Edmx request for 'all' services not supported".into(),
        )),
        Some(name) if services.iter().any(|s| s == name) => Ok(name.to_owned()),
        Some(name) => Err(server_error(format!(
            "No service definition matching {name} found in given model(s)."
        ))),
        None => match services {
            [only] => Ok(only.clone()),
            _ => {
                let choices: String = services.iter().map(|s| format!("\n    -s {s}")).collect();
                Err(server_error(format!(
                    "\n\n    Found multiple service definitions in given model(s).\n    Please choose by adding one of... \n\n    -s all {choices}\n  "
                )))
            }
        },
    }
}

fn server_error(message: String) -> ApiError {
    ApiError::OperationFailed {
        message,
        headers: Vec::new(),
    }
}

/// The services a CSN defines, in definition order.
fn services_of(csn: &Value) -> Vec<String> {
    csn.get("definitions")
        .and_then(Value::as_object)
        .map(|definitions| {
            definitions
                .iter()
                .filter(|(_, d)| d.get("kind").and_then(Value::as_str) == Some("service"))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

async fn get_edmx(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body { fields, .. }: Body<ModelRequest>,
) -> Result<Response, ApiError> {
    // The names are checked before the operation (JSON errors), as cds-mtxs checks them.
    toggles(fields.toggles.as_ref())?;
    edmx_names(&fields)?;
    // From here on cds-mtxs has set the XML content type: its errors carry it too.
    let mut response = match edmx_answer(&state, &headers, &fields).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(XML));
    Ok(response)
}

async fn edmx_answer(
    state: &AppState,
    headers: &HeaderMap,
    request: &ModelRequest,
) -> Result<Response, ApiError> {
    let model = model_of(state, request).await?;
    let value: Value =
        serde_json::from_str(&model.csn_json).map_err(|e| ApiError::Internal(e.into()))?;
    let service = chosen_service(&services_of(&value), request.service.as_deref())?;
    let csn = Csn::from_value(value).map_err(|e| ApiError::Internal(e.into()))?;
    let mut xml = edmx::edmx(&csn, &service).map_err(|e| server_error(e.to_string()))?;
    if let Some(locale) = request.locale.as_deref().filter(|l| !l.is_empty()) {
        let (_, package) = state.system.versions().current_package().await?;
        xml = edmx::localize(&xml, &package.texts.texts(Some(locale)));
    }
    Ok(with_etag(headers, XML, xml))
}

async fn get_i18n(
    State(state): State<AppState>,
    Body { fields, .. }: Body<ModelRequest>,
) -> Result<Response, ApiError> {
    toggles(fields.toggles.as_ref())?;
    let (_, package) = state.system.versions().current_package().await?;
    json_answer(&package.texts.texts(fields.locale.as_deref()))
}

async fn get_resources(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (_, package) = state.system.versions().current_package().await?;
    let Some(file) = package.resources else {
        return Err(ApiError::NotFound("Not Found".into()));
    };
    let bytes = tokio::fs::read(&file).await.map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(file.display().to_string()))
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/octet-stream; charset=binary",
        )],
        bytes,
    )
        .into_response())
}

/// No tenant has extensions yet.
async fn is_extended(Body { .. }: Body<ModelRequest>) -> Result<Response, ApiError> {
    json_answer(&false)
}

async fn get_extensions(Body { .. }: Body<ModelRequest>) -> ApiError {
    ApiError::NotFound("Missing extensions".into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn toggles_are_plain_names_or_the_wildcard() {
        assert_eq!(
            toggles(Some(&json!(["*", "feature-a", "b.c_d"]))).ok(),
            Some(vec!["*".into(), "feature-a".into(), "b.c_d".into()])
        );
        assert_eq!(
            toggles(Some(&json!("a,b"))).ok(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            toggles(Some(&json!({"x": true}))).ok(),
            Some(vec!["x".into()])
        );
        assert!(toggles(None).is_ok_and(|t| t.is_empty()));
    }

    #[test]
    fn a_toggle_that_could_name_another_folder_is_refused_by_name() {
        for bad in ["../x", "a..b", "a/b", ""] {
            match toggles(Some(&json!([bad]))) {
                Err(ApiError::BadRequest(message)) => {
                    assert_eq!(message, format!("Unsupported input toggle param {bad}"));
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn service_and_flavor_must_be_plain_names() {
        let request = ModelRequest {
            service: Some("../etc".into()),
            ..ModelRequest::default()
        };
        assert!(matches!(edmx_names(&request),
            Err(ApiError::BadRequest(m)) if m == "Unsupported input service param ../etc"));
        let request = ModelRequest {
            flavor: Some("x/y".into()),
            ..ModelRequest::default()
        };
        assert!(matches!(edmx_names(&request),
            Err(ApiError::BadRequest(m)) if m == "Unsupported input flavor param x/y"));
        let request = ModelRequest {
            service: Some("CatalogService".into()),
            flavor: Some("v4".into()),
            ..ModelRequest::default()
        };
        assert!(edmx_names(&request).is_ok());
    }

    #[test]
    fn without_a_service_the_only_one_is_chosen_and_several_are_listed() {
        let one = vec!["CatalogService".to_owned()];
        assert_eq!(
            chosen_service(&one, None).ok().as_deref(),
            Some("CatalogService")
        );
        let two = vec!["CatalogService".to_owned(), "cds.xt.MTXServices".to_owned()];
        match chosen_service(&two, None) {
            Err(ApiError::OperationFailed { message, .. }) => assert_eq!(
                message,
                "\n\n    Found multiple service definitions in given model(s).\n    Please choose by adding one of... \n\n    -s all \n    -s CatalogService\n    -s cds.xt.MTXServices\n  "
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_service_is_a_500_and_all_a_501() {
        let one = vec!["CatalogService".to_owned()];
        assert!(matches!(chosen_service(&one, Some("Nope")),
            Err(ApiError::OperationFailed { message, .. })
                if message == "No service definition matching Nope found in given model(s)."));
        assert!(matches!(
            chosen_service(&one, Some("all")),
            Err(ApiError::NotImplemented(_))
        ));
    }

    #[test]
    fn the_csn_answered_says_it_is_not_extended() {
        let answer = csn_answer(r#"{"definitions":{},"meta":{"creator":"x"}}"#).expect("json");
        let answer: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(answer["meta"], json!({"creator": "x", "extended": false}));
    }
}
