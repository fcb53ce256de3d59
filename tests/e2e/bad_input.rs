//! Bad input gets a clear error (status + JSON envelope) and changes nothing.

use anyhow::ensure;
use mtx_tests::{Mode, Reply, TestServer};
use reqwest::{Method, StatusCode};

use crate::both_modes;

const TENANT: &str = "/-/cds/saas-provisioning/tenant";

fn is_envelope(r: &Reply, status: StatusCode) -> bool {
    r.status == status
        && r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        && r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
        && r.json()["error"]["code"].is_string()
}

/// Nothing was subscribed and no job was recorded.
async fn nothing_changed(s: &TestServer) -> anyhow::Result<()> {
    ensure!(
        s.get(TENANT).await?.json() == serde_json::json!([]),
        "a tenant was created"
    );
    ensure!(
        s.get("/-/cds/jobs/Jobs").await?.json() == serde_json::json!([]),
        "a job was recorded"
    );
    Ok(())
}

both_modes!(unsafe_tenant_ids_are_rejected_with_400, unsafe_ids);
async fn unsafe_ids(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let long = "a".repeat(101);
    // Path segments as a client would send them (percent-encoded where needed).
    for id in [
        "*", &long, "a..b", "a%2Fb", "a%20b", "a%0Ab", "a%27b", "a%22b", "a%5Cb", "a;drop",
        "%C3%A4", ".hidden", "a%00b",
    ] {
        let r = s
            .request(
                Method::PUT,
                &format!("{TENANT}/{id}"),
                &[],
                Some(r#"{"subscribedSubdomain":"x"}"#),
            )
            .await?;
        ensure!(
            is_envelope(&r, StatusCode::BAD_REQUEST),
            "PUT {id}: {} {}",
            r.status,
            r.text
        );
        let r = s
            .request(Method::DELETE, &format!("{TENANT}/{id}"), &[], None)
            .await?;
        ensure!(
            is_envelope(&r, StatusCode::BAD_REQUEST),
            "DELETE {id}: {} {}",
            r.status,
            r.text
        );
    }
    // Ids in the body (a URL client would normalise `..` away before sending).
    for body in [
        r#"{"subscribedTenantId":""}"#,
        r#"{"subscribedTenantId":".."}"#,
        r#"{"subscribedTenantId":"a\tb"}"#,
    ] {
        let r = s.request(Method::PUT, TENANT, &[], Some(body)).await?;
        ensure!(
            is_envelope(&r, StatusCode::BAD_REQUEST),
            "{body}: {} {}",
            r.status,
            r.text
        );
    }
    // Unsafe ids inside an upgrade list.
    let r = s
        .request(
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            &[],
            Some(r#"{"tenants":["ok","../etc"]}"#),
        )
        .await?;
    ensure!(
        is_envelope(&r, StatusCode::BAD_REQUEST),
        "{} {}",
        r.status,
        r.text
    );
    nothing_changed(&s).await?;
    if mode == Mode::Embedded {
        let files: Vec<_> = std::fs::read_dir(&s.data_dir)?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("db-"))
            .collect();
        ensure!(files.is_empty(), "tenant files created: {files:?}");
    }
    s.stop().await
}

both_modes!(
    malformed_bodies_and_wrong_types_are_rejected_with_400,
    malformed
);
async fn malformed(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let cases: &[(Method, &str, Option<&str>)] = &[
        (Method::PUT, "/-/cds/saas-provisioning/tenant/t8", None),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some(r#"{"subscribedTenantId":"t8","#),
        ),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some("notjson"),
        ),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some("[1,2]"),
        ),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some(r#"{"subscribedSubdomain":42}"#),
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":"t1"}"#),
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":[1]}"#),
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":["*"],"options":[]}"#),
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":["t1""#),
        ),
        (
            Method::POST,
            "/-/cds/deployment/subscribe",
            Some(r#"{"tenant":5}"#),
        ),
        (
            Method::POST,
            "/-/cds/deployment/subscribe",
            Some(r#"{"tenant":"x","metadata":"m"}"#),
        ),
        (Method::GET, "/-/cds/jobs/Jobs?$top=0", None),
    ];
    for (method, path, body) in cases {
        let r = s.request(method.clone(), path, &[], *body).await?;
        ensure!(
            is_envelope(&r, StatusCode::BAD_REQUEST),
            "{method} {path} {body:?}: {} {}",
            r.status,
            r.text
        );
    }
    let r = s
        .request(
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            &[],
            Some(r#"{"tenants":"t1"}"#),
        )
        .await?;
    let e = r.json();
    ensure!(
        e["error"]["code"] == "ASSERT_ARRAY" && e["error"]["target"] == "tenants",
        "{e}"
    );
    nothing_changed(&s).await?;
    s.stop().await
}

both_modes!(
    unknown_resources_are_404_and_wrong_methods_405,
    not_found_and_methods
);
async fn not_found_and_methods(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let zero = "00000000-0000-0000-0000-000000000000";
    for (path, message) in [
        (
            format!("{TENANT}/unknown"),
            "Tenant unknown not found".to_owned(),
        ),
        (
            format!("/-/cds/jobs/pollJob(ID='{zero}')"),
            format!("No job found for ID {zero}"),
        ),
        (
            format!("/-/cds/jobs/pollTask(ID='{zero}')"),
            format!("No task found for ID {zero}"),
        ),
        (
            "/-/cds/jobs/pollJob(ID='not-a-uuid')".to_owned(),
            "No job found for ID not-a-uuid".to_owned(),
        ),
        ("/-/cds/nothing/here".to_owned(), String::new()),
    ] {
        let r = s.get(&path).await?;
        ensure!(
            is_envelope(&r, StatusCode::NOT_FOUND),
            "{path}: {} {}",
            r.status,
            r.text
        );
        ensure!(r.error_message().contains(&message), "{path}: {}", r.text);
    }
    for (method, path) in [
        (Method::POST, "/-/cds/jobs/pollJob".to_owned()),
        (Method::PATCH, format!("{TENANT}/t1")),
        (Method::POST, TENANT.to_owned()),
        (Method::GET, "/-/cds/saas-provisioning/upgrade".to_owned()),
        (Method::DELETE, "/-/cds/deployment/getTenants".to_owned()),
    ] {
        let r = s.request(method.clone(), &path, &[], Some("{}")).await?;
        ensure!(
            is_envelope(&r, StatusCode::METHOD_NOT_ALLOWED),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
    }
    nothing_changed(&s).await?;
    s.stop().await
}

both_modes!(oversized_bodies_are_413, oversized);
async fn oversized(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[("MTX_BODY_LIMIT", "1024")]).await?;
    let big = format!(
        r#"{{"subscribedTenantId":"big","pad":"{}"}}"#,
        "x".repeat(4096)
    );
    let r = s
        .request(Method::PUT, &format!("{TENANT}/big"), &[], Some(&big))
        .await?;
    ensure!(
        is_envelope(&r, StatusCode::PAYLOAD_TOO_LARGE),
        "{} {}",
        r.status,
        r.text
    );
    nothing_changed(&s).await?;
    s.stop().await
}

both_modes!(bad_bodies_and_calls_get_messages_naming_the_field, messages);
async fn messages(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let cases: &[(Method, &str, Option<&str>, &str)] = &[
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            None,
            "Malformed document: the subscription payload is missing",
        ),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some("[1,2]"),
            "The subscription payload must be a JSON object",
        ),
        (
            Method::PUT,
            "/-/cds/saas-provisioning/tenant/t8",
            Some(r#"{"eventType":1,"subscribedSubdomain":null}"#),
            "Field 'subscribedSubdomain' must be a string, got null",
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":[1]}"#),
            "Field 'tenants' must hold tenant ids (strings), got 1",
        ),
        (
            Method::POST,
            "/-/cds/saas-provisioning/upgrade",
            Some(r#"{"tenants":"x","options":[]}"#),
            "Field 'options' must be an object",
        ),
        (
            Method::POST,
            "/-/cds/deployment/subscribe",
            Some(r#"{"tenant":5}"#),
            "Field 'tenant' must be a string, got 5",
        ),
        (
            Method::POST,
            "/-/cds/deployment/subscribe",
            Some(r#"{"tenant":"x","metadata":"m"}"#),
            "Field 'metadata' must be an object",
        ),
        (
            Method::POST,
            "/-/cds/deployment/repair",
            Some(r#"{"tenant":"t1","mode":"x"}"#),
            r#"Field 'mode' must be "adopt" or "repair", got "x""#,
        ),
        (
            Method::POST,
            "/-/cds/deployment/repair",
            Some(r#"{"tenant":"t1","mode":"adopt","force":"y"}"#),
            r#"Field 'force' must be a boolean, got "y""#,
        ),
        (
            Method::POST,
            "/-/cds/deployment/repair",
            Some(r#"{"tenant":"t1","mode":"adopt","version":5}"#),
            "Field 'version' must be a model hash, got 5",
        ),
        (
            Method::POST,
            "/-/cds/jobs/cancelJob",
            Some(r#"{"ID":5}"#),
            "Field 'ID' must be a string, got 5",
        ),
        (
            Method::PUT,
            "/-/cds/jobs/limits",
            Some(r#"{"foo":1,"workerSize":0}"#),
            "Unknown field 'foo' (known: workerSize, clusterSize)",
        ),
        (
            Method::PUT,
            "/-/cds/jobs/limits",
            Some(r#"{"workerSize":null}"#),
            "workerSize must be a positive integer, got null",
        ),
        (
            Method::GET,
            "/-/cds/jobs/Jobs?$top=0",
            None,
            "$top must be a number from 1 to 1000",
        ),
        (
            Method::GET,
            "/-/cds/jobs/pollJob(ID='x'",
            None,
            "Malformed function call 'pollJob(ID='x''",
        ),
        (
            Method::GET,
            "/-/cds/deployment/nothing",
            None,
            "No such resource: /-/cds/deployment/nothing",
        ),
        (
            Method::POST,
            "/-/cds/jobs/pollJob(ID='x')",
            None,
            "pollJob must be called by GET",
        ),
        (
            Method::DELETE,
            "/-/cds/deployment/getTenants",
            None,
            "Method DELETE not allowed for getTenants",
        ),
    ];
    for (method, path, body, message) in cases {
        let r = s.request(method.clone(), path, &[], *body).await?;
        ensure!(
            r.error_message() == *message,
            "{method} {path} {body:?}: {} {}",
            r.status,
            r.text
        );
    }
    for (path, code) in [
        ("/-/cds/jobs/pollJob", "ASSERT_MANDATORY"),
        ("/-/cds/deployment/drift", "ASSERT_MANDATORY"),
    ] {
        let r = s.get(path).await?;
        ensure!(r.json()["error"]["code"] == code, "{path}: {}", r.text);
    }
    nothing_changed(&s).await?;
    s.stop().await
}
