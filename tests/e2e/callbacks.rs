//! Status callbacks to the SaaS registry: asynchronous provisioning reports its outcome exactly
//! once, with a client-credentials bearer token, also when the registry is down for a while and
//! the sidecar restarts in between.

use std::time::Duration;

use anyhow::ensure;
use mtx_tests::doubles::{Registry, TokenServer};
use mtx_tests::{Mode, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_modes;

const TENANT: &str = "/-/cds/saas-provisioning/tenant";
const CALLBACK: &str = "/saas-manager/v1/subscription-callback/123/result";
const WAIT: Duration = Duration::from_secs(30);

/// The doubles and a sidecar configured to call back to them, with quick retries.
async fn setup(
    mode: Mode,
    extra: &[(&str, &str)],
) -> anyhow::Result<(TokenServer, Registry, TestServer)> {
    let tokens = TokenServer::start().await?;
    let registry = Registry::start(&tokens).await?;
    let credentials = tokens.credentials(&registry);
    let mut env = vec![
        ("MTX_SAAS_CREDENTIALS", credentials.as_str()),
        ("MTX_CALLBACK_POLL_MS", "50"),
        ("MTX_CALLBACK_RETRY_MS", "100"),
        ("MTX_CALLBACK_MAX_RETRY_MS", "300"),
    ];
    env.extend_from_slice(extra);
    let server = TestServer::start(mode, &env).await?;
    Ok((tokens, registry, server))
}

fn stop_doubles(tokens: &TokenServer, registry: &Registry) {
    registry.stop();
    tokens.stop();
}

both_modes!(
    async_subscribe_sends_exactly_one_succeeded_callback,
    succeeded
);
async fn succeeded(mode: Mode) -> anyhow::Result<()> {
    let (tokens, registry, s) = setup(mode, &[]).await?;
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/cb1"),
            &[
                ("status_callback", CALLBACK),
                ("application_url", "https://cb1.bookshop.example"),
            ],
            Some(r#"{"subscribedTenantId":"cb1","subscribedSubdomain":"cb1"}"#),
        )
        .await?;
    // A callback makes the request asynchronous even without `prefer: respond-async`.
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job = r.header("x-job-id").unwrap_or_default();

    let accepted = registry.wait_accepted(1, WAIT).await?;
    let cb = &accepted[0];
    ensure!(cb.path == CALLBACK, "{cb:?}");
    ensure!(
        cb.body
            == json!({"status":"SUCCEEDED","message":"Tenant creation succeeded","subscriptionUrl":"https://cb1.bookshop.example"}),
        "{cb:?}"
    );
    let token = cb
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    ensure!(
        tokens.issued(token),
        "the bearer token was not issued by the token server: {cb:?}"
    );

    // The attempt is visible on the job; nothing more is sent.
    let polled = s.wait_job(&job).await?;
    ensure!(polled["status"] == "FINISHED", "{polled}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let callback = loop {
        let polled = s
            .get(&format!("/-/cds/jobs/pollJob(ID='{job}')"))
            .await?
            .json();
        if polled["callback"]["status"] == "DELIVERED" || tokio::time::Instant::now() > deadline {
            break polled["callback"].clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    ensure!(
        callback["status"] == "DELIVERED" && callback["attempts"] == 1,
        "{callback}"
    );
    ensure!(
        callback["history"][0]["httpStatus"] == 200 && callback["history"][0]["error"].is_null(),
        "{callback}"
    );
    ensure!(
        callback.get("url").is_none(),
        "the target URL is not shown: {callback}"
    );
    let listed = s.get("/-/cds/jobs/Jobs").await?.json();
    ensure!(listed[0]["callback"]["status"] == "DELIVERED", "{listed}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(
        registry.received().len() == 1,
        "more than one callback: {:?}",
        registry.received()
    );
    ensure!(tokens.token_requests() == 1, "token not cached");

    // A second callback reuses the cached token.
    let r = s
        .request(
            Method::DELETE,
            &format!("{TENANT}/cb1"),
            &[("status_callback", "/cb/124")],
            None,
        )
        .await?;
    ensure!(
        r.status == StatusCode::ACCEPTED && r.text.is_empty(),
        "{} {}",
        r.status,
        r.text
    );
    let accepted = registry.wait_accepted(2, WAIT).await?;
    ensure!(accepted[1].path == "/cb/124", "{:?}", accepted[1]);
    ensure!(
        accepted[1].body == json!({"status":"SUCCEEDED","message":"Tenant deletion succeeded"}),
        "{:?}",
        accepted[1]
    );
    ensure!(
        tokens.token_requests() == 1,
        "token requested again: {}",
        tokens.token_requests()
    );

    s.stop().await?;
    stop_doubles(&tokens, &registry);
    Ok(())
}

both_modes!(
    subscription_url_template_is_the_application_url,
    subscription_url
);
async fn subscription_url(mode: Mode) -> anyhow::Result<()> {
    let (tokens, registry, s) = setup(
        mode,
        &[(
            "SUBSCRIPTION_URL",
            "https://${tenant_subdomain}.bookshop.example/app",
        )],
    )
    .await?;
    // Synchronous: the application URL is the answer.
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/su1"),
            &[],
            Some(r#"{"subscribedSubdomain":"su1-sub"}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    ensure!(
        r.text == "https://su1-sub.bookshop.example/app",
        "{}",
        r.text
    );
    // Asynchronous: it goes into the callback.
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/su2"),
            &[("status_callback", "/cb/su2")],
            Some(r#"{"subscribedSubdomain":"su2-sub"}"#),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let accepted = registry.wait_accepted(1, WAIT).await?;
    ensure!(
        accepted[0].body["subscriptionUrl"] == "https://su2-sub.bookshop.example/app",
        "{:?}",
        accepted[0]
    );
    // A subdomain that is not a DNS label cannot become part of a host name.
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/su3"),
            &[],
            Some(r#"{"subscribedSubdomain":"evil.example/x?"}"#),
        )
        .await?;
    ensure!(
        r.status == StatusCode::BAD_REQUEST,
        "{} {}",
        r.status,
        r.text
    );
    s.stop().await?;
    stop_doubles(&tokens, &registry);
    Ok(())
}

both_modes!(
    failed_deployment_sends_one_failed_callback_with_the_error,
    failed
);
async fn failed(mode: Mode) -> anyhow::Result<()> {
    let (tokens, registry, mut s) = setup(mode, &[("MTX_MAX_ATTEMPTS", "1")]).await?;
    // Teardown accepts failed jobs: the deployment fails on purpose.
    s.expect_failed_jobs();
    // Occupy the tenant's storage behind the sidecar's back, so that deploying into it fails.
    match mode {
        Mode::Embedded => std::fs::write(
            s.data_dir.join("db-broken.sqlite"),
            b"this is not a database",
        )?,
        Mode::Postgres => {
            let db = s
                .database
                .as_ref()
                .map(|d| d.url().to_owned())
                .unwrap_or_default();
            let schema =
                mtx_shared::tenant::schema_name_for(&mtx_shared::vocab::TenantId::parse("broken")?);
            let pool = sqlx::PgPool::connect(&db).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".mtx_deployments (occupied int)"
            )))
            .execute(&pool)
            .await?;
            pool.close().await;
        }
    }
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/broken"),
            &[("status_callback", "/cb/broken")],
            Some("{}"),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job = s
        .wait_job(&r.header("x-job-id").unwrap_or_default())
        .await?;
    ensure!(job["status"] == "FAILED", "{job}");

    let accepted = registry.wait_accepted(1, WAIT).await?;
    let body = &accepted[0].body;
    ensure!(
        accepted[0].path == "/cb/broken" && body["status"] == "FAILED",
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    ensure!(
        message.starts_with("Tenant creation failed: 1 of 1 task failed; first: broken: "),
        "{body}"
    );
    ensure!(
        message.len() > "Tenant creation failed: 1 of 1 task failed; first: broken: ".len(),
        "{body}"
    );
    ensure!(body.get("subscriptionUrl").is_none(), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(registry.received().len() == 1, "{:?}", registry.received());
    s.stop().await?;
    stop_doubles(&tokens, &registry);
    Ok(())
}

both_modes!(
    callback_survives_registry_outage_and_restart,
    outage_and_restart
);
async fn outage_and_restart(mode: Mode) -> anyhow::Result<()> {
    let (tokens, registry, s) = setup(mode, &[]).await?;
    registry.set_available(false);
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/late"),
            &[("status_callback", "/cb/late")],
            Some("{}"),
        )
        .await?;
    ensure!(r.status == StatusCode::ACCEPTED, "{} {}", r.status, r.text);
    let job = r.header("x-job-id").unwrap_or_default();
    ensure!(s.wait_job(&job).await?["status"] == "FINISHED");
    // Retried with backoff while the registry is down.
    registry.wait_received(2, WAIT).await?;

    // The API (and with it the runner and the deliverer) stops and starts again meanwhile.
    let s = s.restart().await?;
    let refused = registry.received().len();
    registry.set_available(true);

    let accepted = registry.wait_accepted(1, WAIT).await?;
    ensure!(
        accepted[0].path == "/cb/late" && accepted[0].body["status"] == "SUCCEEDED",
        "{:?}",
        accepted[0]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(
        registry.accepted().len() == 1,
        "delivered twice: {:?}",
        registry.received()
    );

    let callback = s
        .get(&format!("/-/cds/jobs/pollJob(ID='{job}')"))
        .await?
        .json()["callback"]
        .clone();
    ensure!(callback["status"] == "DELIVERED", "{callback}");
    let history = callback["history"].as_array().cloned().unwrap_or_default();
    ensure!(
        history.len() == registry.received().len(),
        "every attempt is recorded: {callback}"
    );
    ensure!(history.len() > refused && refused >= 2, "{callback}");
    ensure!(
        history.iter().rev().skip(1).all(|a| a["httpStatus"] == 503),
        "{callback}"
    );
    ensure!(
        history.last().is_some_and(|a| a["httpStatus"] == 200),
        "{callback}"
    );
    s.stop().await?;
    stop_doubles(&tokens, &registry);
    Ok(())
}

both_modes!(
    callback_paths_off_the_registry_are_refused_and_nothing_is_enqueued,
    ssrf
);
async fn ssrf(mode: Mode) -> anyhow::Result<()> {
    let (tokens, registry, s) = setup(mode, &[]).await?;
    let elsewhere = "http://127.0.0.1:1/steal";
    for (header, value) in [
        ("status_callback", "//evil.example/x"),
        ("status_callback", "http://evil.example/x"),
        ("status_callback", "/\\evil.example/x"),
        ("status_callback", "\\\\evil.example\\x"),
        ("status_callback", "/x@evil.example"),
        ("status_callback", "@evil.example/x"),
        ("status_callback", ":1/x"),
        ("status_callback", "/x#y"),
        ("mtx_status_callback", elsewhere),
        ("mtx_status_callback", "http://user:pw@127.0.0.1:1/x"),
        ("mtx_status_callback", "file:///etc/passwd"),
    ] {
        let r = s
            .request(
                Method::PUT,
                &format!("{TENANT}/ssrf"),
                &[(header, value)],
                Some("{}"),
            )
            .await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST,
            "{header}: {value}: {} {}",
            r.status,
            r.text
        );
        ensure!(
            r.error_message().starts_with("Invalid callback path"),
            "{}",
            r.text
        );
        let r = s
            .request(
                Method::DELETE,
                &format!("{TENANT}/ssrf"),
                &[(header, value)],
                None,
            )
            .await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST,
            "DELETE {header}: {value}: {}",
            r.status
        );
        let r = s
            .request(
                Method::POST,
                "/-/cds/saas-provisioning/upgrade",
                &[(header, value)],
                Some(r#"{"tenants":["*"]}"#),
            )
            .await?;
        ensure!(
            r.status == StatusCode::BAD_REQUEST,
            "upgrade {header}: {value}: {}",
            r.status
        );
    }
    ensure!(
        s.get(TENANT).await?.json() == json!([]),
        "a tenant was created"
    );
    ensure!(
        s.get("/-/cds/jobs/Jobs").await?.json() == json!([]),
        "a job was recorded"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(
        registry.received().is_empty() && tokens.token_requests() == 0,
        "something was sent"
    );
    s.stop().await?;
    stop_doubles(&tokens, &registry);
    Ok(())
}

both_modes!(
    callbacks_are_ignored_without_registry_credentials,
    no_registry
);
async fn no_registry(mode: Mode) -> anyhow::Result<()> {
    let s = TestServer::start(mode, &[]).await?;
    let r = s
        .request(
            Method::PUT,
            &format!("{TENANT}/plain"),
            &[("status_callback", "//evil.example/x")],
            Some("{}"),
        )
        .await?;
    // As cds-mtxs: without credentials the header means nothing and the call is synchronous.
    ensure!(r.status == StatusCode::OK, "{} {}", r.status, r.text);
    s.stop().await
}
