//! One module per cds-mtxs service, each declaring its routes and operations with the access
//! they need; `replies` is how an enqueued job becomes an answer, shared by the services that
//! enqueue.

pub(crate) mod deployment;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod metrics;
pub(crate) mod model_provider;
mod replies;
pub(crate) mod saas_provisioning;

use axum::response::{IntoResponse, Response};
use mtx_shared::access::Caller;
use mtx_shared::control::TenantRecord;
use mtx_shared::vocab::TenantId;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer};

use crate::error::ApiError;
use crate::routing::Routes;
use crate::state::AppState;

/// Every route of the API.
pub(crate) fn all() -> Routes {
    Routes::new()
        .merge(saas_provisioning::routes())
        .merge(deployment::routes())
        .merge(jobs::routes())
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(model_provider::routes())
}

/// The tenants `caller` may see, each answered in the form `shown` gives it (the services list
/// tenants alike and show them differently).
pub(crate) async fn visible_tenants<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    shown: impl Fn(&TenantRecord) -> T,
) -> Result<Response, ApiError> {
    let tenants = state.jobs().tenants().await?;
    let visible: Vec<T> = tenants
        .iter()
        .filter(|t| caller.may_access(&t.id))
        .map(shown)
        .collect();
    Ok(axum::Json(visible).into_response())
}

/// Parses a tenant id from a request, naming the field in the error.
pub(crate) fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::BadRequest(invalid_tenant_id(e)))
}

/// The message of an id that is no tenant id.
pub(crate) fn invalid_tenant_id(reason: impl std::fmt::Display) -> String {
    format!("Invalid tenant id: {reason}")
}

/// A tenant id in a request body: a string, parsed as by [`tenant_id`].
#[derive(Debug, Clone)]
pub(crate) struct BodyTenantId(pub TenantId);

impl<'de> Deserialize<'de> for BodyTenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw)
            .map(BodyTenantId)
            .map_err(|e| de::Error::custom(invalid_tenant_id(e)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use mtx_shared::config::Config;
    use mtx_shared::system::System;
    use reqwest::StatusCode;

    use super::*;
    use crate::auth::Access;

    /// The access cds-mtxs requires under each service (jobs: any authenticated caller, with
    /// tenant isolation in the handlers).
    fn cds_mtxs_access(path: &str) -> Access {
        if path == "/health" {
            Access::Open
        } else if path.starts_with("/-/cds/saas-provisioning/") {
            Access::PROVISIONING
        } else if path.starts_with("/-/cds/deployment/") {
            Access::DEPLOYMENT
        } else if path.starts_with("/-/cds/model-provider/") {
            Access::AnyRole(&[mtx_shared::access::Role::InternalUser])
        } else {
            Access::Authenticated
        }
    }

    #[test]
    fn every_route_declares_the_access_of_its_service() {
        let routes = all();
        let paths: Vec<&str> = routes.declared().map(|d| d.path.as_str()).collect();
        for expected in [
            "/health",
            "/metrics",
            "/-/cds/saas-provisioning/tenant/{id}",
            "/-/cds/saas-provisioning/{call}",
            "/-/cds/deployment/{call}",
            "/-/cds/jobs/{call}",
            "/-/cds/jobs/limits",
            "/-/cds/model-provider/{call}",
        ] {
            assert!(paths.contains(&expected), "{expected} is not declared");
        }
        for declared in routes.declared() {
            assert_eq!(
                declared.access,
                cds_mtxs_access(&declared.path),
                "{}",
                declared.path
            );
        }
    }

    /// The router of the embedded mode with basic authentication: `nobody` has no role.
    async fn serve_basic() -> anyhow::Result<(String, std::path::PathBuf)> {
        let dir = std::env::temp_dir().join(format!(
            "mtx-api-routes-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir)?;
        let config_file = dir.join("mtx.json");
        std::fs::write(
            &config_file,
            serde_json::json!({"auth": {"kind": "basic", "users": {
                "nobody": {"password": "pw", "roles": []}
            }}})
            .to_string(),
        )?;
        let env: BTreeMap<String, String> = [
            ("MTX_DATA_DIR", dir.display().to_string()),
            ("MTX_CONFIG", config_file.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let system = Arc::new(System::build(Config::load(&env)?).await?);
        let app = crate::server::router(AppState::new(system)?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok((base, dir))
    }

    /// A concrete path for a declared pattern.
    fn example(pattern: &str) -> String {
        pattern
            .replace("{id}", "t1")
            .replace("{call}", "pollJob(ID='x')")
    }

    #[tokio::test]
    async fn every_route_refuses_whom_its_declaration_refuses() -> anyhow::Result<()> {
        let (base, dir) = serve_basic().await?;
        let client = reqwest::Client::new();
        let mut paths: Vec<String> = all().declared().map(|d| example(&d.path)).collect();
        paths.extend(
            [
                "/nowhere",
                "/health/x",
                "/-/cds/saas-provisioning",
                "/-/cds/saas-provisioning/nothing/here",
                "/-/cds/saas-provisioningX",
                "/-/cds/deployment/x/y",
                "/-/cds/model-provider/x/y",
            ]
            .map(str::to_owned),
        );
        for path in &paths {
            let access = if path == "/-/cds/saas-provisioning" {
                Access::PROVISIONING
            } else {
                cds_mtxs_access(path)
            };
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let url = format!("{base}{path}");
                let anonymous = client.request(method.clone(), &url).send().await?.status();
                let roleless = client
                    .request(method.clone(), &url)
                    .basic_auth("nobody", Some("pw"))
                    .send()
                    .await?;
                let roleless = (roleless.status(), roleless.text().await?);
                let lacks_roles = roleless.0 == StatusCode::FORBIDDEN
                    && roleless.1.contains("is lacking required roles");
                match access {
                    Access::Open => {
                        assert_ne!(anonymous, StatusCode::UNAUTHORIZED, "{method} {path}");
                    }
                    Access::Authenticated => {
                        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{method} {path}");
                        assert!(
                            roleless.0 != StatusCode::UNAUTHORIZED && !lacks_roles,
                            "{method} {path}: {roleless:?}"
                        );
                    }
                    Access::AnyRole(_) => {
                        assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{method} {path}");
                        assert!(lacks_roles, "{method} {path}: {roleless:?}");
                    }
                }
            }
        }
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
