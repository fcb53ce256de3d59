//! The sidecar's HTTP API as the benchmarks use it (cds-mtxs wire format).
//!
//! Every call is timed from sending the request until the whole response body has arrived: that
//! is the latency a client of the sidecar sees. A `429 Too Many Requests` is honoured: the call
//! waits `Retry-After` seconds (1 s when the header is missing or not a number) and tries again,
//! up to a limit; the time spent waiting is reported separately and never counted as latency.

use std::time::{Duration, Instant};

use mtx_shared::vocab::{JobId, Status, TenantId};
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// The header cds-mtxs uses to ask for an asynchronous job (202) instead of a synchronous answer.
const PREFER_ASYNC: (&str, &str) = ("prefer", "respond-async");
/// The header that carries the id of the job an enqueue created.
const JOB_ID_HEADER: &str = "x-job-id";
/// How much of an unexpected response body an error message quotes.
const BODY_EXCERPT_CHARS: usize = 300;
/// The wait after a 429 whose `Retry-After` is missing or unreadable.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How to reach the sidecar and how patient to be with it.
#[derive(Debug, Clone)]
pub struct ClientParams {
    /// Base URL, e.g. `http://127.0.0.1:4005` (a trailing `/` is ignored).
    pub base_url: String,
    /// `user:password` for HTTP basic authentication, when the sidecar requires it.
    pub basic_auth: Option<(String, String)>,
    /// Upper bound for one request, including reading the body.
    pub request_timeout: Duration,
    /// How many `429` answers one call accepts before giving up.
    pub max_throttled: u32,
    /// Longest single wait after a `429`, whatever `Retry-After` says.
    pub max_retry_wait: Duration,
}

/// Why a call did not produce the answer the benchmark needs. Reported, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No HTTP answer (connection refused, timeout, broken body); `cause` is the whole chain.
    #[error("{call}: request failed: {cause}")]
    Transport { call: String, cause: String },
    #[error("{call}: unexpected HTTP {status}: {body}")]
    UnexpectedStatus {
        call: String,
        status: u16,
        body: String,
    },
    #[error("{call}: still 429 Too Many Requests after {attempts} attempts")]
    Throttled { call: String, attempts: u32 },
    #[error("{call}: bad response: {detail}")]
    BadResponse { call: String, detail: String },
}

/// What an enqueue (subscribe, unsubscribe, upgrade) returned.
#[derive(Debug, Clone)]
pub struct Enqueued {
    /// The job the sidecar created; `None` when it answered that there was nothing to do
    /// (e.g. `204` for an upgrade of no tenants).
    pub job: Option<JobId>,
    /// Time to the accepting answer (the last attempt only).
    pub latency: Duration,
    /// How many `429` answers came before it.
    pub throttled: u32,
    /// Total time spent waiting as `Retry-After` asked.
    pub throttle_wait: Duration,
}

/// A job as `pollJob` shows it (only the fields the benchmarks read).
#[derive(Debug, Clone, Deserialize)]
pub struct JobView {
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub tasks: Vec<TaskView>,
}

/// One task of a [`JobView`].
#[derive(Debug, Clone, Deserialize)]
pub struct TaskView {
    pub status: Status,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// One answered poll.
#[derive(Debug, Clone)]
pub struct Polled {
    pub job: JobView,
    pub latency: Duration,
    pub throttle_wait: Duration,
}

/// A client of one sidecar. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Sidecar {
    http: reqwest::Client,
    params: ClientParams,
}

/// A response, read completely.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    latency: Duration,
    throttled: u32,
    throttle_wait: Duration,
}

impl Sidecar {
    /// Builds the client. Proxies from the environment are ignored: a benchmark measures the
    /// sidecar, not a proxy.
    pub fn new(mut params: ClientParams) -> Result<Self, reqwest::Error> {
        params.base_url = params.base_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(params.request_timeout)
            .build()?;
        Ok(Self { http, params })
    }

