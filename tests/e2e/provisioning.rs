//! Subscribe, read, re-subscribe and unsubscribe through the SaaS provisioning and deployment
//! services.

use anyhow::ensure;
use mtx_tests::{Mode, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_modes;

const TENANT: &str = "/-/cds/saas-provisioning/tenant";

both_modes!(
    sync_subscribe_deploys_the_model_and_records_the_tenant,
    sync_subscribe
);
async fn sync_subscribe(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let body = json!({"subscriptionAppName":"bookshop","subscribedTenantId":"t1","subscribedSubdomain":"t1-sub","eventType":"CREATE"});
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/t1"),
            &[],
            Some(&body.to_string()),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    ensure!(
        r.text == "Tenant successfully subscribed - no application URL provided",
        "{}",
        r.text
    );

    let t = s.get(&format!("{TENANT}/t1")).await?;
    ensure!(t.status == StatusCode::OK);
    let t = t.json();
    ensure!(
        t["subscribedTenantId"] == "t1" && t["subscribedSubdomain"] == "t1-sub",
        "{t}"
    );
    ensure!(
        t["createdAt"].as_str().is_some_and(|x| x.ends_with('Z')),
        "{t}"
    );

    let list = s.get(TENANT).await?.json();
    ensure!(
        list.as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["subscribedTenantId"] == "t1"),
        "{list}"
    );
    let ids = s.get("/-/cds/deployment/getTenants()").await?.json();
    ensure!(ids == json!(["t1"]), "{ids}");

    let objects = s.tenant_objects("t1").await?;
    let lower: Vec<String> = objects.iter().map(|o| o.to_lowercase()).collect();
    for want in [
        "my_bookshop_books",
        "my_bookshop_authors",
        "catalogservice_books",
        "catalogservice_authors",
    ] {
        ensure!(
            lower.iter().any(|o| o == want),
            "{want} missing in {objects:?}"
        );
    }
    if mode == Mode::Embedded {
        ensure!(
            s.data_dir.join("db-t1.sqlite").exists(),
            "tenant file name is not db-<tenant>.sqlite"
        );
    }
    s.stop().await
}

