//! The harness against a scripted stand-in for the sidecar, served on a real socket.
//!
//! The stand-in speaks the cds-mtxs wire format (202 + `x-job-id` + `Location`, `pollJob`) and
//! can be told to misbehave, so these tests prove what a benchmark run cannot show reliably:
//! 429 + `Retry-After` is waited out and retried, and bad answers end up in the report instead
//! of a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use mtx_bench::args::{self, Command};
use mtx_bench::client::Sidecar;
use mtx_bench::scenario::{Report, enqueue_latency, poll_latency, provision};
use mtx_shared::vocab::JobId;
use serde_json::{Value, json};

/// How the stand-in behaves.
#[derive(Clone, Copy, Default)]
struct Script {
    /// Answer the first subscribe with 429 and `Retry-After: 1`.
    throttle_first_subscribe: bool,
    /// Answer upgrades with 202 but no job id anywhere.
    upgrade_without_job_id: bool,
    /// Answer every poll with 200 and a body that is not a job.
    garbage_polls: bool,
}

#[derive(Default)]
struct Fake {
    script: Script,
    subscribed: Vec<String>,
    /// Job id → (op, tenants, polls so far).
    jobs: HashMap<String, (String, Vec<String>, u32)>,
    subscribe_requests: u32,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(fake: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    fake.lock().expect("fake sidecar state is not poisoned")
}

/// A 202 the way cds-mtxs sends it: job id in `x-job-id` and in an absolute `Location`.
fn accepted(fake: &Shared, op: &str, tenants: Vec<String>, body: bool) -> Response {
    let id = JobId::new().to_string();
    lock(fake)
        .jobs
        .insert(id.clone(), (op.to_owned(), tenants, 0));
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-job-id",
        HeaderValue::from_str(&id).expect("uuid is a header value"),
    );
    headers.insert(
        "location",
        HeaderValue::from_str(&format!(
            "http://localhost:4005/-/cds/jobs/pollJob(ID='{id}')"
        ))
        .expect("url is a header value"),
    );
    if body {
        let body = json!({ "ID": id, "op": op, "status": "QUEUED" });
        (StatusCode::ACCEPTED, headers, axum::Json(body)).into_response()
    } else {
        (StatusCode::ACCEPTED, headers).into_response()
    }
}

async fn subscribe(State(fake): State<Shared>, Path(tenant): Path<String>) -> Response {
    let throttle = {
        let mut f = lock(&fake);
        f.subscribe_requests += 1;
        f.script.throttle_first_subscribe && f.subscribe_requests == 1
    };
    if throttle {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"error": {"message": "Tenant operation job queue is full. Please try again later.", "code": "429"}})),
        )
            .into_response();
    }
    lock(&fake).subscribed.push(tenant.clone());
    accepted(&fake, "subscribe", vec![tenant], true)
}

async fn unsubscribe(State(fake): State<Shared>, Path(tenant): Path<String>) -> Response {
    lock(&fake).subscribed.retain(|t| t != &tenant);
    // Like the reference: 202 with an empty body, the job only in the headers.
    accepted(&fake, "unsubscribe", vec![tenant], false)
}

async fn upgrade(State(fake): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    let (script, subscribed) = {
        let f = lock(&fake);
        (f.script, f.subscribed.clone())
    };
    if body["tenants"] != json!(["*"]) {
        return (StatusCode::BAD_REQUEST, "expected tenants [\"*\"]").into_response();
    }
    if script.upgrade_without_job_id {
        return StatusCode::ACCEPTED.into_response();
    }
    if subscribed.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    accepted(&fake, "upgrade", subscribed, true)
}

/// `pollJob(ID='<id>')`: RUNNING on the first poll of a job, FINISHED afterwards.
async fn poll(State(fake): State<Shared>, Path(call): Path<String>) -> Response {
    let Some(id) = call
        .strip_prefix("pollJob(ID='")
        .and_then(|rest| rest.strip_suffix("')"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut f = lock(&fake);
    if f.script.garbage_polls {
        return (StatusCode::OK, "<html>gateway says hi</html>").into_response();
    }
    let Some((op, tenants, polls)) = f.jobs.get_mut(id) else {
        let message = format!("No job found for ID {id}");
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"message": message, "code": "404"}})),
        )
            .into_response();
    };
    *polls += 1;
    let status = if *polls == 1 { "RUNNING" } else { "FINISHED" };
    let tasks: Vec<Value> = tenants
        .iter()
        .map(|t| json!({"ID": JobId::new().to_string(), "status": status, "tenant": t, "error": null}))
        .collect();
    axum::Json(json!({
        "ID": id, "service": "cds.xt.DeploymentService", "op": op,
        "error": null, "status": status, "tasks": tasks,
    }))
    .into_response()
}

/// Serves the stand-in on a free port; returns its base URL and its state.
async fn start(script: Script) -> (String, Shared) {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        script,
        ..Fake::default()
    }));
    let app = Router::new()
        .route(
            "/-/cds/saas-provisioning/tenant/{tenant}",
            put(subscribe).delete(unsubscribe),
        )
        .route("/-/cds/saas-provisioning/upgrade", post(upgrade))
        .route("/-/cds/jobs/{call}", get(poll))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn client(command: &Command) -> Sidecar {
    let common = match command {
        Command::Provision(p) => &p.common,
        Command::EnqueueLatency(p) => &p.common,
        Command::PollLatency(p) => &p.common,
        Command::Help => panic!("help has no client"),
    };
    Sidecar::new(common.client.clone()).expect("client builds")
}

