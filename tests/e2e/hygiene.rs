//! Job hygiene over HTTP: runtime limits, cancelling, re-running failed tasks, and `/metrics`.

use anyhow::ensure;
use mtx_tests::processes::metric;
use mtx_tests::{Mode, ModelFile, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_modes;

const LIMITS: &str = "/-/cds/jobs/limits";
const CANCEL: &str = "/-/cds/jobs/cancelJob";
const RETRY: &str = "/-/cds/jobs/retryJob";

async fn post(s: &TestServer, path: &str, body: &Value) -> anyhow::Result<mtx_tests::Reply> {
    s.request(Method::POST, path, &[], Some(&body.to_string()))
        .await
}

both_modes!(limits_change_at_runtime_and_are_validated, limits);
async fn limits(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[("MTX_WORKER_SIZE", "4"), ("MTX_CLUSTER_SIZE", "3")]).await?;
    let r = s.get(LIMITS).await?;
    ensure!(
        r.json() == json!({"workerSize": 4, "clusterSize": 3}),
        "{}",
        r.text
    );

    let r = s
        .request(Method::PUT, LIMITS, &[], Some(r#"{"workerSize": 1}"#))
        .await?;
    ensure!(
        r.status == StatusCode::OK && r.json() == json!({"workerSize": 1, "clusterSize": 3}),
        "{} {}",
        r.status,
        r.text
    );
    ensure!(s.get(LIMITS).await?.json() == json!({"workerSize": 1, "clusterSize": 3}));
    // The new limit applies to the next job at once, without a restart.
    s.subscribe("after-change").await?;

    for bad in [
        r#"{"workerSize": 0}"#,
        r#"{"clusterSize": -1}"#,
        r#"{"workerSize": "2"}"#,
        r#"{"workers": 2}"#,
        r#"[1, 2]"#,
        "",
    ] {
        let r = s.request(Method::PUT, LIMITS, &[], Some(bad)).await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST && !r.error_message().is_empty(),
            "{bad}: {} {}",
            r.status,
            r.text
        );
    }
    ensure!(
        s.get(LIMITS).await?.json() == json!({"workerSize": 1, "clusterSize": 3}),
        "a refused change must change nothing"
    );
    s.stop().await
}

both_modes!(cancel_answers_for_ended_unknown_and_malformed_jobs, cancel);
async fn cancel(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    s.subscribe("done").await?;
    let jobs = s.get("/-/cds/jobs/Jobs").await?.json();
    let job = jobs[0]["ID"].as_str().unwrap_or_default().to_owned();

    let r = post(&s, CANCEL, &json!({ "ID": job })).await?;
    ensure!(
        r.status == StatusCode::OK && r.json()["status"] == "FINISHED",
        "an ended job stays as it is: {} {}",
        r.status,
        r.text
    );
    let r = post(
        &s,
        CANCEL,
        &json!({ "ID": uuid::Uuid::new_v4().to_string() }),
    )
    .await?;
    ensure!(r.status == StatusCode::NOT_FOUND, "{} {}", r.status, r.text);
    let r = post(&s, CANCEL, &json!({ "ID": "not-a-uuid" })).await?;
    ensure!(r.status == StatusCode::NOT_FOUND, "{} {}", r.status, r.text);
    let r = post(&s, CANCEL, &json!({})).await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST && r.json()["error"]["target"] == "ID",
        "{} {}",
        r.status,
        r.text
    );
    let r = s.get(CANCEL).await?;
    ensure!(
        r.status == StatusCode::METHOD_NOT_ALLOWED,
        "{} {}",
        r.status,
        r.text
    );
    s.stop().await
}

both_modes!(retry_reruns_only_the_failed_tasks_of_a_job, retry);
async fn retry(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v2")?;
    let mut s = TestServer::start(mode, &[("MTX_MODEL", &model.path())]).await?;
    // Teardown accepts failed jobs: the first job fails on purpose, to be retried.
    s.expect_failed_jobs();
    // "ahead" gets v2; "behind" gets v1. Upgrading both to v1 would drop what v2 added from
    // "ahead", which is refused without autoUndeploy: only "ahead" fails.
    s.subscribe("ahead").await?;
    model.switch_to("v1")?;
    s.subscribe("behind").await?;
    let r = s
        .request(
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            &[("prefer", "respond-async")],
            Some(r#"{"tenants":["*"],"options":{"note":"kept"}}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let first = r.header("x-job-id").unwrap_or_default();
    let polled = s.wait_job(&first).await?;
    ensure!(
        polled["status"] == "FAILED"
            && polled["tenants"]["ahead"]["status"] == "FAILED"
            && polled["tenants"]["behind"]["status"] == "FINISHED",
        "{polled}"
    );

    let r = post(&s, RETRY, &json!({ "ID": first })).await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let retry = r.json();
    let retry_id = retry["ID"].as_str().unwrap_or_default().to_owned();
    ensure!(retry_id != first && !retry_id.is_empty(), "{retry}");
    ensure!(
        r.header("location")
            .is_some_and(|l| l.ends_with(&format!("pollJob(ID='{retry_id}')"))),
        "{:?}",
        r.header("location")
    );
    let tenants: Vec<&String> = retry["tenants"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    ensure!(tenants == ["ahead"], "only the failed tenant: {retry}");
    ensure!(
        retry["op"] == "upgrade" && retry["args"] == json!({"options": {"note": "kept"}}),
        "same operation and arguments: {retry}"
    );
    // Same target, same refusal: the re-run really ran.
    let polled = s.wait_job(&retry_id).await?;
    ensure!(
        polled["status"] == "FAILED"
            && polled["tenants"]["ahead"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("destructive")),
        "{polled}"
    );

    let r = post(
        &s,
        RETRY,
        &json!({ "ID": uuid::Uuid::new_v4().to_string() }),
    )
    .await?;
    ensure!(r.status == StatusCode::NOT_FOUND, "{} {}", r.status, r.text);
    s.stop().await
}

both_modes!(metrics_count_finished_tasks_in_prometheus_format, metrics);
async fn metrics(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let before = s.get("/metrics").await?;
    ensure!(before.status == StatusCode::OK);
    ensure!(
        before
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        before.header("content-type")
    );
    let finished = r#"mtx_tasks_completed_total{outcome="finished"}"#;
    ensure!(
        metric(&before.text, finished) == Some(0.0),
        "{}",
        before.text
    );
    ensure!(metric(&before.text, "mtx_queue_up") == Some(1.0));

    s.subscribe("m1").await?;
    s.subscribe("m2").await?;

    let after = s.get("/metrics").await?.text;
    ensure!(metric(&after, finished) == Some(2.0), "{after}");
    ensure!(
        metric(&after, "mtx_task_duration_seconds_count") == Some(2.0),
        "{after}"
    );
    ensure!(
        metric(&after, r#"mtx_task_duration_seconds_bucket{le="+Inf"}"#) == Some(2.0),
        "{after}"
    );
    ensure!(
        metric(&after, r#"mtx_queue_depth{lane="provisioning"}"#) == Some(0.0),
        "{after}"
    );
    s.stop().await
}