both_modes!(async_subscribe_returns_a_job_to_poll, async_subscribe);
async fn async_subscribe(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/t2"),
            &[("prefer", "respond-async")],
            Some(r#"{"subscribedTenantId":"t2","subscribedSubdomain":"t2-sub"}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job_id = r.header("x-job-id").unwrap_or_default();
    let location = r.header("location").unwrap_or_default();
    ensure!(
        location == format!("{}/-/cds/jobs/pollJob(ID='{job_id}')", s.base),
        "{location}"
    );
    let body = r.json();
    ensure!(
        body["ID"] == job_id.as_str() && body["op"] == "subscribe" && body["status"] == "QUEUED",
        "{body}"
    );
    ensure!(body["service"] == "cds.xt.DeploymentService");
    ensure!(
        body["args"]["data"]["subscribedSubdomain"] == "t2-sub",
        "{body}"
    );
    ensure!(
        body["tasks"]["t2"]["job_ID"] == job_id.as_str()
            && body["tasks"]["t2"]["status"] == "QUEUED",
        "{body}"
    );
    ensure!(body["tenants"]["t2"]["status"] == "QUEUED", "{body}");
    let task_id = body["tasks"]["t2"]["ID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let done = s.wait_job(&job_id).await?;
    ensure!(
        done["status"] == "FINISHED" && done["error"].is_null(),
        "{done}"
    );
    ensure!(
        done["tasks"][0]["tenant"] == "t2" && done["tenants"]["t2"]["status"] == "FINISHED",
        "{done}"
    );

    let task = s
        .get(&format!("/-/cds/jobs/pollTask(ID='{task_id}')"))
        .await?;
    ensure!(task.status == StatusCode::OK);
    let task = task.json();
    ensure!(
        task["status"] == "FINISHED"
            && task["op"] == "subscribe"
            && task["service"] == "cds.xt.DeploymentService",
        "{task}"
    );

    let t = s.get(&format!("{TENANT}/t2")).await?;
    ensure!(t.status == StatusCode::OK, "{}", t.text);
    s.stop().await
}

both_modes!(
    resubscribe_is_idempotent_merges_metadata_and_keeps_rows,
    resubscribe
);
async fn resubscribe(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    s.subscribe("keep").await?;
    s.tenant_sql(
        "keep",
        "INSERT INTO my_bookshop_Books (ID, title, stock) VALUES ('b1', 'Kept', 5)",
    )
    .await?;
    let before = s.get(&format!("{TENANT}/keep")).await?.json();

    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/keep"),
            &[],
            Some(
                r#"{"subscribedTenantId":"keep","subscribedSubdomain":"renamed","extra":{"a":1}}"#,
            ),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    let after = s.get(&format!("{TENANT}/keep")).await?.json();
    ensure!(
        after["createdAt"] == before["createdAt"],
        "createdAt changed: {before} → {after}"
    );
    ensure!(
        after["modifiedAt"].as_str() >= before["modifiedAt"].as_str(),
        "{after}"
    );
    ensure!(
        after["subscribedSubdomain"] == "renamed" && after["extra"]["a"] == 1,
        "{after}"
    );

    let rows = s
        .tenant_sql("keep", "SELECT title FROM my_bookshop_Books")
        .await?;
    ensure!(
        rows == vec![vec![json!("Kept")]],
        "rows lost on re-subscribe: {rows:?}"
    );
    s.stop().await
}

both_modes!(unsubscribe_removes_exactly_that_tenant, unsubscribe);
async fn unsubscribe(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    s.subscribe("gone").await?;
    s.subscribe("stays").await?;
    let r = s
        .request(Method::DELETE, &format!("{TENANT}/gone"), &[], None)
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(
        s.tenant_objects("gone").await?.is_empty(),
        "storage of 'gone' left behind"
    );
    ensure!(
        !s.tenant_objects("stays").await?.is_empty(),
        "storage of 'stays' removed"
    );
    ensure!(s.get(&format!("{TENANT}/gone")).await?.status == StatusCode::NOT_FOUND);
    if mode == Mode::Embedded {
        for suffix in ["", "-wal", "-shm"] {
            ensure!(
                !s.data_dir.join(format!("db-gone.sqlite{suffix}")).exists(),
                "file{suffix} left"
            );
        }
    }

    let r = s
        .request(
            Method::DELETE,
            &format!("{TENANT}/stays"),
            &[("prefer", "respond-async")],
            None,
        )
        .await?;
    ensure!(
        r.status == StatusCode::ACCEPTED && r.text.is_empty(),
        "{} {:?}",
        r.status,
        r.text
    );
    let job = r.header("x-job-id").unwrap_or_default();
    ensure!(s.wait_job(&job).await?["status"] == "FINISHED");
    ensure!(s.get(TENANT).await?.json() == json!([]));

    let r = s
        .request(Method::DELETE, &format!("{TENANT}/neverseen"), &[], None)
        .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "unknown tenant: {}",
        r.status
    );
    s.stop().await
}

both_modes!(deployment_service_is_synchronous, deployment_service);
async fn deployment_service(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let post = |op: &'static str, body: &'static str| {
        let s = &s;
        async move {
            s.request(
                Method::POST,
                &format!("/-/cds/deployment/{op}"),
                &[("prefer", "respond-async")],
                Some(body),
            )
            .await
        }
    };
    let r = post(
        "subscribe",
        r#"{"tenant":"d1","metadata":{"subscribedSubdomain":"d1-sub"}}"#,
    )
    .await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(s.get("/-/cds/deployment/getTenants").await?.json() == json!(["d1"]));
    let meta = s.get(&format!("{TENANT}/d1")).await?.json();
    ensure!(meta["subscribedSubdomain"] == "d1-sub", "{meta}");
    let r = post("upgrade", r#"{"tenant":"d1"}"#).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    let r = post("unsubscribe", r#"{"tenant":"d1"}"#).await?;
    ensure!(
        r.status == StatusCode::NO_CONTENT,
        "{} {}",
        r.status,
        r.text
    );
    ensure!(s.get("/-/cds/deployment/getTenants()").await?.json() == json!([]));

    let r = post("subscribe", "{}").await?;
    ensure!(r.status == StatusCode::BAD_REQUEST, "{}", r.status);
    let e = r.json();
    ensure!(
        e["error"]["code"] == "ASSERT_MANDATORY" && e["error"]["target"] == "tenant",
        "{e}"
    );
    s.stop().await
}

both_modes!(
    subscribe_on_the_collection_and_dependencies,
    collection_and_dependencies
);
async fn collection_and_dependencies(mode: Mode) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mtx-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("package.json");
    std::fs::write(
        &config,
        r#"{"cds":{"requires":{"cds.xt.SaasProvisioningService":{"dependencies":["dest-app","conn-app"]}}}}"#,
    )?;
    let config_path = config.display().to_string();
    let s = TestServer::start(mode, &[("MTX_CONFIG", &config_path)]).await?;
    // PUT on the collection takes the id from the body.
    let r = s
        .request(
            Method::PUT,
            TENANT,
            &[],
            Some(r#"{"subscribedTenantId":"t9"}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(s.get(&format!("{TENANT}/t9")).await?.status == StatusCode::OK);
    // The application URL the registry shows comes from the request header.
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/t9"),
            &[("application_url", "https://t9.app.example")],
            Some("{}"),
        )
        .await?;
    ensure!(
        r.status == StatusCode::OK && r.text == "https://t9.app.example",
        "{} {}",
        r.status,
        r.text
    );
    for path in [
        "/-/cds/saas-provisioning/dependencies",
        "/-/cds/saas-provisioning/dependencies()",
    ] {
        let deps = s.get(path).await?.json();
        ensure!(
            deps == json!([{"xsappname":"dest-app"},{"xsappname":"conn-app"}]),
            "{path}: {deps}"
        );
    }
    s.stop().await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
