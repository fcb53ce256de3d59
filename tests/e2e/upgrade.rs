//! Upgrades: the tenant list is honoured exactly, sync and async answers, model evolution, and
//! an upgrade of a current tenant still recorded.

use anyhow::ensure;
use mtx_tests::{Mode, ModelFile, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_modes;

const UPGRADE: &str = "/-/cds/saas-provisioning/upgrade";

fn tenants_of(job: &Value) -> Vec<String> {
    let mut t: Vec<String> = job["tasks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["tenant"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

/// The tenant's `modifiedAt` as the provisioning API shows it.
async fn modified_at(
    s: &TestServer,
    tenant: &str,
) -> anyhow::Result<chrono::DateTime<chrono::FixedOffset>> {
    let record = s
        .get(&format!("/-/cds/saas-provisioning/tenant/{tenant}"))
        .await?
        .json();
    let at = record["modifiedAt"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|e| anyhow::anyhow!("modifiedAt {at:?} of {record}: {e}"))
}

both_modes!(upgrade_honours_the_tenant_list_exactly, tenant_list);
async fn tenant_list(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    for t in ["a", "b", "c"] {
        s.subscribe(t).await?;
    }
    let r = s
        .request(Method::POST, UPGRADE, &[], Some(r#"{"tenants":["a","b"]}"#))
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    let job = r.header("x-job-id").unwrap_or_default();
    ensure!(
        r.header("location")
            .is_some_and(|l| l.ends_with(&format!("pollJob(ID='{job}')")))
    );
    let polled = s.wait_job(&job).await?;
    ensure!(tenants_of(&polled) == ["a", "b"], "{polled}");

    let r = s
        .request(
            Method::POST,
            UPGRADE,
            &[("prefer", "respond-async")],
            Some(r#"{"tenants":["*"]}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let body = r.json();
    ensure!(
        body["op"] == "upgrade" && body["args"] == json!({"options":{}}),
        "{body}"
    );
    let polled = s.wait_job(body["ID"].as_str().unwrap_or_default()).await?;
    ensure!(
        polled["status"] == "FINISHED" && tenants_of(&polled) == ["a", "b", "c"],
        "{polled}"
    );

    for empty in [r#"{"tenants":[]}"#, "{}"] {
        let r = s
            .request(
                Method::POST,
                UPGRADE,
                &[("prefer", "respond-async")],
                Some(empty),
            )
            .await?;
        ensure!(
            r.status == StatusCode::NO_CONTENT && r.header("x-job-id").is_none(),
            "{empty}: {}",
            r.status
        );
    }
    let r = s
        .request(
            Method::POST,
            UPGRADE,
            &[],
            Some(r#"{"tenants":["a","nope"]}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::NOT_FOUND && r.error_message().contains("nope"),
        "{} {}",
        r.status,
        r.text
    );
    s.stop().await
}

both_modes!(
    upgrade_evolves_tenants_to_a_changed_model_keeping_rows,
    evolves
);
async fn evolves(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let model_path = model.path();
    let s = TestServer::start(mode, &[("MTX_MODEL", &model_path)]).await?;
    s.subscribe("evo").await?;
    s.tenant_sql(
        "evo",
        "INSERT INTO my_bookshop_Books (ID, title, stock) VALUES ('b1', 'Kept', 5)",
    )
    .await?;

    // A new application version: the model file changes; no restart.
    model.switch_to("v2")?;
    let r = s
        .request(Method::POST, UPGRADE, &[], Some(r#"{"tenants":["*"]}"#))
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    let objects: Vec<String> = s
        .tenant_objects("evo")
        .await?
        .iter()
        .map(|o| o.to_lowercase())
        .collect();
    ensure!(
        objects.iter().any(|o| o == "my_bookshop_genres"),
        "{objects:?}"
    );
    let rows = s
        .tenant_sql("evo", "SELECT title, genre_ID FROM my_bookshop_Books")
        .await?;
    ensure!(rows == vec![vec![json!("Kept"), Value::Null]], "{rows:?}");
    s.stop().await
}

both_modes!(failed_task_fails_the_job_with_a_summary, failed_task);
async fn failed_task(mode: Mode) -> anyhow::Result<()> {
    let model = ModelFile::bookshop("v1")?;
    let model_path = model.path();
    let mut s = TestServer::start(
        mode,
        &[("MTX_MAX_ATTEMPTS", "1"), ("MTX_MODEL", &model_path)],
    )
    .await?;
    // Teardown accepts failed jobs: a task fails on purpose.
    s.expect_failed_jobs();
    s.subscribe("ok1").await?;
    s.subscribe("broken").await?;
    // Break the tenant's storage behind the sidecar's back.
    match mode {
        Mode::Embedded => std::fs::write(
            s.data_dir.join("db-broken.sqlite"),
            b"this is not a database",
        )?,
        Mode::Postgres => {
            s.tenant_sql("broken", "DROP TABLE mtx_deployments").await?;
        }
    }
    // A new model version makes every tenant's upgrade touch its storage; the broken one fails.
    model.switch_to("v2")?;
    let r = s
        .request(Method::POST, UPGRADE, &[], Some(r#"{"tenants":["*"]}"#))
        .await?;
    ensure!(
        r.status == StatusCode::INTERNAL_SERVER_ERROR,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(
        r.header("x-job-id").is_some(),
        "sync failure must still name the job"
    );
    let job = s
        .wait_job(&r.header("x-job-id").unwrap_or_default())
        .await?;
    ensure!(job["status"] == "FAILED", "{job}");
    ensure!(
        job["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("1 of 2 tasks failed")),
        "{job}"
    );
    ensure!(job["tenants"]["ok1"]["status"] == "FINISHED", "{job}");
    ensure!(
        job["tenants"]["broken"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{job}"
    );
    // The server keeps serving.
    ensure!(s.get("/-/cds/saas-provisioning/tenant/ok1").await?.status == StatusCode::OK);
    s.stop().await
}

both_modes!(
    upgrade_of_a_current_tenant_is_recorded_without_touching_its_schema,
    current_tenant
);
async fn current_tenant(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    s.subscribe("cur").await?;
    let mut last = modified_at(&s, "cur").await?;
    let objects = s.tenant_objects("cur").await?;
    for round in ["first", "second"] {
        // Timestamps are kept to the millisecond: let one pass, so a move is visible.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        s.tenant_sql(
            "cur",
            &format!("INSERT INTO my_bookshop_Books (ID, title) VALUES ('{round}', 'Kept')"),
        )
        .await?;
        let r = s
            .request(Method::POST, UPGRADE, &[], Some(r#"{"tenants":["cur"]}"#))
            .await?;
        ensure!(
            r.status == StatusCode::NO_CONTENT,
            "{round}: {} {}",
            r.status,
            r.text
        );
        let polled = s
            .wait_job(&r.header("x-job-id").unwrap_or_default())
            .await?;
        ensure!(polled["status"] == "FINISHED", "{round}: {polled}");
        let now = modified_at(&s, "cur").await?;
        ensure!(
            now > last,
            "{round} upgrade: modifiedAt {now} did not move from {last}"
        );
        last = now;
        ensure!(
            s.tenant_objects("cur").await? == objects,
            "{round} upgrade changed the schema"
        );
    }
    let rows = s
        .tenant_sql("cur", "SELECT ID FROM my_bookshop_Books ORDER BY ID")
        .await?;
    ensure!(
        rows == vec![vec![json!("first")], vec![json!("second")]],
        "rows lost: {rows:?}"
    );
    s.stop().await
}
