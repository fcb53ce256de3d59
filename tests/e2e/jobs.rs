//! The jobs service: URL forms, lists, lifecycle, responsiveness under load, queue limits.

use std::time::{Duration, Instant};

use anyhow::ensure;
use futures::StreamExt as _;
use mtx_shared::scheduler::Limits;
use mtx_tests::{Mode, ModelFile, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_modes;

async fn subscribe_async(s: &TestServer, tenant: &str) -> anyhow::Result<String> {
    let r = s
        .request(
            Method::PUT,
            &format!("/-/cds/saas-provisioning/tenant/{tenant}"),
            &[("prefer", "respond-async")],
            Some(&json!({"subscribedTenantId": tenant}).to_string()),
        )
        .await?;
    ensure!(
        r.status == StatusCode::ACCEPTED,
        "{tenant}: {} {}",
        r.status,
        r.text
    );
    Ok(r.header("x-job-id").unwrap_or_default())
}

both_modes!(poll_job_url_forms_and_jobs_list, url_forms);
async fn url_forms(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let job = subscribe_async(&s, "forms").await?;
    s.wait_job(&job).await?;
    for path in [
        format!("/-/cds/jobs/pollJob(ID='{job}')"),
        format!("/-/cds/jobs/pollJob(ID={job})"),
        format!("/-/cds/jobs/pollJob?ID={job}"),
        format!("/-/cds/jobs/pollJob(ID=%27{job}%27)"),
    ] {
        let r = s.get(&path).await?;
        ensure!(
            r.status == StatusCode::OK && r.json()["ID"] == job.as_str(),
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    let list = s.get("/-/cds/jobs/Jobs").await?.json();
    let first = &list[0];
    ensure!(
        first["ID"] == job.as_str() && first["op"] == "subscribe",
        "{list}"
    );
    let task = &first["tasks"][0];
    ensure!(
        task["tenant"] == "forms" && task["status"] == "FINISHED" && task["database"].is_string(),
        "{task}"
    );
    ensure!(
        task["attempt"] == 1 && task["worker"].is_string() && task["durationMs"].is_number(),
        "{task}"
    );
    let one = s.get(&format!("/-/cds/jobs/Jobs/{job}")).await?;
    ensure!(
        one.status == StatusCode::OK && one.json()["ID"] == job.as_str(),
        "{}",
        one.text
    );
    s.stop().await
}

both_modes!(lifecycle_goes_queued_running_finished, lifecycle);
async fn lifecycle(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(
        mode,
        &[
            ("MTX_WORKER_SIZE", "1"),
            ("MTX_CLUSTER_SIZE", "1"),
            ("MTX_QUEUE_SIZE", "1000"),
        ],
    )
    .await?;
    for i in 0..20 {
        s.subscribe(&format!("l{i:02}")).await?;
    }
    let limits = s.system.scheduler().limits().await?;
    s.system
        .scheduler()
        .set_limits(Limits {
            worker_size: 0,
            ..limits
        })
        .await?;
    let r = s
        .request(
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            &[("prefer", "respond-async")],
            Some(r#"{"tenants":["*"]}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED);
    ensure!(r.json()["status"] == "QUEUED");
    let job = r.header("x-job-id").unwrap_or_default();
    let held = s
        .get(&format!("/-/cds/jobs/pollJob(ID='{job}')"))
        .await?
        .json();
    ensure!(held["status"] == "QUEUED", "{held}");
    let mut seen = vec!["QUEUED".to_owned()];
    s.system.scheduler().set_limits(limits).await?;
    loop {
        let body = s
            .get(&format!("/-/cds/jobs/pollJob(ID='{job}')"))
            .await?
            .json();
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "FINISHED" || status == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let order = ["QUEUED", "RUNNING", "FINISHED"];
    ensure!(
        seen.last().map(String::as_str) == Some("FINISHED"),
        "{seen:?}"
    );
    ensure!(
        seen.windows(2)
            .all(|w| order.iter().position(|o| *o == w[0]) < order.iter().position(|o| *o == w[1])),
        "statuses out of order: {seen:?}"
    );
    s.stop().await
}

both_modes!(
    poll_job_answers_quickly_while_a_200_tenant_job_runs,
    responsive
);
async fn responsive(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let model_path = model.path();
    let s = TestServer::start(
        mode,
        &[("MTX_QUEUE_SIZE", "1000"), ("MTX_MODEL", &model_path)],
    )
    .await?;
    let subscribed: Vec<anyhow::Result<String>> = futures::stream::iter(0..200)
        .map(|i| {
            let s = &s;
            async move { subscribe_async(s, &format!("r{i:03}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for job in subscribed {
        ensure!(s.wait_job(&job?).await?["status"] == "FINISHED");
    }

    // A new model version: the upgrade does real DDL for each of the 200 tenants.
    model.switch_to("v2")?;
    let r = s
        .request(
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            &[("prefer", "respond-async")],
            Some(r#"{"tenants":["*"]}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job = r.header("x-job-id").unwrap_or_default();
    let mut latencies = Vec::new();
    let started = Instant::now();
    let last = loop {
        let t = Instant::now();
        let r = s.get(&format!("/-/cds/jobs/pollJob(ID='{job}')")).await?;
        latencies.push(t.elapsed());
        ensure!(r.status == StatusCode::OK);
        let body = r.json();
        if !matches!(body["status"].as_str(), Some("QUEUED" | "RUNNING")) {
            break body;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(300),
            "upgrade did not end"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    ensure!(last["status"] == "FINISHED", "{}", last["error"]);
    ensure!(last["tasks"].as_array().map_or(0, Vec::len) == 200);
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p90 = latencies[latencies.len() * 9 / 10];
    let max = latencies[latencies.len() - 1];
    println!(
        "pollJob while a 200-tenant upgrade runs ({mode:?}): n={} p50={p50:?} p90={p90:?} max={max:?} job={:?}",
        latencies.len(),
        started.elapsed()
    );
    ensure!(
        latencies.len() >= 5,
        "the job ended before it could be observed ({} polls)",
        latencies.len()
    );
    ensure!(
        p90 < Duration::from_millis(50),
        "pollJob p90 {p90:?} while the job runs"
    );
    ensure!(
        max < Duration::from_secs(1),
        "pollJob max {max:?} while the job runs"
    );
    s.stop().await
}

both_modes!(
    full_queue_answers_429_with_retry_after_and_leaves_nothing,
    queue_full
);
async fn queue_full(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[("MTX_QUEUE_SIZE", "1")]).await?;
    let limits = s.system.scheduler().limits().await?;
    // Hold the queue still (an operator can change limits at runtime) so the first job waits.
    s.system
        .scheduler()
        .set_limits(Limits {
            worker_size: 0,
            ..limits
        })
        .await?;
    let first = subscribe_async(&s, "q1").await?;
    let jobs_before = s
        .get("/-/cds/jobs/Jobs")
        .await?
        .json()
        .as_array()
        .map_or(0, Vec::len);
    let r = s
        .request(
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/q2",
            &[("prefer", "respond-async")],
            Some(r#"{"subscribedTenantId":"q2"}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::TOO_MANY_REQUESTS,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(r.header("retry-after").is_some(), "429 without Retry-After");
    ensure!(r.header("x-job-id").is_none() && r.header("location").is_none());
    ensure!(r.json()["error"]["code"] == "429", "{}", r.text);
    let jobs_after = s
        .get("/-/cds/jobs/Jobs")
        .await?
        .json()
        .as_array()
        .map_or(0, Vec::len);
    ensure!(jobs_after == jobs_before, "a refused job was recorded");

    s.system.scheduler().set_limits(limits).await?;
    ensure!(s.wait_job(&first).await?["status"] == "FINISHED");
    let r = s
        .request(
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/q2",
            &[],
            Some(r#"{"subscribedTenantId":"q2"}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK,
        "accepted again once the queue drained: {}",
        r.status
    );
    s.stop().await
}