    /// `PUT /-/cds/saas-provisioning/tenant/<id>` with a SaaS registry payload, asynchronously.
    pub async fn subscribe(&self, tenant: &TenantId) -> Result<Enqueued, CallError> {
        let url = format!(
            "{}/-/cds/saas-provisioning/tenant/{}",
            self.params.base_url,
            tenant.as_str()
        );
        let body = json!({
            "subscriptionAppName": "mtx-bench",
            "subscribedTenantId": tenant.as_str(),
            "subscribedSubdomain": tenant.as_str(),
            "eventType": "CREATE",
        });
        let call = format!("subscribe {}", tenant.as_str());
        let answer = self
            .call(&call, || asking_async(self.http.put(&url).json(&body)))
            .await?;
        enqueued(&call, answer)
    }

    /// `DELETE /-/cds/saas-provisioning/tenant/<id>`, asynchronously.
    pub async fn unsubscribe(&self, tenant: &TenantId) -> Result<Enqueued, CallError> {
        let url = format!(
            "{}/-/cds/saas-provisioning/tenant/{}",
            self.params.base_url,
            tenant.as_str()
        );
        let call = format!("unsubscribe {}", tenant.as_str());
        let answer = self
            .call(&call, || asking_async(self.http.delete(&url)))
            .await?;
        enqueued(&call, answer)
    }

    /// `POST /-/cds/saas-provisioning/upgrade {"tenants": [...]}`, asynchronously. `["*"]` means
    /// every subscribed tenant.
    pub async fn upgrade(&self, tenants: &[&str]) -> Result<Enqueued, CallError> {
        let url = format!("{}/-/cds/saas-provisioning/upgrade", self.params.base_url);
        let body = json!({ "tenants": tenants });
        let call = format!("upgrade {tenants:?}");
        let answer = self
            .call(&call, || asking_async(self.http.post(&url).json(&body)))
            .await?;
        enqueued(&call, answer)
    }

    /// `GET /-/cds/jobs/pollJob(ID='<id>')`.
    pub async fn poll_job(&self, job: JobId) -> Result<Polled, CallError> {
        let url = format!("{}/-/cds/jobs/pollJob(ID='{job}')", self.params.base_url);
        let call = format!("pollJob {job}");
        let answer = self.call(&call, || self.http.get(&url)).await?;
        if answer.status != StatusCode::OK {
            return Err(unexpected(&call, &answer));
        }
        let view = serde_json::from_slice::<JobView>(&answer.body).map_err(|e| {
            CallError::BadResponse {
                call: call.clone(),
                detail: format!("not a job ({e}): {}", excerpt(&answer.body)),
            }
        })?;
        Ok(Polled {
            job: view,
            latency: answer.latency,
            throttle_wait: answer.throttle_wait,
        })
    }