#[tokio::test]
async fn provision_waits_out_429_and_reports_every_phase() {
    // Arrange
    let (url, fake) = start(Script {
        throttle_first_subscribe: true,
        ..Script::default()
    })
    .await;
    let command = args::parse([
        "provision",
        "--url",
        &url,
        "--tenants",
        "3",
        "--concurrency",
        "1",
        "--cleanup",
        "--poll-interval-ms",
        "10",
    ])
    .expect("valid arguments");
    let Command::Provision(params) = &command else {
        panic!("not provision");
    };

    // Act
    let report = provision::run(&client(&command), params).await;

    // Assert
    assert!(!report.failed(), "{report}");
    let sub = &report.subscribe;
    assert_eq!(
        (sub.requests, sub.accepted, sub.request_failures),
        (3, 3, 0)
    );
    assert_eq!(
        sub.throttled, 1,
        "the first subscribe was answered 429 once"
    );
    assert!(
        sub.throttle_wait_ms >= 1000.0,
        "Retry-After: 1 was waited out"
    );
    assert_eq!((sub.jobs, sub.jobs_finished, sub.tasks), (3, 3, 3));
    assert!(sub.tenants_per_s > 0.0);
    assert_eq!(sub.enqueue_latency.map(|l| l.count), Some(3));
    assert_eq!((report.upgrade.jobs_finished, report.upgrade.tasks), (1, 3));
    let unsub = report.unsubscribe.as_ref().expect("--cleanup ran");
    assert_eq!((unsub.jobs_finished, unsub.tasks), (3, 3));
    assert!(
        lock(&fake).subscribed.is_empty(),
        "cleanup unsubscribed all"
    );
    // Every job was polled at least twice (RUNNING, then FINISHED).
    assert!(report.poll_latency.map(|l| l.count).unwrap_or(0) >= 14);
    let line = serde_json::to_value(&report).expect("report serialises");
    assert_eq!(line["subscribe"]["throttled"], 1);
}

#[tokio::test]
async fn bad_answers_are_reported_not_panicked_on() {
    // Arrange: upgrades come back 202 without any job id.
    let (url, _fake) = start(Script {
        upgrade_without_job_id: true,
        ..Script::default()
    })
    .await;
    let command =
        args::parse(["enqueue-latency", "--url", &url, "--repeat", "2"]).expect("valid arguments");
    let Command::EnqueueLatency(params) = &command else {
        panic!("not enqueue-latency");
    };

    // Act
    let report = enqueue_latency::run(&client(&command), params).await;

    // Assert
    assert!(report.failed());
    assert_eq!(report.upgrades.request_failures, 2);
    assert!(
        report
            .upgrades
            .errors
            .iter()
            .all(|e| e.contains("202 without a job id")),
        "{report}"
    );
}

#[tokio::test]
async fn garbage_polls_give_the_job_up_with_the_reason() {
    // Arrange: subscribes work, polls answer HTML.
    let (url, _fake) = start(Script {
        garbage_polls: true,
        ..Script::default()
    })
    .await;
    let command = args::parse([
        "provision",
        "--url",
        &url,
        "--tenants",
        "1",
        "--poll-interval-ms",
        "1",
    ])
    .expect("valid arguments");
    let Command::Provision(params) = &command else {
        panic!("not provision");
    };

    // Act
    let report = provision::run(&client(&command), params).await;

    // Assert
    assert!(report.failed());
    assert_eq!(report.subscribe.jobs_unsuccessful, 1);
    let errors = report.subscribe.errors.join("\n");
    assert!(errors.contains("gave up after 10 failed polls"), "{errors}");
    assert!(errors.contains("not a job"), "{errors}");
}

#[tokio::test]
async fn poll_latency_measures_an_upgrade_it_started_itself() {
    // Arrange: one subscribed tenant, so the upgrade creates a job.
    let (url, fake) = start(Script::default()).await;
    lock(&fake).subscribed.push("t1".to_owned());
    let command = args::parse(["poll-latency", "--url", &url, "--duration-ms", "200"])
        .expect("valid arguments");
    let Command::PollLatency(params) = &command else {
        panic!("not poll-latency");
    };

    // Act
    let report = poll_latency::run(&client(&command), params).await;

    // Assert
    assert!(!report.failed(), "{report}");
    assert!(report.job.is_some());
    assert!(report.polls >= 2);
    assert_eq!(report.latency.map(|l| l.count), Some(report.polls));
    assert_eq!(report.last_status.map(|s| s.as_str()), Some("FINISHED"));
}

#[tokio::test]
async fn unreachable_sidecar_is_a_reported_failure() {
    // Arrange: a port nothing listens on (bound, then released).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let command =
        args::parse(["enqueue-latency", "--url", &url, "--repeat", "1"]).expect("valid arguments");
    let Command::EnqueueLatency(params) = &command else {
        panic!("not enqueue-latency");
    };

    // Act
    let report = enqueue_latency::run(&client(&command), params).await;

    // Assert
    assert!(report.failed());
    assert_eq!(report.upgrades.request_failures, 1);
    assert!(
        report
            .upgrades
            .errors
            .iter()
            .any(|e| e.contains("request failed"))
    );
}

#[tokio::test]
async fn upgrade_of_no_tenants_is_accepted_without_a_job() {
    // Arrange: nothing subscribed, so the stand-in answers 204 like cds-mtxs.
    let (url, _fake) = start(Script::default()).await;
    let sidecar = Sidecar::new(mtx_bench::client::ClientParams {
        base_url: url,
        basic_auth: None,
        request_timeout: Duration::from_secs(5),
        max_throttled: 1,
        max_retry_wait: Duration::from_secs(1),
    })
    .expect("client builds");

    // Act
    let enqueued = sidecar.upgrade(&["*"]).await.expect("204 is an answer");

    // Assert
    assert!(enqueued.job.is_none());
    assert_eq!(enqueued.throttled, 0);
}
