//! What every handler can reach: the assembled system and the authenticator.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use mtx_shared::jobs::service::JobService;
use mtx_shared::system::System;
use mtx_shared::vocab::JobId;

use crate::auth::Authenticator;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub system: Arc<System>,
    pub auth: Arc<Authenticator>,
}

impl AppState {
    /// The state for `system`, with the authenticator its configuration names.
    pub fn new(system: Arc<System>) -> anyhow::Result<Self> {
        let auth = Authenticator::from_config(&system.config().auth)?;
        Ok(Self {
            system,
            auth: Arc::new(auth),
        })
    }

    pub fn jobs(&self) -> &JobService {
        self.system.jobs()
    }

    /// The absolute `Location` of a job's `pollJob`: from `MTX_PUBLIC_URL`, else from the
    /// request's `Host`.
    pub fn job_location(&self, headers: &HeaderMap, job: &JobId) -> String {
        let base = match &self.system.config().public_url {
            Some(url) => url.clone(),
            None => {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| {
                        h.chars().all(|c| {
                            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                        })
                    })
                    .map_or_else(
                        || format!("localhost:{}", self.system.config().port),
                        str::to_owned,
                    );
                format!("http://{host}")
            }
        };
        format!("{base}/-/cds/jobs/pollJob(ID='{job}')")
    }

    /// `Location` and `x-job-id` for a job.
    pub fn job_headers(
        &self,
        headers: &HeaderMap,
        job: &JobId,
    ) -> Vec<(&'static str, HeaderValue)> {
        let mut out = Vec::new();
        if let Ok(v) = HeaderValue::from_str(&self.job_location(headers, job)) {
            out.push(("location", v));
        }
        if let Ok(v) = HeaderValue::from_str(&job.to_string()) {
            out.push(("x-job-id", v));
        }
        out
    }
}