    /// Sends the request `build` makes until the answer is not a 429 (or the limit is reached).
    async fn call(
        &self,
        call: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Answer, CallError> {
        let mut throttled = 0;
        let mut throttle_wait = Duration::ZERO;
        loop {
            let mut request = build();
            if let Some((user, password)) = &self.params.basic_auth {
                request = request.basic_auth(user, Some(password));
            }
            let started = Instant::now();
            let transport = |e: reqwest::Error| CallError::Transport {
                call: call.to_owned(),
                cause: error_chain(&e),
            };
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(transport)?.to_vec();
            let latency = started.elapsed();

            if status != StatusCode::TOO_MANY_REQUESTS {
                return Ok(Answer {
                    status,
                    headers,
                    body,
                    latency,
                    throttled,
                    throttle_wait,
                });
            }
            throttled += 1;
            if throttled > self.params.max_throttled {
                return Err(CallError::Throttled {
                    call: call.to_owned(),
                    attempts: throttled,
                });
            }
            let wait = retry_after(&headers)
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(self.params.max_retry_wait);
            tokio::time::sleep(wait).await;
            throttle_wait += wait;
        }
    }
}

/// Interprets the answer to an asynchronous enqueue.
fn enqueued(call: &str, answer: Answer) -> Result<Enqueued, CallError> {
    let job = match answer.status {
        StatusCode::ACCEPTED => Some(job_id(&answer).ok_or_else(|| CallError::BadResponse {
            call: call.to_owned(),
            detail: format!(
                "202 without a job id (no x-job-id, Location or body ID): {}",
                excerpt(&answer.body)
            ),
        })?),
        // Nothing to do (e.g. an upgrade of no tenants), or a sidecar that answered synchronously.
        StatusCode::OK | StatusCode::NO_CONTENT => job_id(&answer),
        _ => return Err(unexpected(call, &answer)),
    };
    Ok(Enqueued {
        job,
        latency: answer.latency,
        throttled: answer.throttled,
        throttle_wait: answer.throttle_wait,
    })
}

/// The job id of an enqueue answer: `x-job-id`, else the `ID='…'` in `Location`, else the body's
/// `ID`.
fn job_id(answer: &Answer) -> Option<JobId> {
    let header = |name| answer.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(id) = header(JOB_ID_HEADER).and_then(|v| JobId::parse(v.trim()).ok()) {
        return Some(id);
    }
    if let Some(id) = header(LOCATION.as_str()).and_then(job_id_from_location) {
        return Some(id);
    }
    let body: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    body.get("ID")
        .and_then(|v| v.as_str())
        .and_then(|v| JobId::parse(v).ok())
}

/// Extracts the id from `…/pollJob(ID='<id>')` (also the unquoted and `?ID=` forms).
fn job_id_from_location(location: &str) -> Option<JobId> {
    let start = location.rfind("ID=")? + "ID=".len();
    let rest = location.get(start..)?.trim_start_matches('\'');
    let end = rest.find(['\'', ')', '&']).unwrap_or(rest.len());
    JobId::parse(rest.get(..end)?).ok()
}

/// `Retry-After` in delta-seconds. An HTTP-date is not supported (the sidecar sends seconds);
/// the caller falls back to a default wait.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?;
    raw.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `error: cause: root cause`, because reqwest's own message leaves out why (e.g. "Connection
/// refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unexpected(call: &str, answer: &Answer) -> CallError {
    CallError::UnexpectedStatus {
        call: call.to_owned(),
        status: answer.status.as_u16(),
        body: excerpt(&answer.body),
    }
}

/// The start of a body, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// Asks for the asynchronous form of an enqueue (202 and a job) rather than a synchronous run.
fn asking_async(request: RequestBuilder) -> RequestBuilder {
    request.header(PREFER_ASYNC.0, PREFER_ASYNC.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const ID: &str = "3ccd2ff4-e79c-462a-b8da-011b7ce7d13f";

    #[test]
    fn job_id_is_found_in_every_location_form() {
        for location in [
            format!("http://localhost:4005/-/cds/jobs/pollJob(ID='{ID}')"),
            format!("http://localhost:4005/-/cds/jobs/pollJob(ID={ID})"),
            format!("/-/cds/jobs/pollJob?ID={ID}"),
        ] {
            let id = job_id_from_location(&location).map(|id| id.to_string());
            assert_eq!(id.as_deref(), Some(ID), "{location}");
        }
        assert!(job_id_from_location("http://localhost/-/cds/jobs/pollJob(ID='nope')").is_none());
        assert!(job_id_from_location("http://localhost/").is_none());
    }

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn poll_job_body_of_the_reference_parses() {
        // Verbatim from the reference transcript (B.1.3).
        let body = r#"{"ID":"3ccd2ff4-e79c-462a-b8da-011b7ce7d13f","service":"cds.xt.DeploymentService",
            "op":"subscribe","error":null,"status":"FINISHED","tasks":[{"ID":"6d03226b-680f-4779-8a69-59abfff0b94b",
            "status":"FINISHED","tenant":"t2","error":null}],"tenants":{"t2":{"status":"FINISHED"}}}"#;
        let job: JobView = serde_json::from_str(body).expect("reference body parses");
        assert_eq!(job.status, Status::Finished);
        assert_eq!(job.tasks.len(), 1);
        assert_eq!(
            job.tasks.first().and_then(|t| t.tenant.as_deref()),
            Some("t2")
        );
    }

    #[test]
    fn excerpt_is_bounded_and_never_empty() {
        assert_eq!(excerpt(b""), "(empty body)");
        let long = "x".repeat(BODY_EXCERPT_CHARS + 10);
        assert_eq!(
            excerpt(long.as_bytes()).chars().count(),
            BODY_EXCERPT_CHARS + 1
        );
    }
}
